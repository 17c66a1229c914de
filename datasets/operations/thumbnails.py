"""Thumbnails queued for whole datasets, the periodic sweep of those left pending, and thumbnails
of copied and moved images (each image gets its own, copied in S3)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.db import transaction
from django.db.models import Case, CharField, Exists, OuterRef, Q, Value, When
from django.utils import timezone

from customlabels import s3

from .. import rules, services
from ..models import Dataset, Image, ImportJob
from .common import ID_BATCH, send_after_commit

log = logging.getLogger(__name__)


THUMBNAIL_COPY_BATCH = 500
# A thumbnail queued this long ago and still not made was lost with its task (a worker that died
# and did not come back, retries given up while S3 was down): the sweep queues it again. Until
# then it may still be waiting its turn behind a large import's thumbnails.
REQUEUE_AFTER = timedelta(hours=1)


def _due(*, now) -> tuple[Q, Q]:
    """The images whose thumbnail is due to be queued: never queued, then queued long ago."""
    pending = Q(needs_thumbnail=True)
    return pending & Q(thumbnail_queued_at=None), pending & Q(thumbnail_queued_at__lt=now - REQUEUE_AFTER)


def dataset_thumbnails_queue(*, dataset_id: int) -> int:
    """Queue a thumbnail for every image of the dataset that needs one and was not queued in the
    last REQUEUE_AFTER, in tasks of THUMBNAIL_BATCH images: those of the import that just finished
    and those an earlier import left, such as a failed attempt's before Retry import.

    Idempotent, and safe to run twice at once: each page of images is marked queued in the
    transaction that takes it (rows another run holds are skipped), and its tasks are sent after
    commit. Reads only the pending images (the image_thumbnail_due index). Returns how many it queued.
    """
    queued = 0
    for due in _due(now=timezone.now()):
        after = 0
        while ids := _page_queue(dataset_id=dataset_id, due=due, after=after):
            queued += len(ids)
            after = ids[-1]
    return queued


@transaction.atomic
def _page_queue(*, dataset_id: int, due: Q, after: int) -> list[int]:
    ids = list(
        Image.objects.select_for_update(skip_locked=True)
        .filter(due, dataset_id=dataset_id, id__gt=after)
        .order_by("id")
        .values_list("id", flat=True)[:ID_BATCH]
    )
    Image.objects.filter(pk__in=ids).update(thumbnail_queued_at=timezone.now())
    for start in range(0, len(ids), services.THUMBNAIL_BATCH):
        _thumbnails_send(ids[start : start + services.THUMBNAIL_BATCH])
    return ids


def _thumbnails_send(image_ids: list[int]) -> None:
    from ..tasks import image_thumbnails_task

    def send():
        try:
            image_thumbnails_task.delay(image_ids)
        except Exception:  # kombu raises several classes for an unreachable broker
            log.exception("Could not queue the thumbnails of %s images", len(image_ids))
            # Unmarked, so the next sweep queues them once the broker is back.
            Image.objects.filter(pk__in=image_ids).update(thumbnail_queued_at=None)

    transaction.on_commit(send)


def import_thumbnails_queue(*, job_id: int) -> int:
    """After an import finishes: queue the thumbnails its dataset needs (see dataset_thumbnails_queue).
    They wait until the import is done so they never slow it down: the dataset is complete and
    browsable first, with placeholders until they arrive."""
    dataset_id = ImportJob.objects.filter(pk=job_id).values_list("dataset_id", flat=True).first()
    return 0 if dataset_id is None else dataset_thumbnails_queue(dataset_id=dataset_id)


def thumbnails_sweep() -> int:
    """Queue the thumbnails of every dataset that are due (see dataset_thumbnails_queue) and that no
    running import will queue when it finishes. Run by Celery beat every THUMBNAIL_SWEEP_SECONDS.

    Cheap when there is nothing to do: two probes of the image_thumbnail_due index per dataset.
    Returns how many thumbnails it queued.
    """
    never, stale = _due(now=timezone.now())
    datasets = Dataset.objects.exclude(status__in=Dataset.IN_PROGRESS).filter(
        Exists(Image.objects.filter(never, dataset=OuterRef("pk")))
        | Exists(Image.objects.filter(stale, dataset=OuterRef("pk")))
    )
    return sum(dataset_thumbnails_queue(dataset_id=pk) for pk in datasets.values_list("pk", flat=True))


def thumbnails_relocate_queue(*, job_id: int) -> None:
    from ..tasks import images_thumbnails_relocate_task

    # Queued with the relocation, so the sweep leaves them to it.
    Image.objects.filter(import_job_id=job_id, needs_thumbnail=True, thumbnail_queued_at=None).update(
        thumbnail_queued_at=timezone.now()
    )
    send_after_commit(
        images_thumbnails_relocate_task,
        job_id,
        on_error=lambda: import_thumbnails_failed(job_id=job_id, message="the task queue is unreachable."),
        # With the thumbnail tasks, so a copy or split never waits behind them, nor an import behind it.
        queue="thumbnails",
    )


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
        own = {pk: rules.thumbnail_key(ds, pk) for pk, ds, _ in batch}
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
                thumbnail_key=Case(*(When(pk=pk, then=Value(own[pk])) for pk in done), output_field=CharField()),
                needs_thumbnail=False,
            )
            Image.objects.filter(pk__in=to_make).update(thumbnail_key="", thumbnail_queued_at=timezone.now())
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
