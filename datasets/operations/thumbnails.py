"""Thumbnails of copied and moved images: each image gets its own, copied in S3."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from django.db import transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat

from customlabels import s3

from .. import services
from ..models import Image, ImportJob
from .common import send_after_commit

log = logging.getLogger(__name__)


THUMBNAIL_COPY_BATCH = 500


def thumbnails_relocate_queue(*, job_id: int) -> None:
    from ..tasks import images_thumbnails_relocate_task

    send_after_commit(
        images_thumbnails_relocate_task,
        job_id,
        on_error=lambda: import_thumbnails_failed(job_id=job_id, message="the task queue is unreachable."),
        # With the thumbnail tasks, so a copy or split never waits behind them, nor an import behind it.
        queue="thumbnails",
    )


def _own_thumbnail_key(*, dataset_id: int, image_id: int) -> str:
    return f"thumbnails/{dataset_id}/{image_id}.jpg"


def images_thumbnails_relocate(*, job_id: int) -> int:
    """Give each image of the job that still needs a thumbnail one under its own dataset's prefix.

    An image showing another dataset's thumbnail gets a server-side copy (CopyObject: a request of
    a few hundred bytes, where making it again would read the whole image and decode it); after a
    split the old object is deleted, since the training dataset no longer holds the image. Images
    with no thumbnail to copy (never made, or already deleted with their dataset) are queued for
    the thumbnail tasks. Idempotent. Returns how many were copied. Raises S3Unreachable to be retried.
    """
    from ..tasks import image_thumbnails_task

    job = ImportJob.objects.filter(pk=job_id).only("source").first()
    if job is None:
        return 0
    console = services.console_bucket_name()
    move = job.source == ImportJob.Source.SPLIT
    copied, last_id = 0, 0
    while True:
        batch = list(
            Image.objects.filter(import_job_id=job_id, needs_thumbnail=True, id__gt=last_id)
            .order_by("id")
            .values_list("id", "dataset_id", "thumbnail_key")[:THUMBNAIL_COPY_BATCH]
        )
        if not batch:
            return copied
        last_id = batch[-1][0]
        own = {pk: _own_thumbnail_key(dataset_id=ds, image_id=pk) for pk, ds, _ in batch}
        to_copy = [(pk, key, own[pk]) for pk, _, key in batch if key and key != own[pk]]
        done = {pk for pk, _, key in batch if key and key == own[pk]}
        to_make = [pk for pk, _, key in batch if not key]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(_thumbnail_copy, [console] * len(to_copy), *zip(*to_copy, strict=True)))
        moved_from = [key for (_, key, _), ok in zip(to_copy, results, strict=True) if ok]
        done.update(pk for (pk, _, _), ok in zip(to_copy, results, strict=True) if ok)
        to_make += [pk for (pk, _, _), ok in zip(to_copy, results, strict=True) if not ok]
        with transaction.atomic():
            Image.objects.filter(pk__in=done, needs_thumbnail=True).update(
                thumbnail_key=Concat(
                    Value("thumbnails/"),
                    Cast("dataset_id", CharField()),
                    Value("/"),
                    Cast("id", CharField()),
                    Value(".jpg"),
                ),
                needs_thumbnail=False,
            )
            Image.objects.filter(pk__in=to_make).update(thumbnail_key="")
            for i in range(0, len(to_make), services.THUMBNAIL_BATCH):
                services._enqueue(image_thumbnails_task, to_make[i : i + services.THUMBNAIL_BATCH])
        copied += len(moved_from)
        if move and moved_from:
            try:
                s3.delete_objects(console, moved_from)
            except s3.S3Error:
                log.warning("Could not delete %s moved thumbnails of job %s", len(moved_from), job_id, exc_info=True)


def _thumbnail_copy(console: str, pk: int, key: str, new_key: str) -> bool:
    """Copy a thumbnail; False when it is gone (its dataset was deleted meanwhile)."""
    try:
        s3.copy_object(console, key, new_key)
    except s3.S3ObjectNotFound:
        return False
    return True


def import_thumbnails_failed(*, job_id: int, message: str) -> None:
    """Record on the job why its images' thumbnails could not be given to them."""
    ImportJob.objects.filter(pk=job_id).update(thumbnails_error=f"Thumbnails could not be made: {message}")
