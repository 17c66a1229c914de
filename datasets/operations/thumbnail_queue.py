"""Queueing thumbnails: a few tasks of each dataset at a time, fed as they finish, so thumbnails are
made while an import runs (each chunk starts the feed as it commits) and one dataset's hundred
thousand never stand in front of another user's hundred; the periodic sweep for those left pending."""

from __future__ import annotations

import functools
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from customlabels.celery import send_after_commit

from ..models import Dataset, Image, ImportJob
from .common import ID_BATCH

# Images per thumbnail task: a chunk of 1,000 becomes 10 tasks, each a few tenths of a second of work
# for the worker's THUMBNAIL_THREADS, so a task's own cost (its message, five queries) is small.
THUMBNAIL_BATCH = 100
MAKE_TASK = "datasets.tasks.image_thumbnails_task"
QUEUE_TASK = "datasets.tasks.images_thumbnails_queue_task"
# A thumbnail queued this long ago and still not made was lost with its task (a worker that died
# and did not come back, retries given up while S3 was down): it is queued again, and no longer
# counts as in flight.
REQUEUE_AFTER = timedelta(hours=1)


def _due(*, now) -> tuple[Q, Q]:
    """The images whose thumbnail is due to be queued: never queued, then queued long ago."""
    pending = Q(needs_thumbnail=True)
    return pending & Q(thumbnail_queued_at=None), pending & Q(thumbnail_queued_at__lt=now - REQUEUE_AFTER)


def dataset_thumbnails_queue(*, dataset_id: int) -> int:
    """Queue the dataset's next thumbnails: as many of its images that need one (never queued first,
    then those queued more than REQUEUE_AFTER ago, in id order) as fit in THUMBNAIL_TASKS_IN_FLIGHT
    tasks of THUMBNAIL_BATCH with those queued and not yet made; whole tasks only, but for the last.

    Called as each import chunk commits and as each thumbnail task ends, so a dataset keeps a few
    tasks queued until every thumbnail is made, and another dataset's tasks wait behind those few
    only. Idempotent, and safe to run twice at once: each image is marked queued in the transaction
    that takes it (rows another run holds are skipped) and its task sent after commit; two runs at
    once may together queue up to twice the bound. Reads only pending images (the
    image_thumbnail_due index). Returns how many it queued.
    """
    now = timezone.now()
    in_flight = Image.objects.filter(
        dataset_id=dataset_id, needs_thumbnail=True, thumbnail_queued_at__gte=now - REQUEUE_AFTER
    ).count()
    room = settings.THUMBNAIL_TASKS_IN_FLIGHT * THUMBNAIL_BATCH - in_flight
    room -= room % THUMBNAIL_BATCH
    queued = 0
    for due in _due(now=now):
        after = 0
        while queued < room and (
            ids := _page_queue(due=due & Q(dataset_id=dataset_id), after=after, limit=min(ID_BATCH, room - queued))
        ):
            queued += len(ids)
            after = ids[-1]
    return queued


def images_thumbnails_queue(*, image_ids: list[int]) -> int:
    """Queue the next thumbnails (dataset_thumbnails_queue) of the datasets of these images: those
    an import chunk just inserted, or those a thumbnail task just made. Returns how many it queued."""
    if not image_ids:
        return 0
    datasets = Image.objects.filter(pk__in=image_ids).values_list("dataset_id", flat=True).distinct()
    return sum(dataset_thumbnails_queue(dataset_id=pk) for pk in datasets)


def images_thumbnails_queue_later(*, image_ids: list[int]) -> None:
    """images_thumbnails_queue for an import chunk's images (all of one dataset), done by the
    thumbnails worker (QUEUE_TASK, on its queue) once the current transaction commits: its few
    queries, under a CPU busy with imports, held one of the import worker's threads for seconds, and
    another user's small import waited behind them. One image names the dataset. If the broker is
    unreachable the import goes on: its end queues the thumbnails its chunks did not
    (import_thumbnails_queue)."""
    if image_ids:
        send_after_commit(QUEUE_TASK, image_ids[:1], on_error=lambda: None)


@transaction.atomic
def _page_queue(*, due: Q, after: int, limit: int) -> list[int]:
    ids = list(
        Image.objects.select_for_update(skip_locked=True)
        .filter(due, id__gt=after)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    Image.objects.filter(pk__in=ids).update(thumbnail_queued_at=timezone.now())
    for start in range(0, len(ids), THUMBNAIL_BATCH):
        batch = ids[start : start + THUMBNAIL_BATCH]
        # If the broker is down they are unmarked, so the next sweep queues them once it is back.
        unmark = functools.partial(Image.objects.filter(pk__in=batch).update, thumbnail_queued_at=None)
        send_after_commit(MAKE_TASK, batch, on_error=unmark)
    return ids


def import_thumbnails_queue(*, job_id: int) -> int:
    """After an import finishes: queue the thumbnails its dataset still needs (dataset_thumbnails_queue):
    the last ones of its chunks, those an earlier, failed attempt left, any lost on the way."""
    dataset_id = ImportJob.objects.filter(pk=job_id).values_list("dataset_id", flat=True).first()
    return 0 if dataset_id is None else dataset_thumbnails_queue(dataset_id=dataset_id)


def thumbnails_sweep() -> int:
    """Queue the due thumbnails (see dataset_thumbnails_queue) of every dataset no import is filling
    (a running import's chunks and thumbnail tasks queue its own). Run by Celery beat every
    THUMBNAIL_SWEEP_SECONDS.

    Cheap when there is nothing to do: two probes of the image_thumbnail_due index per dataset.
    Returns how many thumbnails it queued.
    """
    never, stale = _due(now=timezone.now())
    datasets = Dataset.objects.exclude(status__in=Dataset.IN_PROGRESS).filter(
        Exists(Image.objects.filter(never, dataset=OuterRef("pk")))
        | Exists(Image.objects.filter(stale, dataset=OuterRef("pk")))
    )
    return sum(dataset_thumbnails_queue(dataset_id=pk) for pk in datasets.values_list("pk", flat=True))
