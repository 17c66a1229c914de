"""The rows an export reads: a dataset's images with their labels and boxes, in id order, as the
formats' ExportImage values, and the split each image belongs to."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator

from ..formats.records import Box, ExportImage, UniqueNames
from ..models import BoundingBox, Dataset, Image, ImageLabel, Label
from .common import EXPORT_BATCH


def export_classes(*, dataset_ids: list[int]) -> list[str]:
    """The label names of the datasets, sorted: the class list (stable ids) of an export."""
    return sorted(set(Label.objects.filter(dataset_id__in=dataset_ids).values_list("name", flat=True)))


def in_val(image_id: int, val_percent: int) -> bool:
    """Whether the image falls in the `val` split: a fixed spread of the ids, so the same images go to
    val on every export of an unchanged dataset."""
    return (image_id * 2654435761) % 100 < val_percent


def export_batches(
    *, dataset_id: int, split: str = "train", val_percent: int = 0, names: UniqueNames | None = None
) -> Iterator[list[ExportImage]]:
    """The dataset's images, EXPORT_BATCH at a time, with labels and boxes read by the batch's id
    range (an index range scan). The split is `split`, or `val` for `val_percent` of the images.
    Names are unique per split, given in id order (`names`, shared by the datasets of one export)."""
    names = names or UniqueNames()
    label_names = dict(Label.objects.filter(dataset_id=dataset_id).values_list("id", "name"))
    rows = (
        Image.objects.filter(dataset_id=dataset_id)
        .order_by("id")
        .values_list("id", "source_ref", "file_name", "width", "height")
        .iterator(chunk_size=EXPORT_BATCH)
    )
    while batch := list(itertools.islice(rows, EXPORT_BATCH)):
        in_batch = {"label__dataset_id": dataset_id, "image_id__gte": batch[0][0], "image_id__lte": batch[-1][0]}
        labels: dict[int, list[str]] = defaultdict(list)
        for image_id, label_id in (
            ImageLabel.objects.filter(**in_batch).order_by("id").values_list("image_id", "label_id")
        ):
            labels[image_id].append(label_names[label_id])
        boxes: dict[int, list[Box]] = defaultdict(list)
        for image_id, label_id, left, top, width, height in (
            BoundingBox.objects.filter(**in_batch)
            .order_by("id")
            .values_list("image_id", "label_id", "left", "top", "width", "height")
        ):
            boxes[image_id].append(Box(label_names[label_id], left, top, width, height))
        out = []
        for image_id, ref, file_name, width, height in batch:
            image_split = "val" if val_percent and in_val(image_id, val_percent) else split
            out.append(
                ExportImage(
                    ref=ref,
                    name=names(image_split, file_name),
                    width=width,
                    height=height,
                    labels=tuple(labels.get(image_id, ())),
                    boxes=tuple(boxes.get(image_id, ())),
                    split=image_split,
                )
            )
        yield out


def project_pair(*, dataset: Dataset) -> tuple[Dataset, Dataset] | None:
    """The project's training and test datasets when it has both: YOLO's train and val."""
    datasets = {d.dataset_type: d for d in Dataset.objects.filter(project_id=dataset.project_id)}
    train, test = datasets.get(Dataset.Type.TRAIN), datasets.get(Dataset.Type.TEST)
    return (train, test) if train is not None and test is not None else None
