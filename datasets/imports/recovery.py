"""Getting imports unstuck: stalled imports are failed visibly, and a failed import can be retried.

An import step that a worker dies in is redelivered (acks_late) once the broker's visibility timeout
passes, and every step is idempotent, so a worker that comes back finishes the import. A worker that
never comes back would leave the dataset CREATE_IN_PROGRESS forever; `imports_stalled_fail`, run
periodically by Celery beat and whenever someone watches the import's progress, fails such an import
so the user sees why and can choose "Retry import". `imports_resume`, run with it, starts the
waiting imports whose user has a free slot and queues the stored chunks no step queued, so no
import waits forever for a step that died.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from customlabels import s3_names

from .. import services
from ..errors import DatasetError
from ..models import Dataset, ImportJob
from . import jobs, progress

log = logging.getLogger(__name__)

STALLED_MESSAGE = (
    "The import stopped: no worker has worked on it for {minutes} minutes, so it was probably lost "
    "with a worker that stopped. Choose Retry import to run it again; images already imported are kept."
)
# The sources whose import a retry can run again (an upload is finished within its request).
RETRYABLE = (ImportJob.Source.S3_FOLDER, ImportJob.Source.MANIFEST, ImportJob.Source.FORMAT, ImportJob.Source.COPY)


def _last_sign_of_life():
    return Coalesce("heartbeat_at", "started_at", "created_at")


def imports_stalled_fail(*, job_ids: list[int] | None = None) -> list[int]:
    """Fail the running imports that made no progress for IMPORT_STALL_SECONDS. Returns their ids.

    Idempotent, and safe against a late worker: a step of a failed job returns early when it runs.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.IMPORT_STALL_SECONDS)
    stalled = ImportJob.objects.annotate(alive_at=_last_sign_of_life()).filter(
        Q(status=ImportJob.Status.QUEUED) | Q(status=ImportJob.Status.IN_PROGRESS), alive_at__lt=cutoff
    )
    if job_ids is not None:
        stalled = stalled.filter(pk__in=job_ids)
    failed = []
    minutes = max(1, round(settings.IMPORT_STALL_SECONDS / 60))
    for job_id in stalled.values_list("pk", flat=True):
        log.warning("Import job %s made no progress for %s s; marking it failed", job_id, settings.IMPORT_STALL_SECONDS)
        message = STALLED_MESSAGE.format(minutes=minutes)
        # A split's training dataset, which it was moving images out of, is released as well.
        jobs.job_fail(job_id=job_id, message=message, code=Dataset.StatusMessageCode.SERVICE_ERROR)
        failed.append(job_id)
    return failed


def imports_resume(*, job_ids: list[int] | None = None) -> None:
    """Start the WAITING imports whose user runs fewer than IMPORTS_PER_USER (the end of the one
    that held the slot started none: it failed through a path that could not, or died), and queue
    the stored chunks of running imports that have room in flight and nothing queued them (the
    step that stored or finished a chunk died between its commit and queueing the next).
    Idempotent; only the given jobs when `job_ids` is given.
    """
    waiting = ImportJob.objects.filter(status=ImportJob.Status.WAITING)
    running = ImportJob.objects.filter(
        status=ImportJob.Status.IN_PROGRESS, listing_done=True, source__in=list(jobs.CHUNK_TASKS)
    )
    if job_ids is not None:
        waiting, running = waiting.filter(pk__in=job_ids), running.filter(pk__in=job_ids)
    for owner_id in set(waiting.values_list("dataset__project__owner_id", flat=True)):
        jobs.waiting_start(owner_id=owner_id)
    for job_id in running.filter(chunks__done=False, chunks__queued=False).distinct().values_list("pk", flat=True):
        jobs.chunks_queue(job_id=job_id)


def import_retryable(*, dataset: Dataset, latest: ImportJob | None = None) -> ImportJob | None:
    """The failed import "Retry import" would run again, if the dataset's last import failed
    (`latest`, when the caller has just read it)."""
    if dataset.status not in (Dataset.Status.CREATE_FAILED, Dataset.Status.UPDATE_FAILED):
        return None
    job = latest or progress.dataset_latest_import(dataset=dataset)
    if job is None or job.status != ImportJob.Status.FAILED or job.source not in RETRYABLE:
        return None
    return job


@transaction.atomic
def import_retry(*, dataset: Dataset) -> ImportJob:
    """Run the dataset's last, failed import again as a new job with the same source and parameters.

    Images the failed attempt imported stay and are not imported twice (the unique source-ref).
    Raises DatasetError when there is nothing to retry or the stored location is no longer one the
    user may import from (today's grants count). The import starts after commit.
    """
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    failed = import_retryable(dataset=dataset)
    if failed is None:
        raise DatasetError("There is no failed import to retry for this dataset.")
    try:
        jobs.job_source_check(job=failed)
    except s3_names.S3AccessRefused as exc:
        raise DatasetError(str(exc)) from exc
    creating = dataset.status == Dataset.Status.CREATE_FAILED
    services.status_set(
        dataset=dataset,
        status=Dataset.Status.CREATE_IN_PROGRESS if creating else Dataset.Status.UPDATE_IN_PROGRESS,
        message=f"Retrying the import ({failed.get_source_display()}).",
    )
    return jobs.job_start(dataset=dataset, source=failed.source, parameters=failed.parameters)
