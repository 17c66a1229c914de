"""SageMaker Ground Truth manifest lines (spec §5): parse one line, check a file as it streams, write a line.

Pure: plain values in and out, no Django, no S3, no clock. A line is parsed on its own, so an
import can stream a manifest of any size; `ManifestValidator` keeps the little state the file rules
need (line count, the bucket, the labels, the source-refs seen, the 20% rule).

Where a problem ends up:
- `Dropped`: the terminal content errors of §5.5 B. The console silently removes these lines.
- `ManifestEntry.errors`: the non-terminal errors of §5.5 D. Codes in LINE_ERROR_CODES keep the
  whole line out of training (`is_valid` is false). The other codes (unsupported type, label name
  too long, no valid annotations) invalidate one label attribute, and the line is still used when
  another attribute gives a label or a box.
- `ManifestBox.errors`: annotation errors. The box is reported but unusable; the rest of the line stands.
- `ManifestEntry.warnings`: valid but ignored lines, which don't count towards the 20% rule.
- `FileVerdict.error`: the terminal file errors of §5.5 A and C.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from .rules import ERROR_INVALID_LABEL_NAME_LENGTH, MAX_LABEL_LENGTH

MAX_LINE_LENGTH = 100_000  # characters, without the line break
MAX_LINES = 250_000
MAX_LABELS = 250
MAX_MANIFEST_BYTES = 1024**3
MAX_BOXES_PER_IMAGE = 50  # as in datasets.labeling, which imports Django and so can't be imported here
MAX_INVALID_PERCENT = 20
RESIZE_LONGEST_SIDE = 1280  # the service shrinks larger images to this before it measures boxes
MAX_KEY_BYTES = 1024  # the longest S3 object key

CLASSIFICATION = "groundtruth/image-classification"
DETECTION = "groundtruth/object-detection"
DETECTION_ATTRIBUTE = "bounding-box"
METADATA_SUFFIX = "-metadata"
# Keys the service adds to a line. They are never label attributes, and neither is "cl", whose
# "-metadata" key would be the service's own.
SERVICE_KEYS = frozenset({"source-ref", "cl-metadata", "cl-errors", "errors", "warnings"})

# Our codes for two lines of list B that the docs give no code for. Not console codes.
ERROR_JSON_LINE_TOO_LONG = "ERROR_JSON_LINE_TOO_LONG"
ERROR_DUPLICATE_SOURCE_REF = "ERROR_DUPLICATE_SOURCE_REF"
ERROR_MISSING_SOURCE_REF = "ERROR_MISSING_SOURCE_REF"
ERROR_INVALID_SOURCE_REF_FORMAT = "ERROR_INVALID_SOURCE_REF_FORMAT"
ERROR_INVALID_JSON_LINE = "ERROR_INVALID_JSON_LINE"
ERROR_NO_LABEL_ATTRIBUTES = "ERROR_NO_LABEL_ATTRIBUTES"
ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT = "ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT"
ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT = "ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT"
ERROR_NO_VALID_LABEL_ATTRIBUTES = "ERROR_NO_VALID_LABEL_ATTRIBUTES"
ERROR_MISSING_BOUNDING_BOX_CONFIDENCE = "ERROR_MISSING_BOUNDING_BOX_CONFIDENCE"
ERROR_MISSING_CLASS_MAP_ID = "ERROR_MISSING_CLASS_MAP_ID"
ERROR_INVALID_BOUNDING_BOX = "ERROR_INVALID_BOUNDING_BOX"
ERROR_BOUNDING_BOX_TOO_SMALL = "ERROR_BOUNDING_BOX_TOO_SMALL"
ERROR_TOO_MANY_BOUNDING_BOXES = "ERROR_TOO_MANY_BOUNDING_BOXES"
ERROR_NO_VALID_ANNOTATIONS = "ERROR_NO_VALID_ANNOTATIONS"
ERROR_UNSUPPORTED_USE_CASE_TYPE = "ERROR_UNSUPPORTED_USE_CASE_TYPE"
WARNING_UNANNOTATED_RECORD = "WARNING_UNANNOTATED_RECORD"
WARNING_NO_ANNOTATIONS = "WARNING_NO_ANNOTATIONS"
WARNING_NO_ATTRIBUTE_ANNOTATIONS = "WARNING_NO_ATTRIBUTE_ANNOTATIONS"
ERROR_EMPTY_MANIFEST = "ERROR_EMPTY_MANIFEST"
ERROR_MANIFEST_SIZE_TOO_LARGE = "ERROR_MANIFEST_SIZE_TOO_LARGE"
ERROR_MANIFEST_ROWS_EXCEEDS_MAXIMUM = "ERROR_MANIFEST_ROWS_EXCEEDS_MAXIMUM"
ERROR_MANIFEST_TOO_MANY_LABELS = "ERROR_MANIFEST_TOO_MANY_LABELS"
ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS = "ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS"
ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST = "ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST"

# The messages of spec §5.5, word for word; "{}" is the label attribute's name. The docs give none
# for the length and duplicate lines (list B's wording is used) nor for the label name length.
MESSAGES = {
    ERROR_JSON_LINE_TOO_LONG: "The length of a JSON line is too long. The maximum length is 100,000 characters.",
    ERROR_DUPLICATE_SOURCE_REF: (
        "The value of a source-ref field appears more than once. An image can only be referenced once in a dataset."
    ),
    ERROR_MISSING_SOURCE_REF: "The source-ref key is missing.",
    ERROR_INVALID_SOURCE_REF_FORMAT: "The format of the source-ref value is invalid.",
    ERROR_INVALID_JSON_LINE: "The JSON Line has an invalid format.",
    ERROR_NO_LABEL_ATTRIBUTES: "No label attributes found.",
    ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT: "The format of the label attribute {} is invalid.",
    ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT: "The format of the label attribute metadata is invalid.",
    ERROR_NO_VALID_LABEL_ATTRIBUTES: "No valid label attributes found.",
    ERROR_MISSING_BOUNDING_BOX_CONFIDENCE: "One or more bounding boxes has a missing confidence value.",
    ERROR_MISSING_CLASS_MAP_ID: "One of more class ids is missing from the class map.",
    ERROR_INVALID_BOUNDING_BOX: "The bounding box has off frame values.",
    ERROR_BOUNDING_BOX_TOO_SMALL: "The height and width of the bounding box is too small.",
    ERROR_TOO_MANY_BOUNDING_BOXES: "There are more bounding boxes than the allowed maximum.",
    ERROR_NO_VALID_ANNOTATIONS: "No valid annotations found.",
    ERROR_UNSUPPORTED_USE_CASE_TYPE: (
        "The use case type of the {}-metadata label attribute metadata is unsupported. Check the type field."
    ),
    ERROR_INVALID_LABEL_NAME_LENGTH: f"The label name is too long. The maximum length is {MAX_LABEL_LENGTH} characters.",
    WARNING_UNANNOTATED_RECORD: "Record is unannotated.",
    WARNING_NO_ANNOTATIONS: "No annotations were found.",
    WARNING_NO_ATTRIBUTE_ANNOTATIONS: "No attribute annotations were found.",
    ERROR_EMPTY_MANIFEST: "The manifest file is empty.",
    ERROR_MANIFEST_SIZE_TOO_LARGE: "The manifest file size exceeds the maximum supported size.",
    ERROR_MANIFEST_ROWS_EXCEEDS_MAXIMUM: "The manifest file has too many rows.",
    ERROR_MANIFEST_TOO_MANY_LABELS: "The manifest file has too many labels.",
    ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS: "The manifest file contains images from multiple S3 buckets.",
    ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST: "The manifest file contains too many invalid rows.",
}

# The errors that stop a line's validation, in the order of precedence of §5.5 (the three before
# them in that list drop the line here).
STOPPING_ERROR_CODES = (
    ERROR_NO_LABEL_ATTRIBUTES,
    ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT,
    ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT,
    ERROR_MISSING_BOUNDING_BOX_CONFIDENCE,
    ERROR_MISSING_CLASS_MAP_ID,
)
# The errors that keep the whole line out of training; any other error spoils one attribute or box.
LINE_ERROR_CODES = frozenset({*STOPPING_ERROR_CODES, ERROR_NO_VALID_LABEL_ATTRIBUTES, ERROR_TOO_MANY_BOUNDING_BOXES})


@dataclass(frozen=True)
class EntryError:
    code: str
    message: str


@dataclass(frozen=True)
class ManifestBox:
    """A bounding box in image pixels, origin top left. A box with errors is reported, not usable."""

    label: str
    left: int
    top: int
    width: int
    height: int
    errors: tuple[EntryError, ...] = ()


@dataclass(frozen=True)
class ManifestEntry:
    """One image of the manifest. `labels` are its image-level labels, in line order, each once."""

    source_ref: str
    bucket: str
    key: str
    labels: tuple[str, ...]
    boxes: tuple[ManifestBox, ...]
    image_size: tuple[int, int] | None  # (width, height) of the first bounding-box attribute
    errors: tuple[EntryError, ...]
    warnings: tuple[EntryError, ...]

    @property
    def is_valid(self) -> bool:
        """False when an error keeps the whole line out of training (it counts for the 20% rule)."""
        return not any(error.code in LINE_ERROR_CODES for error in self.errors)

    @property
    def usable_boxes(self) -> tuple[ManifestBox, ...]:
        return tuple(box for box in self.boxes if not box.errors)

    @property
    def all_labels(self) -> tuple[str, ...]:
        """The image-level labels, then the labels of the usable boxes, each once."""
        return tuple(dict.fromkeys([*self.labels, *(box.label for box in self.usable_boxes)]))

    @property
    def is_ignored(self) -> bool:
        """Valid, but with nothing to train on (the warnings say why)."""
        return self.is_valid and not self.labels and not self.usable_boxes


@dataclass(frozen=True)
class Dropped:
    """A line the console silently removes (§5.5 B)."""

    reason_code: str
    message: str


@dataclass(frozen=True)
class Blank:
    """An empty or whitespace-only line. It still counts as a dataset object, and as an invalid one."""


def _error(code: str, name: str | None = None) -> EntryError:
    message = MESSAGES[code]
    return EntryError(code, message.format(name) if name is not None else message)


def _dropped(code: str) -> Dropped:
    return Dropped(code, MESSAGES[code])


# --- parsing -------------------------------------------------------------------------------

_JSON_WHITESPACE = " \t\r\n"
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: object) -> bool:
    """A string S3 and PostgreSQL can store: valid UTF-8 (no lone surrogates) and no NUL."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def source_ref_parse(value: object) -> tuple[str, str] | None:
    """(bucket, key) of an `s3://bucket/key` source-ref, or None when its format is invalid.

    The bucket follows today's S3 naming rules; the key is taken verbatim (no percent-decoding),
    must be non-empty and at most 1024 bytes of UTF-8.
    """
    if not _is_text(value) or not value.startswith("s3://"):
        return None
    bucket, slash, key = value[len("s3://") :].partition("/")
    if not key or not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        return None
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return None
    return bucket, key


def _label_attributes(line: dict) -> list[str]:
    """The keys that have a `-metadata` object, in line order."""
    return [
        key
        for key in line
        if key not in SERVICE_KEYS
        and not key.endswith(METADATA_SUFFIX)
        and key + METADATA_SUFFIX not in SERVICE_KEYS
        and isinstance(line.get(key + METADATA_SUFFIX), dict)
    ]


def _confidence_ok(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def _label_name_ok(value: object) -> bool:
    """Length is checked on its own (ERROR_INVALID_LABEL_NAME_LENGTH); this is the format."""
    return _is_text(value) and value != ""


def _common_metadata_ok(metadata: dict) -> bool:
    if metadata.get("human-annotated") not in ("yes", "no"):
        return False
    if "job-name" in metadata and not isinstance(metadata["job-name"], str):
        return False
    created = metadata.get("creation-date")
    if not isinstance(created, str):
        return False
    try:
        datetime.fromisoformat(created)
    except (ValueError, OverflowError):
        return False
    return True


def _detection_annotations(value: object) -> list[dict] | None:
    """The annotations of a bounding-box attribute (a missing list is an empty one), or None if malformed."""
    if not isinstance(value, dict):
        return None
    sizes = value.get("image_size")
    if not (isinstance(sizes, list) and len(sizes) == 1 and isinstance(sizes[0], dict)):
        return None
    if not all(_is_int(sizes[0].get(side)) and sizes[0][side] > 0 for side in ("width", "height", "depth")):
        return None
    annotations = value.get("annotations", [])
    if not isinstance(annotations, list):
        return None
    for annotation in annotations:
        if not isinstance(annotation, dict):
            return None
        if not all(_is_int(annotation.get(f)) for f in ("class_id", "left", "top", "width", "height")):
            return None
    return annotations


def _schema_error(name: str, value: object, metadata: dict) -> EntryError | None:
    """The first error of STOPPING_ERROR_CODES the attribute has, or None.

    Unsupported use-case types pass here: they don't stop the line's validation.
    """
    use_case = metadata.get("type")
    if not isinstance(use_case, str):
        return _error(ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT)
    if use_case == CLASSIFICATION:
        # "The field value ... can be any integer value."
        if not _is_int(value):
            return _error(ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT, name)
        if not (
            _common_metadata_ok(metadata)
            and _confidence_ok(metadata.get("confidence"))
            and _label_name_ok(metadata.get("class-name"))
        ):
            return _error(ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT)
    elif use_case == DETECTION:
        annotations = _detection_annotations(value)
        if annotations is None:
            return _error(ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT, name)
        objects, class_map = metadata.get("objects"), metadata.get("class-map")
        if not (
            _common_metadata_ok(metadata)
            and isinstance(objects, list)
            and all(isinstance(o, dict) and ("confidence" not in o or _confidence_ok(o["confidence"])) for o in objects)
            and isinstance(class_map, dict)
            and all(_label_name_ok(label) for label in class_map.values())
        ):
            return _error(ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT)
        if len(objects) != len(annotations) or any("confidence" not in o for o in objects):
            return _error(ERROR_MISSING_BOUNDING_BOX_CONFIDENCE)
        if any(str(a["class_id"]) not in class_map for a in annotations):
            return _error(ERROR_MISSING_CLASS_MAP_ID)
    return None


def box_too_small(*, width: int, height: int, image_width: int, image_height: int) -> bool:
    """Whether a box is 1 px or less on a side once the service has shrunk the image (§4).

    Images with a side over 1280 px are scaled by 1280/longest side; integer arithmetic keeps the
    boundary exact.
    """
    longest = max(image_width, image_height)
    if longest > RESIZE_LONGEST_SIDE:
        return width * RESIZE_LONGEST_SIDE <= longest or height * RESIZE_LONGEST_SIDE <= longest
    return width <= 1 or height <= 1


def _box(annotation: dict, label: str, image_width: int, image_height: int) -> ManifestBox:
    """One annotation as a box, with its first error, if any."""
    left, top, width, height = (annotation[f] for f in ("left", "top", "width", "height"))
    if len(label) > MAX_LABEL_LENGTH:
        code = ERROR_INVALID_LABEL_NAME_LENGTH
    elif min(left, top, width, height) < 0 or left + width > image_width or top + height > image_height:
        code = ERROR_INVALID_BOUNDING_BOX
    elif box_too_small(width=width, height=height, image_width=image_width, image_height=image_height):
        code = ERROR_BOUNDING_BOX_TOO_SMALL
    else:
        return ManifestBox(label, left, top, width, height)
    return ManifestBox(label, left, top, width, height, (_error(code),))


def _is_marked_unlabeled(line: dict) -> bool:
    """The console's own mark of an image nobody labeled: `cl-metadata` or a WARNING_UNANNOTATED_RECORD."""
    cl_metadata = line.get("cl-metadata")
    if isinstance(cl_metadata, dict) and cl_metadata.get("is_labeled") is False:
        return True
    warnings = line.get("warnings")
    return isinstance(warnings, list) and any(
        isinstance(w, dict) and w.get("code") == WARNING_UNANNOTATED_RECORD for w in warnings
    )


def parse_line(line: str) -> ManifestEntry | Dropped | Blank:
    """Read one manifest line. Never raises: every string gives an entry, a Dropped or a Blank.

    `line` may end with its line break. Several label attributes on a line are all read, in line
    order. Errors of the precedence list stop the line's validation: such an entry has that one
    error and no labels or boxes. Boxes with errors are kept (and reported) on the entry; so are
    all boxes of an image with more than 50, so that someone can choose which ones to delete.
    """
    text = line.removesuffix("\n").removesuffix("\r")
    if not text.strip(_JSON_WHITESPACE):
        return Blank()
    if len(text) > MAX_LINE_LENGTH:
        return _dropped(ERROR_JSON_LINE_TOO_LONG)
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _dropped(ERROR_INVALID_JSON_LINE)
    if not isinstance(obj, dict):
        return _dropped(ERROR_INVALID_JSON_LINE)
    if "source-ref" not in obj:
        return _dropped(ERROR_MISSING_SOURCE_REF)
    location = source_ref_parse(obj["source-ref"])
    if location is None:
        return _dropped(ERROR_INVALID_SOURCE_REF_FORMAT)
    source_ref = obj["source-ref"]
    bucket, key = location

    def entry(
        labels: Iterable[str] = (),
        boxes: Iterable[ManifestBox] = (),
        image_size: tuple[int, int] | None = None,
        errors: Iterable[EntryError] = (),
        warnings: Iterable[EntryError] = (),
    ) -> ManifestEntry:
        return ManifestEntry(
            source_ref,
            bucket,
            key,
            tuple(dict.fromkeys(labels)),
            tuple(boxes),
            image_size,
            tuple(dict.fromkeys(errors)),
            tuple(dict.fromkeys(warnings)),
        )

    attributes = _label_attributes(obj)
    if not attributes:
        if _is_marked_unlabeled(obj):
            return entry(warnings=[_error(WARNING_UNANNOTATED_RECORD)])
        return entry(errors=[_error(ERROR_NO_LABEL_ATTRIBUTES)])
    stops = [e for name in attributes if (e := _schema_error(name, obj[name], obj[name + METADATA_SUFFIX]))]
    if stops:
        return entry(errors=[min(stops, key=lambda e: STOPPING_ERROR_CODES.index(e.code))])

    labels: list[str] = []
    boxes: list[ManifestBox] = []
    errors: list[EntryError] = []
    warnings: list[EntryError] = []
    image_size: tuple[int, int] | None = None
    for name in attributes:
        value, metadata = obj[name], obj[name + METADATA_SUFFIX]
        if metadata["type"] == CLASSIFICATION:
            label = metadata["class-name"]
            if len(label) > MAX_LABEL_LENGTH:
                errors.append(_error(ERROR_INVALID_LABEL_NAME_LENGTH))
            else:
                labels.append(label)
        elif metadata["type"] == DETECTION:
            size = value["image_size"][0]
            image_size = image_size or (size["width"], size["height"])
            annotations = value.get("annotations", [])
            if not annotations:
                warnings.append(_error(WARNING_NO_ATTRIBUTE_ANNOTATIONS))
                continue
            class_map = metadata["class-map"]
            found = [_box(a, class_map[str(a["class_id"])], size["width"], size["height"]) for a in annotations]
            if any(box.errors[0].code == ERROR_INVALID_LABEL_NAME_LENGTH for box in found if box.errors):
                errors.append(_error(ERROR_INVALID_LABEL_NAME_LENGTH))
            if all(box.errors for box in found):
                errors.append(_error(ERROR_NO_VALID_ANNOTATIONS))
            boxes.extend(found)
        else:
            errors.append(_error(ERROR_UNSUPPORTED_USE_CASE_TYPE, name))
    usable_boxes = [box for box in boxes if not box.errors]
    # Only usable boxes count: the others can't be stored, so they don't make an image crowded.
    if len(usable_boxes) > MAX_BOXES_PER_IMAGE:
        errors.append(_error(ERROR_TOO_MANY_BOUNDING_BOXES))
    if not labels and not usable_boxes:
        if errors:
            errors.append(_error(ERROR_NO_VALID_LABEL_ATTRIBUTES))
        else:
            warnings.append(_error(WARNING_NO_ANNOTATIONS))
    return entry(labels, boxes, image_size, errors, warnings)


# --- the file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileVerdict:
    """The outcome of a whole manifest. total_lines = valid_entries + ignored_entries + invalid_lines."""

    error: EntryError | None  # the terminal file error, if any
    total_lines: int
    valid_entries: int
    ignored_entries: int  # valid lines with nothing to train on (warnings only)
    invalid_lines: int  # blank, dropped, and entries that are not `is_valid`
    dropped: dict[str, int]  # reason code → lines
    labels: tuple[str, ...]  # every label of the entries, in the order first seen
    bucket: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


class ManifestValidator:
    """The file-level rules of §5.4/§5.5, one line at a time.

    Feed every line of the file in order (a final line break does not start another line), then
    call finish(). `error` holds the first terminal file error as soon as one is known, so an
    import can stop reading; feeding more lines never raises and never replaces it.
    """

    def __init__(self, *, size_bytes: int):
        self.error: EntryError | None = None
        self.total_lines = 0
        self.valid_entries = 0
        self.ignored_entries = 0
        self.invalid_lines = 0
        self.dropped: dict[str, int] = {}
        self.bucket: str | None = None
        self._labels: dict[str, None] = {}
        self._source_refs: set[str] = set()
        if size_bytes > MAX_MANIFEST_BYTES:
            self._fail(ERROR_MANIFEST_SIZE_TOO_LARGE)

    def _fail(self, code: str) -> None:
        if self.error is None:
            self.error = _error(code)

    def feed(self, line: str) -> ManifestEntry | Dropped | Blank:
        """Parse the next line and count it. A source-ref seen before gives a Dropped."""
        self.total_lines += 1
        if self.total_lines > MAX_LINES:
            self._fail(ERROR_MANIFEST_ROWS_EXCEEDS_MAXIMUM)
        result = parse_line(line)
        if isinstance(result, ManifestEntry) and result.source_ref in self._source_refs:
            result = _dropped(ERROR_DUPLICATE_SOURCE_REF)
        if isinstance(result, Dropped):
            self.dropped[result.reason_code] = self.dropped.get(result.reason_code, 0) + 1
            self.invalid_lines += 1
        elif isinstance(result, Blank):
            self.invalid_lines += 1
        else:
            self._source_refs.add(result.source_ref)
            if self.bucket is None:
                self.bucket = result.bucket
            elif result.bucket != self.bucket:
                self._fail(ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS)
            self._labels.update(dict.fromkeys(result.all_labels))
            if len(self._labels) > MAX_LABELS:
                self._fail(ERROR_MANIFEST_TOO_MANY_LABELS)
            if not result.is_valid:
                self.invalid_lines += 1
            elif result.is_ignored:
                self.ignored_entries += 1
            else:
                self.valid_entries += 1
        return result

    def finish(self) -> FileVerdict:
        error = self.error
        if error is None and self.total_lines == 0:
            error = _error(ERROR_EMPTY_MANIFEST)
        # "More than 20%": exactly a fifth of the lines invalid is still accepted.
        if error is None and self.invalid_lines * 100 > self.total_lines * MAX_INVALID_PERCENT:
            error = _error(ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST)
        return FileVerdict(
            error=error,
            total_lines=self.total_lines,
            valid_entries=self.valid_entries,
            ignored_entries=self.ignored_entries,
            invalid_lines=self.invalid_lines,
            dropped=dict(self.dropped),
            labels=tuple(self._labels),
            bucket=self.bucket,
        )


# --- writing -------------------------------------------------------------------------------

# Characters str.splitlines() breaks on that json.dumps leaves unescaped; escaped, a line stays one line.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}
_RESERVED_ATTRIBUTES = SERVICE_KEYS | {"cl", DETECTION_ATTRIBUTE}


def _attribute_safe(name: str) -> bool:
    return name not in _RESERVED_ATTRIBUTES and not name.endswith(METADATA_SUFFIX)


def attribute_names(labels: list[str]) -> list[str]:
    """The classification attribute for each label: the label itself, as the console writes it.

    A label that can't be an attribute name (a service key, "bounding-box", "cl", or a name
    ending in "-metadata", which would read as another attribute's metadata) gets the first free
    "label-<n>"; class-name still carries the real name.
    """
    taken = {label for label in labels if _attribute_safe(label)}
    names = []
    n = 0
    for label in labels:
        if _attribute_safe(label):
            names.append(label)
            continue
        while f"label-{n}" in taken:
            n += 1
        taken.add(f"label-{n}")
        names.append(f"label-{n}")
    return names


def _errors_json(errors: Iterable[EntryError]) -> list[dict[str, str]]:
    return [{"code": e.code, "message": e.message} for e in errors]


def _creation_date(moment: datetime) -> str:
    """UTC with milliseconds, as in the console's entries ("2021-07-11T03:32:13.456Z"); naive means UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def write_line(
    *,
    source_ref: str,
    labels: Iterable[str] = (),
    boxes: Iterable[ManifestBox] = (),
    image_size: tuple[int, int] | None = None,
    errors: Iterable[EntryError] = (),
    creation_date: datetime,
) -> str:
    """One manifest line for an image, as the console exports it (§5.2, §5.3, §5.6), without a line break.

    One classification attribute per image-level label (see attribute_names), then one
    "bounding-box" attribute holding every box, `cl-metadata` and `cl-errors` (image errors; box
    errors go on their annotation). Keys come in a fixed order. Raises ValueError for boxes
    without an image size, which the bounding-box attribute requires.
    """
    label_list = list(dict.fromkeys(labels))
    box_list = list(boxes)
    image_errors = _errors_json(errors)
    when = _creation_date(creation_date)
    line: dict[str, object] = {"source-ref": source_ref}
    for label, name in zip(label_list, attribute_names(label_list), strict=True):
        line[name] = 1
        line[name + METADATA_SUFFIX] = {
            "confidence": 1,
            "job-name": f"labeling-job/{name}",
            "class-name": label,
            "human-annotated": "yes",
            "creation-date": when,
            "type": CLASSIFICATION,
        }
    if box_list:
        if image_size is None:
            raise ValueError("Bounding boxes need the image's width and height.")
        class_ids: dict[str, int] = {}
        for box in box_list:
            class_ids.setdefault(box.label, len(class_ids))
        annotations = []
        for box in box_list:
            annotation: dict[str, object] = {
                "left": box.left,
                "top": box.top,
                "width": box.width,
                "height": box.height,
                "class_id": class_ids[box.label],
            }
            if box.errors:
                annotation["cl-errors"] = _errors_json(box.errors)
            annotations.append(annotation)
        width, height = image_size
        line[DETECTION_ATTRIBUTE] = {
            "annotations": annotations,
            "image_size": [{"width": width, "height": height, "depth": 3}],
        }
        line[DETECTION_ATTRIBUTE + METADATA_SUFFIX] = {
            "job-name": f"labeling-job/{DETECTION_ATTRIBUTE}",
            "class-map": {str(class_id): label for label, class_id in class_ids.items()},
            "human-annotated": "yes",
            "objects": [{"confidence": 1} for _ in box_list],
            "creation-date": when,
            "type": DETECTION,
        }
    line["cl-metadata"] = {"is_labeled": bool(label_list or box_list)}
    if image_errors:
        line["cl-errors"] = image_errors
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).translate(_LINE_BREAKS)
