"""Ground Truth manifest lines as the console exports them (spec §5.2, §5.3, §5.6).

Pure, like `ground_truth`; what it writes, `ground_truth.parse_line` reads back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from .ground_truth import (
    CLASSIFICATION,
    DETECTION,
    DETECTION_ATTRIBUTE,
    METADATA_SUFFIX,
    SERVICE_KEYS,
    EntryError,
    ManifestBox,
)

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
