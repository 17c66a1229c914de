"""A version's entries as an export reads them: the one reader of a version's rows, so every
export (the Ground Truth manifest here; the other formats through `version_entry_batches`) writes
a version as it was frozen, whatever the live dataset has become."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from ..formats import ground_truth, ground_truth_writer
from ..formats.records import Box, ExportImage, UniqueNames
from ..models import DatasetVersion, VersionEntry
from .common import EXPORT_BATCH
from .export_rows import in_val


@dataclass(slots=True)
class VersionRow:
    """One entry of a version: where the image is, its name and size, image-level labels, boxes
    as (label, left, top, width, height) in pixels, and its error-level problems."""

    source_ref: str
    file_name: str
    width: int | None
    height: int | None
    labels: tuple[str, ...]
    boxes: tuple[tuple, ...]
    problems: tuple[dict, ...]
    error_code: str
    error_message: str


def version_entry_batches(*, version: DatasetVersion) -> Iterator[list[VersionRow]]:
    """The version's entries in the order they were frozen (the dataset's id order), EXPORT_BATCH at a time."""
    rows = (
        VersionEntry.objects.filter(version=version)
        .order_by("id")
        .values_list(
            "source_ref", "file_name", "width", "height", "labels", "boxes", "problems", "error_code", "error_message"
        )
        .iterator(chunk_size=EXPORT_BATCH)
    )
    while batch := list(itertools.islice(rows, EXPORT_BATCH)):
        yield [
            VersionRow(
                ref,
                name,
                width,
                height,
                tuple(json.loads(labels)),
                tuple(tuple(box) for box in json.loads(boxes)),
                tuple(p for p in json.loads(problems) if p.get("level", "error") == "error"),
                code,
                message,
            )
            for ref, name, width, height, labels, boxes, problems, code, message in batch
        ]


def version_export_batches(
    *, version: DatasetVersion, val_percent: int = 0, names: UniqueNames | None = None
) -> Iterator[list[ExportImage]]:
    """The version's entries as the formats' ExportImage values (Export dataset of a version), in
    the order they were frozen. `val_percent` of them go to the `val` split, chosen by position in
    that order, so every export of the version puts the same entries in val."""
    names = names or UniqueNames()
    position = 0
    for batch in version_entry_batches(version=version):
        out = []
        for row in batch:
            split = "val" if val_percent and in_val(position, val_percent) else "train"
            position += 1
            out.append(
                ExportImage(
                    ref=row.source_ref,
                    name=names(split, row.file_name),
                    width=row.width,
                    height=row.height,
                    labels=row.labels,
                    boxes=tuple(Box(*box) for box in row.boxes),
                    split=split,
                )
            )
        yield out


def version_classes(*, version: DatasetVersion) -> list[str]:
    """The version's label list, sorted (every label the dataset had, used or not, as
    export_classes gives a dataset's): the class list of its exports."""
    return sorted(version.label_counts)


def version_manifest_batches(*, version: DatasetVersion) -> Iterator[list[str]]:
    """The version's Ground Truth manifest lines (as Download manifest writes a dataset's), a list per batch."""
    for batch in version_entry_batches(version=version):
        yield [_line(row, version.created_at) for row in batch]


def _line(row: VersionRow, created) -> str:
    errors = list(row.problems)
    if not errors and row.error_code and not row.error_code.startswith("WARNING"):
        errors = [{"code": row.error_code, "message": row.error_message}]
    box_errors: dict[int, list[ground_truth.EntryError]] = defaultdict(list)
    image_errors = []
    for problem in errors:
        error = ground_truth.EntryError(problem["code"], problem.get("message", ""))
        n = problem.get("box")
        (box_errors[n] if isinstance(n, int) and 0 <= n < len(row.boxes) else image_errors).append(error)
    boxes = [
        ground_truth.ManifestBox(label, left, top, w, h, tuple(box_errors.get(n, ())))
        for n, (label, left, top, w, h) in enumerate(row.boxes)
    ]
    width, height = row.width, row.height
    if boxes and not (width and height):
        width = max(left + w for _, left, _, w, _ in row.boxes)
        height = max(top + h for _, _, top, _, h in row.boxes)
    return ground_truth_writer.write_line(
        source_ref=row.source_ref,
        labels=row.labels,
        boxes=boxes,
        image_size=(width, height) if boxes else None,
        errors=image_errors,
        creation_date=created,
    )
