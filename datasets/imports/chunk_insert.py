"""Inserting one chunk of labeled images (a manifest's or a format file's): the images, the labels
they name, their label assignments and bounding boxes, in bulk and in one transaction."""

from __future__ import annotations

from django.db import transaction

from .. import rules
from ..models import BoundingBox, Image, ImageLabel, ImportChunk, ImportJob
from . import jobs


def labeled_chunk_insert(*, chunk: ImportChunk, job: ImportJob, images: dict[str, tuple]) -> list[tuple]:
    """Insert `images` ({source-ref: (item, Image fields, boxes)}, boxes as (label, left, top,
    width, height) in pixels) and mark the chunk done, atomically. Idempotent: a chunk done by an
    earlier run inserts nothing and returns [], and the unique source-ref keeps a replay from
    duplicating. Returns (id, source-ref, needs_thumbnail) of the chunk's images."""
    with transaction.atomic():
        locked = ImportChunk.objects.select_for_update().get(pk=chunk.pk)
        if locked.done:
            return []
        names = sorted(
            {name for item, _, boxes in images.values() for name in [*item["labels"], *(b[0] for b in boxes)]}
        )
        label_ids = jobs.labels_ensure(dataset_id=job.dataset_id, names=names)
        Image.objects.bulk_create(
            [
                Image(
                    dataset_id=job.dataset_id,
                    source_ref=ref,
                    file_name=rules.file_name_of(item["key"])[:1024],
                    import_job=job,
                    **fields,
                )
                for ref, (item, fields, _) in images.items()
            ],
            ignore_conflicts=True,
            batch_size=500,
        )
        created = list(
            Image.objects.filter(dataset_id=job.dataset_id, import_job=job, source_ref__in=list(images)).values_list(
                "id", "source_ref", "needs_thumbnail"
            )
        )
        ImageLabel.objects.bulk_create(
            [
                ImageLabel(image_id=pk, label_id=label_ids[name])
                for pk, ref, _ in created
                for name in images[ref][0]["labels"]
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
        BoundingBox.objects.bulk_create(
            [
                BoundingBox(image_id=pk, label_id=label_ids[name], left=left, top=top, width=width, height=height)
                for pk, ref, _ in created
                for name, left, top, width, height in images[ref][2]
            ],
            batch_size=1000,
        )
        jobs.chunk_done(chunk=locked, job=job, image_ids=[pk for pk, _, _ in created])
    return created
