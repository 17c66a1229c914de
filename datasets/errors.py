"""The console's refusals: DatasetError for the user, ErrorCode for every code we store or answer,
and the manifest codes' messages.

Pure: no Django, so the formats can use it. An ErrorCode is a str, so it compares equal
to the code as stored in the database and written in manifests.
"""

from enum import StrEnum

from .rules import MAX_LABEL_LENGTH


class DatasetError(Exception):
    """A refused dataset operation; str() is the message for the user, `field` the form field."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class ErrorCode(StrEnum):
    """Every error and warning code of the console (spec §4, §5.5), and our own few."""

    # A manifest line the console drops (§5.5 B). The docs give no code for the first two.
    ERROR_JSON_LINE_TOO_LONG = "ERROR_JSON_LINE_TOO_LONG"
    ERROR_DUPLICATE_SOURCE_REF = "ERROR_DUPLICATE_SOURCE_REF"
    ERROR_MISSING_SOURCE_REF = "ERROR_MISSING_SOURCE_REF"
    ERROR_INVALID_SOURCE_REF_FORMAT = "ERROR_INVALID_SOURCE_REF_FORMAT"
    ERROR_INVALID_JSON_LINE = "ERROR_INVALID_JSON_LINE"
    # An entry's errors (§5.5 D).
    ERROR_NO_LABEL_ATTRIBUTES = "ERROR_NO_LABEL_ATTRIBUTES"
    ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT = "ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT"
    ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT = "ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT"
    ERROR_NO_VALID_LABEL_ATTRIBUTES = "ERROR_NO_VALID_LABEL_ATTRIBUTES"
    ERROR_MISSING_BOUNDING_BOX_CONFIDENCE = "ERROR_MISSING_BOUNDING_BOX_CONFIDENCE"
    ERROR_MISSING_CLASS_MAP_ID = "ERROR_MISSING_CLASS_MAP_ID"
    ERROR_NO_VALID_ANNOTATIONS = "ERROR_NO_VALID_ANNOTATIONS"
    ERROR_UNSUPPORTED_USE_CASE_TYPE = "ERROR_UNSUPPORTED_USE_CASE_TYPE"
    # An image's and its boxes' errors (§4), from any source and from labeling.
    ERROR_INVALID_IMAGE = "ERROR_INVALID_IMAGE"
    ERROR_INVALID_LABEL_NAME_LENGTH = "ERROR_INVALID_LABEL_NAME_LENGTH"
    ERROR_INVALID_BOUNDING_BOX = "ERROR_INVALID_BOUNDING_BOX"
    ERROR_BOUNDING_BOX_TOO_SMALL = "ERROR_BOUNDING_BOX_TOO_SMALL"
    ERROR_TOO_MANY_BOUNDING_BOXES = "ERROR_TOO_MANY_BOUNDING_BOXES"
    # Valid lines with nothing to train on (§5.5 D).
    WARNING_UNANNOTATED_RECORD = "WARNING_UNANNOTATED_RECORD"
    WARNING_NO_ANNOTATIONS = "WARNING_NO_ANNOTATIONS"
    WARNING_NO_ATTRIBUTE_ANNOTATIONS = "WARNING_NO_ATTRIBUTE_ANNOTATIONS"
    # A whole manifest refused (§5.5 A and C).
    ERROR_MANIFEST_INACCESSIBLE_OR_UNSUPPORTED_FORMAT = "ERROR_MANIFEST_INACCESSIBLE_OR_UNSUPPORTED_FORMAT"
    ERROR_EMPTY_MANIFEST = "ERROR_EMPTY_MANIFEST"
    ERROR_MANIFEST_SIZE_TOO_LARGE = "ERROR_MANIFEST_SIZE_TOO_LARGE"
    ERROR_MANIFEST_ROWS_EXCEEDS_MAXIMUM = "ERROR_MANIFEST_ROWS_EXCEEDS_MAXIMUM"
    ERROR_MANIFEST_TOO_MANY_LABELS = "ERROR_MANIFEST_TOO_MANY_LABELS"
    ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS = "ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS"
    ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST = "ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST"
    # A split refused (the console's split and DistributeDatasetEntries).
    ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE = "ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE"
    # Our own codes for a file refused by the upload; the console's are not documented.
    FILE_NAME_INVALID = "FILE_NAME_INVALID"
    FILE_NAME_DUPLICATE = "FILE_NAME_DUPLICATE"
    STORE_FAILED = "STORE_FAILED"
    # The code Rekognition's API gives a request it refuses as malformed.
    INVALID_PARAMETER = "InvalidParameterException"


# The messages of the manifest codes, word for word as spec §5.5 gives them; "{}" is the label
# attribute's name. The docs give none for the length and duplicate lines (list B's wording is
# used) nor for the label name length. Other codes' sentences say what was wrong with the value.
MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.ERROR_JSON_LINE_TOO_LONG: "The length of a JSON line is too long. The maximum length is 100,000 characters.",
    ErrorCode.ERROR_DUPLICATE_SOURCE_REF: (
        "The value of a source-ref field appears more than once. An image can only be referenced once in a dataset."
    ),
    ErrorCode.ERROR_MISSING_SOURCE_REF: "The source-ref key is missing.",
    ErrorCode.ERROR_INVALID_SOURCE_REF_FORMAT: "The format of the source-ref value is invalid.",
    ErrorCode.ERROR_INVALID_JSON_LINE: "The JSON Line has an invalid format.",
    ErrorCode.ERROR_NO_LABEL_ATTRIBUTES: "No label attributes found.",
    ErrorCode.ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT: "The format of the label attribute {} is invalid.",
    ErrorCode.ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT: "The format of the label attribute metadata is invalid.",
    ErrorCode.ERROR_NO_VALID_LABEL_ATTRIBUTES: "No valid label attributes found.",
    ErrorCode.ERROR_MISSING_BOUNDING_BOX_CONFIDENCE: "One or more bounding boxes has a missing confidence value.",
    ErrorCode.ERROR_MISSING_CLASS_MAP_ID: "One of more class ids is missing from the class map.",
    ErrorCode.ERROR_INVALID_BOUNDING_BOX: "The bounding box has off frame values.",
    ErrorCode.ERROR_BOUNDING_BOX_TOO_SMALL: "The height and width of the bounding box is too small.",
    ErrorCode.ERROR_TOO_MANY_BOUNDING_BOXES: "There are more bounding boxes than the allowed maximum.",
    ErrorCode.ERROR_NO_VALID_ANNOTATIONS: "No valid annotations found.",
    ErrorCode.ERROR_UNSUPPORTED_USE_CASE_TYPE: (
        "The use case type of the {}-metadata label attribute metadata is unsupported. Check the type field."
    ),
    ErrorCode.ERROR_INVALID_LABEL_NAME_LENGTH: f"The label name is too long. The maximum length is {MAX_LABEL_LENGTH} characters.",
    ErrorCode.WARNING_UNANNOTATED_RECORD: "Record is unannotated.",
    ErrorCode.WARNING_NO_ANNOTATIONS: "No annotations were found.",
    ErrorCode.WARNING_NO_ATTRIBUTE_ANNOTATIONS: "No attribute annotations were found.",
    ErrorCode.ERROR_EMPTY_MANIFEST: "The manifest file is empty.",
    ErrorCode.ERROR_MANIFEST_SIZE_TOO_LARGE: "The manifest file size exceeds the maximum supported size.",
    ErrorCode.ERROR_MANIFEST_ROWS_EXCEEDS_MAXIMUM: "The manifest file has too many rows.",
    ErrorCode.ERROR_MANIFEST_TOO_MANY_LABELS: "The manifest file has too many labels.",
    ErrorCode.ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS: "The manifest file contains images from multiple S3 buckets.",
    ErrorCode.ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST: "The manifest file contains too many invalid rows.",
}
