"""A format file's item as an import chunk stores it: the manifest entry's plain JSON shape
(manifest_entries.image_of reads both), with the problems the console finds in any labeled item."""

from __future__ import annotations

from .. import rules
from ..errors import MESSAGES, ErrorCode
from ..formats.records import NORMALISED_SCALE, ReadItem


def _message(code: ErrorCode) -> list[str]:
    return [code, MESSAGES[code]]


def item_of(n: int, read: ReadItem, *, bucket: str, key: str) -> dict:
    """What a chunk needs of one item, in plain JSON. Boxes in an image's pixels are rounded to
    whole pixels; normalised ones (YOLO) stay in NORMALISED_SCALE units, to be scaled to the size
    the image's header gives. A box with a problem keeps it and is not imported."""
    errors = []
    labels = []
    for label in read.labels:
        if len(label) > rules.MAX_LABEL_LENGTH:
            errors.append(_message(ErrorCode.ERROR_INVALID_LABEL_NAME_LENGTH))
        elif label not in labels:
            labels.append(label)
    if len(read.boxes) > rules.MAX_BOXES_PER_IMAGE:
        errors.append(_message(ErrorCode.ERROR_TOO_MANY_BOUNDING_BOXES))
    normalised = read.size == (NORMALISED_SCALE, NORMALISED_SCALE)
    boxes = []
    for index, box in enumerate(read.boxes):
        problems = [list(problem) for problem in read.box_errors.get(index, ())]
        left, top, width, height = box.left, box.top, box.width, box.height
        if not normalised:
            x0, y0 = round(left), round(top)
            left, top, width, height = max(0, x0), max(0, y0), round(left + width) - x0, round(top + height) - y0
            if not problems and (width <= 1 or height <= 1):
                problems.append(_message(ErrorCode.ERROR_BOUNDING_BOX_TOO_SMALL))
        if not problems and len(box.label) > rules.MAX_LABEL_LENGTH:
            problems.append(_message(ErrorCode.ERROR_INVALID_LABEL_NAME_LENGTH))
        boxes.append([box.label, left, top, width, height, problems])
    return {
        "line": n,
        "ref": read.ref,
        "bucket": bucket,
        "key": key,
        "labels": labels,
        "boxes": boxes,
        "size": list(read.size) if read.size else None,
        "errors": errors,
        "warnings": [],
        "valid": not errors and not any(box[5] for box in boxes),
    }
