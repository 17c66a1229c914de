"""COCO object detection JSON: the writer (streamed) and the reader. Pure.

Boxes are COCO's pixel [x, y, width, height] from the top-left corner. Category ids are 1..n in
the order of the class list. Each image carries its S3 URI as `coco_url` and, where it has any,
its image-level labels as `image_labels` (COCO detection has no field for them; readers that do
not know the key ignore it). Images without labels are listed with no annotation: negatives.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from ..errors import MESSAGES, ErrorCode
from .records import Box, ExportImage, FormatError, ReadItem, box_outside

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def coco_write(images: Iterable[ExportImage], *, classes: list[str], image_folder: str = "") -> Iterator[bytes]:
    """The COCO document of these images, as bytes a few hundred images at a time. `file_name` is
    the image's name in the export under `image_folder`, relative to the document's folder."""
    ids = {name: n for n, name in enumerate(classes, start=1)}
    categories = [{"id": n, "name": name, "supercategory": ""} for name, n in ids.items()]
    yield (
        '{"info":{"description":"Exported by the Custom Labels console","version":"1.0"},"licenses":[],'
        f'"categories":{_dumps(categories)},"images":['
    ).encode()
    annotations: list[str] = []
    parts: list[str] = []
    separator = ""
    for image_id, image in enumerate(images, start=1):
        entry = {
            "id": image_id,
            "file_name": image_folder + image.name,
            "width": image.width or 0,
            "height": image.height or 0,
            "coco_url": image.ref,
        }
        if image.labels:
            entry["image_labels"] = list(image.labels)
        parts.append(_dumps(entry))
        for box in image.boxes:
            annotations.append(
                f'{{"id":{len(annotations) + 1},"image_id":{image_id},"category_id":{ids[box.label]},'
                f'"bbox":[{_num(box.left)},{_num(box.top)},{_num(box.width)},{_num(box.height)}],'
                f'"area":{_num(box.width * box.height)},"iscrowd":0}}'
            )
        if len(parts) >= 500:
            yield (separator + ",".join(parts)).encode()
            parts, separator = [], ","
    if parts:
        yield (separator + ",".join(parts)).encode()
    yield b'],"annotations":['
    for start in range(0, len(annotations), 2000):
        yield (("," if start else "") + ",".join(annotations[start : start + 2000])).encode()
    yield b"]}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(float(value), 2))


def coco_read(data: bytes) -> list[ReadItem]:
    """The images of a COCO detection document with their boxes, mapped to labels by category name.

    An image's `ref` is its `coco_url` when that is an S3 URI, else its `file_name`. Per item:
    an annotation whose category id is not listed (ERROR_MISSING_CLASS_MAP_ID), a box outside the
    image (ERROR_INVALID_BOUNDING_BOX). Raises FormatError when the document is not COCO.
    """
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"The COCO file is not valid JSON: {exc}.") from exc
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise FormatError("The COCO file has no “images” list.")
    categories = {}
    for category in document.get("categories") or []:
        if isinstance(category, dict) and "id" in category and isinstance(category.get("name"), str):
            categories[category["id"]] = category["name"]
    items: dict[object, ReadItem] = {}
    for n, image in enumerate(document["images"], start=1):
        if not isinstance(image, dict) or "id" not in image:
            raise FormatError(f"Image {n} of the COCO file has no id.")
        url = image.get("coco_url") or ""
        ref = url if isinstance(url, str) and url.startswith("s3://") else str(image.get("file_name") or "")
        width, height = image.get("width"), image.get("height")
        size = (int(width), int(height)) if _positive(width) and _positive(height) else None
        labels = [label for label in image.get("image_labels") or [] if isinstance(label, str)]
        items[image["id"]] = ReadItem(ref=ref, source=f"image {image['id']}", labels=labels, size=size)
    for annotation in document.get("annotations") or []:
        if not isinstance(annotation, dict):
            continue
        item = items.get(annotation.get("image_id"))
        if item is None:
            continue
        bbox = annotation.get("bbox")
        index = len(item.boxes)
        name = categories.get(annotation.get("category_id"))
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)):
            item.boxes.append(Box("", 0, 0, 0, 0))
            item.box_errors[index] = [_error(ErrorCode.ERROR_INVALID_BOUNDING_BOX)]
            continue
        box = Box(name or "", *(float(v) for v in bbox))
        item.boxes.append(box)
        if name is None:
            item.box_errors[index] = [
                (
                    ErrorCode.ERROR_MISSING_CLASS_MAP_ID,
                    f"{MESSAGES[ErrorCode.ERROR_MISSING_CLASS_MAP_ID]} Category id {annotation.get('category_id')!r}"
                    " is not in the file's categories.",
                )
            ]
        elif box_outside(box, item.size):
            item.box_errors[index] = [_error(ErrorCode.ERROR_INVALID_BOUNDING_BOX)]
    return list(items.values())


def _positive(value) -> bool:
    return isinstance(value, int | float) and value > 0


def _error(code: ErrorCode) -> tuple[str, str]:
    return code, MESSAGES[code]
