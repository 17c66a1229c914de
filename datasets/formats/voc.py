"""Pascal VOC: one XML file per image in `Annotations/`, the images in `JPEGImages/` when they are
included, each split's image stems in `ImageSets/Main/<split>.txt`. Pure.

Boxes are pixel corners `xmin ymin xmax ymax` (left, top, left + width, top + height). The image's
S3 URI is in `<path>`; its image-level labels, which VOC has no element for, in `<labels>`.
XML is read with defusedxml, which refuses entity expansion and external references.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ..errors import MESSAGES, ErrorCode
from .records import SPLITS, Box, ExportImage, FormatError, ReadItem, box_outside, stem_of


def _sub(parent: ET.Element, tag: str, text: object) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = str(text)
    return element


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def voc_xml(image: ExportImage, *, folder: str) -> bytes:
    """The annotation file of one image."""
    root = ET.Element("annotation")
    _sub(root, "folder", folder)
    _sub(root, "filename", image.name)
    _sub(root, "path", image.ref)
    source = ET.SubElement(root, "source")
    _sub(source, "database", "Custom Labels console")
    size = ET.SubElement(root, "size")
    _sub(size, "width", image.width or 0)
    _sub(size, "height", image.height or 0)
    _sub(size, "depth", 3)
    _sub(root, "segmented", 0)
    if image.labels:
        labels = ET.SubElement(root, "labels")
        for name in image.labels:
            _sub(labels, "label", name)
    for box in image.boxes:
        obj = ET.SubElement(root, "object")
        _sub(obj, "name", box.label)
        _sub(obj, "pose", "Unspecified")
        _sub(obj, "truncated", 0)
        _sub(obj, "difficult", 0)
        bndbox = ET.SubElement(obj, "bndbox")
        _sub(bndbox, "xmin", _num(box.left))
        _sub(bndbox, "ymin", _num(box.top))
        _sub(bndbox, "xmax", _num(box.left + box.width))
        _sub(bndbox, "ymax", _num(box.top + box.height))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def voc_files(images: Iterable[ExportImage], *, classes: list[str]) -> Iterator[tuple[str, bytes]]:
    """(path, content) of every annotation file, then the split lists and the class list."""
    sets: dict[str, list[str]] = {split: [] for split in SPLITS}
    for image in images:
        stem = stem_of(image.name)
        yield f"Annotations/{stem}.xml", voc_xml(image, folder="JPEGImages")
        sets.setdefault(image.split, []).append(stem)
    for split, stems in sets.items():
        yield f"ImageSets/Main/{split}.txt", "".join(f"{s}\n" for s in stems).encode()
    yield "labels.txt", "".join(f"{name}\n" for name in classes).encode()


def _text(element: ET.Element | None, tag: str) -> str:
    found = element.find(tag) if element is not None else None
    return (found.text or "").strip() if found is not None else ""


def voc_read(data: bytes, *, source: str) -> ReadItem:
    """One annotation file as an item: its image (`<path>` when an S3 URI, else `<filename>`),
    labels and boxes. Per box: no name or corners that are not numbers, or off the image
    (ERROR_INVALID_BOUNDING_BOX). Raises FormatError when the file is not a VOC annotation."""
    try:
        root = SafeET.fromstring(data)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise FormatError(f"{source} is not valid XML: {exc}.") from exc
    if root.tag != "annotation":
        raise FormatError(f"{source} is not a Pascal VOC annotation (its root element is <{root.tag}>).")
    path, filename = _text(root, "path"), _text(root, "filename")
    ref = path if path.startswith("s3://") else filename
    if not ref:
        raise FormatError(f"{source} has no <filename>.")
    size_element = root.find("size")
    try:
        width, height = int(float(_text(size_element, "width"))), int(float(_text(size_element, "height")))
        size = (width, height) if width > 0 and height > 0 else None
    except ValueError:
        size = None
    item = ReadItem(ref=ref, source=source, size=size)
    labels = root.find("labels")
    if labels is not None:
        item.labels = [(label.text or "").strip() for label in labels.findall("label") if (label.text or "").strip()]
    for obj in root.findall("object"):
        index = len(item.boxes)
        name = _text(obj, "name")
        bndbox = obj.find("bndbox")
        try:
            x0, y0, x1, y1 = (float(_text(bndbox, tag)) for tag in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError:
            item.boxes.append(Box(name, 0, 0, 0, 0))
            item.box_errors[index] = [(ErrorCode.ERROR_INVALID_BOUNDING_BOX, "The box's corners are not numbers.")]
            continue
        box = Box(name, x0, y0, x1 - x0, y1 - y0)
        item.boxes.append(box)
        if not name:
            item.box_errors[index] = [(ErrorCode.ERROR_INVALID_BOUNDING_BOX, "The object has no <name>.")]
        elif box_outside(box, size):
            item.box_errors[index] = [
                (ErrorCode.ERROR_INVALID_BOUNDING_BOX, MESSAGES[ErrorCode.ERROR_INVALID_BOUNDING_BOX])
            ]
    return item
