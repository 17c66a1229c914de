"""Ultralytics YOLO detection: `data.yaml`, `labels/<split>/<stem>.txt` and, with the images,
`images/<split>/<name>`; without them each split's images are listed by S3 URI in `<split>.txt`
(the list form of a data.yaml split). Pure.

A label line is `class cx cy w h`, the box's centre and size divided by the image's width and
height (0..1), class ids 0..n-1 in the order of `names`. An image without boxes gets an empty label
file: a negative (background) image. Image-level labels have no place in YOLO detection.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..errors import MESSAGES, ErrorCode
from .records import NORMALISED_SCALE, SPLITS, Box, ExportImage, FormatError, stem_of


def data_yaml(*, classes: list[str], with_images: bool, splits: Iterable[str] = SPLITS) -> bytes:
    """The data.yaml of an export. Strings are written as JSON strings, which YAML reads as they are."""
    lines = ["# Exported by the Custom Labels console", "path: ."]
    for split in splits:
        lines.append(f"{split}: " + (f"images/{split}" if with_images else f"{split}.txt"))
    lines.append(f"nc: {len(classes)}")
    lines.append("names:")
    lines += [f"  {n}: {json.dumps(name, ensure_ascii=False)}" for n, name in enumerate(classes)]
    return ("\n".join(lines) + "\n").encode()


def label_text(image: ExportImage, ids: dict[str, int]) -> str:
    """The label file of one image: a line per box, normalised centre and size with 6 decimals."""
    if not (image.boxes and image.width and image.height):
        return ""
    w, h = image.width, image.height
    return "".join(
        f"{ids[b.label]} {(b.left + b.width / 2) / w:.6f} {(b.top + b.height / 2) / h:.6f} "
        f"{b.width / w:.6f} {b.height / h:.6f}\n"
        for b in image.boxes
    )


def yolo_files(images: Iterable[ExportImage], *, classes: list[str], with_images: bool) -> Iterator[tuple[str, bytes]]:
    """(path, content) of every label file, then the split lists (labels only) and data.yaml."""
    ids = {name: n for n, name in enumerate(classes)}
    lists: dict[str, list[str]] = {split: [] for split in SPLITS}
    for image in images:
        yield f"labels/{image.split}/{stem_of(image.name)}.txt", label_text(image, ids).encode()
        if not with_images:
            lists.setdefault(image.split, []).append(image.ref)
    if not with_images:
        for split, refs in lists.items():
            yield f"{split}.txt", "".join(f"{ref}\n" for ref in refs).encode()
    yield "data.yaml", data_yaml(classes=classes, with_images=with_images, splits=list(lists))


@dataclass(frozen=True)
class YoloData:
    """What a data.yaml says: the class names by id and each split's entry (a folder or a list file)."""

    names: dict[int, str]
    splits: dict[str, str]


def yolo_data_read(document) -> YoloData:
    """Read a parsed data.yaml (a mapping). Raises FormatError when it is not one of YOLO's."""
    if not isinstance(document, dict):
        raise FormatError("The data.yaml file is not a YAML mapping.")
    raw = document.get("names")
    if isinstance(raw, list):
        names = {n: str(name) for n, name in enumerate(raw)}
    elif isinstance(raw, dict) and all(isinstance(k, int) for k in raw):
        names = {k: str(v) for k, v in raw.items()}
    else:
        raise FormatError("The data.yaml file has no “names” list of classes.")
    splits = {}
    # `path` is the dataset's root on the training machine; a relative one is taken from the file's folder.
    root = str(document.get("path") or ".")
    root = "." if root.startswith("/") or "://" in root else root
    for split in ("train", "val", "test"):
        value = document.get(split)
        if isinstance(value, str) and value:
            splits[split] = posixpath.join(root, value)
        elif isinstance(value, list):
            raise FormatError(f"The data.yaml “{split}” entry lists several folders; give one folder or list file.")
    if not splits:
        raise FormatError("The data.yaml file names no train or val images.")
    return YoloData(names=names, splits=splits)


def yolo_labels_read(text: str, *, names: dict[int, str]) -> tuple[list[Box], dict[int, list[tuple[str, str]]]]:
    """The boxes of a label file in units of NORMALISED_SCALE, and the errors per box: a class id
    not in names (ERROR_MISSING_CLASS_MAP_ID), a line that is not five numbers or a box off the
    image (ERROR_INVALID_BOUNDING_BOX)."""
    boxes: list[Box] = []
    errors: dict[int, list[tuple[str, str]]] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        index = len(boxes)
        try:
            class_id, cx, cy, w, h = int(fields[0]), *(float(v) for v in fields[1:5])
            if len(fields) != 5:
                raise ValueError
        except ValueError:
            boxes.append(Box("", 0, 0, 0, 0))
            errors[index] = [
                (ErrorCode.ERROR_INVALID_BOUNDING_BOX, f"Line {line_no} is not “class x_center y_center width height”.")
            ]
            continue
        box = Box(
            names.get(class_id, ""),
            (cx - w / 2) * NORMALISED_SCALE,
            (cy - h / 2) * NORMALISED_SCALE,
            w * NORMALISED_SCALE,
            h * NORMALISED_SCALE,
        )
        boxes.append(box)
        if class_id not in names:
            errors[index] = [
                (
                    ErrorCode.ERROR_MISSING_CLASS_MAP_ID,
                    f"{MESSAGES[ErrorCode.ERROR_MISSING_CLASS_MAP_ID]} Class id {class_id} on line {line_no} "
                    "is not in the data.yaml names.",
                )
            ]
        elif not (
            0 <= cx - w / 2 + 1e-6 and cx + w / 2 <= 1 + 1e-6 and 0 <= cy - h / 2 + 1e-6 and cy + h / 2 <= 1 + 1e-6
        ):
            errors[index] = [(ErrorCode.ERROR_INVALID_BOUNDING_BOX, MESSAGES[ErrorCode.ERROR_INVALID_BOUNDING_BOX])]
        elif w <= 0 or h <= 0:
            errors[index] = [(ErrorCode.ERROR_INVALID_BOUNDING_BOX, MESSAGES[ErrorCode.ERROR_INVALID_BOUNDING_BOX])]
    return boxes, errors


def label_path_of(image_path: str) -> str:
    """Ultralytics' rule: the label file of `.../images/<x>/<stem>.jpg` is `.../labels/<x>/<stem>.txt`."""
    head, _, tail = image_path.rpartition("/images/")
    if not _:
        head, tail = posixpath.dirname(image_path), posixpath.basename(image_path)
        return posixpath.join(head, "labels", stem_of(tail) + ".txt")
    return f"{head}/labels/{stem_of(tail)}.txt"
