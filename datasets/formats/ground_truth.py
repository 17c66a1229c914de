"""SageMaker Ground Truth manifest lines (spec §5): parse one line into an entry.

Pure: plain values in and out, no Django, no S3, no clock. A line is parsed on its own, so an
import can stream a manifest of any size; `ground_truth_file.ManifestValidator` keeps the little
state the file rules need, and `ground_truth_writer.write_line` writes a line back.

Where a problem ends up:
- `Dropped`: the terminal content errors of §5.5 B. The console silently removes these lines.
- `ManifestEntry.errors`: the non-terminal errors of §5.5 D. Codes in LINE_ERROR_CODES keep the
  whole line out of training (`is_valid` is false). The other codes (unsupported type, label name
  too long, no valid annotations) invalidate one label attribute, and the line is still used when
  another attribute gives a label or a box.
- `ManifestBox.errors`: annotation errors. The box is reported but unusable; the rest of the line stands.
- `ManifestEntry.warnings`: valid but ignored lines, which don't count towards the 20% rule.
- `FileVerdict.error` (in ground_truth_file): the terminal file errors of §5.5 A and C.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from customlabels.s3_names import MAX_KEY_BYTES, bucket_name_valid

from ..errors import MESSAGES, ErrorCode
from ..rules import MAX_BOXES_PER_IMAGE, MAX_LABEL_LENGTH, box_too_small

MAX_LINE_LENGTH = 100_000  # characters, without the line break

CLASSIFICATION = "groundtruth/image-classification"
DETECTION = "groundtruth/object-detection"
DETECTION_ATTRIBUTE = "bounding-box"
METADATA_SUFFIX = "-metadata"
# Keys the service adds to a line. They are never label attributes, and neither is "cl", whose
# "-metadata" key would be the service's own.
SERVICE_KEYS = frozenset({"source-ref", "cl-metadata", "cl-errors", "errors", "warnings"})

# The errors that stop a line's validation, in the order of precedence of §5.5 (the three before
# them in that list drop the line here).
STOPPING_ERROR_CODES = (
    ErrorCode.ERROR_NO_LABEL_ATTRIBUTES,
    ErrorCode.ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT,
    ErrorCode.ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT,
    ErrorCode.ERROR_MISSING_BOUNDING_BOX_CONFIDENCE,
    ErrorCode.ERROR_MISSING_CLASS_MAP_ID,
)
# The errors that keep the whole line out of training; any other error spoils one attribute or box.
LINE_ERROR_CODES = frozenset(
    {*STOPPING_ERROR_CODES, ErrorCode.ERROR_NO_VALID_LABEL_ATTRIBUTES, ErrorCode.ERROR_TOO_MANY_BOUNDING_BOXES}
)


@dataclass(frozen=True)
class EntryError:
    code: str
    message: str

    @classmethod
    def of(cls, code: str, name: str | None = None) -> EntryError:
        """The error with its message of §5.5; `name` is the label attribute the message names."""
        message = MESSAGES[code]
        return cls(code, message.format(name) if name is not None else message)


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

    @classmethod
    def of(cls, code: str) -> Dropped:
        return cls(code, MESSAGES[code])


@dataclass(frozen=True)
class Blank:
    """An empty or whitespace-only line. It still counts as a dataset object, and as an invalid one."""


# --- parsing -------------------------------------------------------------------------------

_JSON_WHITESPACE = " \t\r\n"


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
    if not key or not bucket_name_valid(bucket):
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
        return EntryError.of(ErrorCode.ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT)
    if use_case == CLASSIFICATION:
        # "The field value ... can be any integer value."
        if not _is_int(value):
            return EntryError.of(ErrorCode.ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT, name)
        if not (
            _common_metadata_ok(metadata)
            and _confidence_ok(metadata.get("confidence"))
            and _label_name_ok(metadata.get("class-name"))
        ):
            return EntryError.of(ErrorCode.ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT)
    elif use_case == DETECTION:
        annotations = _detection_annotations(value)
        if annotations is None:
            return EntryError.of(ErrorCode.ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT, name)
        objects, class_map = metadata.get("objects"), metadata.get("class-map")
        if not (
            _common_metadata_ok(metadata)
            and isinstance(objects, list)
            and all(isinstance(o, dict) and ("confidence" not in o or _confidence_ok(o["confidence"])) for o in objects)
            and isinstance(class_map, dict)
            and all(_label_name_ok(label) for label in class_map.values())
        ):
            return EntryError.of(ErrorCode.ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT)
        if len(objects) != len(annotations) or any("confidence" not in o for o in objects):
            return EntryError.of(ErrorCode.ERROR_MISSING_BOUNDING_BOX_CONFIDENCE)
        if any(str(a["class_id"]) not in class_map for a in annotations):
            return EntryError.of(ErrorCode.ERROR_MISSING_CLASS_MAP_ID)
    return None


def _box(annotation: dict, label: str, image_width: int, image_height: int) -> ManifestBox:
    """One annotation as a box, with its first error, if any."""
    left, top, width, height = (annotation[f] for f in ("left", "top", "width", "height"))
    if len(label) > MAX_LABEL_LENGTH:
        code = ErrorCode.ERROR_INVALID_LABEL_NAME_LENGTH
    elif min(left, top, width, height) < 0 or left + width > image_width or top + height > image_height:
        code = ErrorCode.ERROR_INVALID_BOUNDING_BOX
    elif box_too_small(width=width, height=height, image_width=image_width, image_height=image_height):
        code = ErrorCode.ERROR_BOUNDING_BOX_TOO_SMALL
    else:
        return ManifestBox(label, left, top, width, height)
    return ManifestBox(label, left, top, width, height, (EntryError.of(code),))


def _is_marked_unlabeled(line: dict) -> bool:
    """The console's own mark of an image nobody labeled: `cl-metadata` or a WARNING_UNANNOTATED_RECORD."""
    cl_metadata = line.get("cl-metadata")
    if isinstance(cl_metadata, dict) and cl_metadata.get("is_labeled") is False:
        return True
    warnings = line.get("warnings")
    return isinstance(warnings, list) and any(
        isinstance(w, dict) and w.get("code") == ErrorCode.WARNING_UNANNOTATED_RECORD for w in warnings
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
        return Dropped.of(ErrorCode.ERROR_JSON_LINE_TOO_LONG)
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return Dropped.of(ErrorCode.ERROR_INVALID_JSON_LINE)
    if not isinstance(obj, dict):
        return Dropped.of(ErrorCode.ERROR_INVALID_JSON_LINE)
    if "source-ref" not in obj:
        return Dropped.of(ErrorCode.ERROR_MISSING_SOURCE_REF)
    location = source_ref_parse(obj["source-ref"])
    if location is None:
        return Dropped.of(ErrorCode.ERROR_INVALID_SOURCE_REF_FORMAT)
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
            return entry(warnings=[EntryError.of(ErrorCode.WARNING_UNANNOTATED_RECORD)])
        return entry(errors=[EntryError.of(ErrorCode.ERROR_NO_LABEL_ATTRIBUTES)])
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
                errors.append(EntryError.of(ErrorCode.ERROR_INVALID_LABEL_NAME_LENGTH))
            else:
                labels.append(label)
        elif metadata["type"] == DETECTION:
            size = value["image_size"][0]
            image_size = image_size or (size["width"], size["height"])
            annotations = value.get("annotations", [])
            if not annotations:
                warnings.append(EntryError.of(ErrorCode.WARNING_NO_ATTRIBUTE_ANNOTATIONS))
                continue
            class_map = metadata["class-map"]
            found = [_box(a, class_map[str(a["class_id"])], size["width"], size["height"]) for a in annotations]
            if any(box.errors[0].code == ErrorCode.ERROR_INVALID_LABEL_NAME_LENGTH for box in found if box.errors):
                errors.append(EntryError.of(ErrorCode.ERROR_INVALID_LABEL_NAME_LENGTH))
            if all(box.errors for box in found):
                errors.append(EntryError.of(ErrorCode.ERROR_NO_VALID_ANNOTATIONS))
            boxes.extend(found)
        else:
            errors.append(EntryError.of(ErrorCode.ERROR_UNSUPPORTED_USE_CASE_TYPE, name))
    usable_boxes = [box for box in boxes if not box.errors]
    # Only usable boxes count: the others can't be stored, so they don't make an image crowded.
    if len(usable_boxes) > MAX_BOXES_PER_IMAGE:
        errors.append(EntryError.of(ErrorCode.ERROR_TOO_MANY_BOUNDING_BOXES))
    if not labels and not usable_boxes:
        if errors:
            errors.append(EntryError.of(ErrorCode.ERROR_NO_VALID_LABEL_ATTRIBUTES))
        else:
            warnings.append(EntryError.of(ErrorCode.WARNING_NO_ANNOTATIONS))
    return entry(labels, boxes, image_size, errors, warnings)
