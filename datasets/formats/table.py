"""CSV (one row per image-level label or box) and YOLO classification (a folder per class). Pure.

CSV columns: image (S3 URI), file_name, width, height, split, label, left, top, box_width,
box_height. A row with box columns is a box, one without is an image-level label, and an image
with neither has one row with an empty label (a negative).

Class folders: `<split>/<class>/<name>` with the images; without them, each class's images are
listed by S3 URI in `<split>/<class>.txt`. An image with several labels is in each of their
folders; images without an image-level label have no class and are left out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from ..errors import MESSAGES, ErrorCode
from .records import Box, ExportImage, FormatError, ReadItem, box_outside

CSV_COLUMNS = ["image", "file_name", "width", "height", "split", "label", "left", "top", "box_width", "box_height"]
_BOX_COLUMNS = ("left", "top", "box_width", "box_height")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def csv_write(images: Iterable[ExportImage]) -> Iterator[bytes]:
    """The CSV file, a few hundred images at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for n, image in enumerate(images, start=1):
        head = [image.ref, image.name, image.width or "", image.height or "", image.split]
        for label in image.labels:
            writer.writerow([*head, label, "", "", "", ""])
        for box in image.boxes:
            writer.writerow([*head, box.label, _num(box.left), _num(box.top), _num(box.width), _num(box.height)])
        if not image.labels and not image.boxes:
            writer.writerow([*head, "", "", "", "", ""])
        if n % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def csv_read(text: str) -> list[ReadItem]:
    """The images of a CSV file, rows of one image gathered in the order first seen. A box whose
    columns are not numbers, or that leaves the image, is ERROR_INVALID_BOUNDING_BOX. Raises
    FormatError without an `image` and a `label` column."""
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or ())
    if not {"image", "label"} <= columns:
        raise FormatError("The CSV file needs a header row with at least the columns “image” and “label”.")
    items: dict[str, ReadItem] = {}
    for row_no, row in enumerate(reader, start=2):
        ref = (row.get("image") or "").strip()
        if not ref:
            continue
        item = items.get(ref)
        if item is None:
            item = items[ref] = ReadItem(ref=ref, source=f"row {row_no}", size=_size(row))
        label = (row.get("label") or "").strip()
        values = [(row.get(column) or "").strip() for column in _BOX_COLUMNS]
        if not any(values):
            if label and label not in item.labels:
                item.labels.append(label)
            continue
        index = len(item.boxes)
        try:
            box = Box(label, *(float(v) for v in values))
        except ValueError:
            item.boxes.append(Box(label, 0, 0, 0, 0))
            item.box_errors[index] = [
                (ErrorCode.ERROR_INVALID_BOUNDING_BOX, f"Row {row_no}: the box columns are not numbers.")
            ]
            continue
        item.boxes.append(box)
        if not label:
            item.box_errors[index] = [(ErrorCode.ERROR_INVALID_BOUNDING_BOX, f"Row {row_no}: the box has no label.")]
        elif box_outside(box, item.size):
            item.box_errors[index] = [
                (
                    ErrorCode.ERROR_INVALID_BOUNDING_BOX,
                    f"Row {row_no}: {MESSAGES[ErrorCode.ERROR_INVALID_BOUNDING_BOX]}",
                )
            ]
    return list(items.values())


def _size(row: dict) -> tuple[int, int] | None:
    try:
        width, height = int(row.get("width") or 0), int(row.get("height") or 0)
    except ValueError:
        return None
    return (width, height) if width > 0 and height > 0 else None


def class_folder_files(images: Iterable[ExportImage]) -> Iterator[tuple[str, ExportImage]]:
    """(path, image) of every image file with the images; used as the place of each copy."""
    for image in images:
        for label in image.labels:
            yield f"{image.split}/{label}/{image.name}", image


def class_lists(images: Iterable[ExportImage]) -> Iterator[tuple[str, bytes]]:
    """(path, content) of each `<split>/<class>.txt` list of S3 URIs (labels only)."""
    lists: dict[tuple[str, str], list[str]] = {}
    for image in images:
        for label in image.labels:
            lists.setdefault((image.split, label), []).append(image.ref)
    for (split, label), refs in sorted(lists.items()):
        yield f"{split}/{label}.txt", "".join(f"{ref}\n" for ref in refs).encode()
