"""Celery tasks: load by id, call a service, return. Retries and failure handling live here."""

import logging

from celery import Task, shared_task
from django.db import OperationalError

from customlabels import s3

from . import services
from .models import Dataset, ImportChunk

log = logging.getLogger(__name__)

RETRY = {
    # S3 down, or the database breaking a deadlock or dropping a connection: both pass on retry.
    "autoretry_for": (s3.S3Unreachable, OperationalError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 6,
}


class ImportTask(Task):
    """When an import step gives up, the dataset shows CREATE_FAILED with the reason instead of hanging."""

    acks_late = True
    reject_on_worker_lost = True

    def job_id(self, args, kwargs):
        return args[0] if args else kwargs.get("job_id")

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        job_id = self.job_id(args, kwargs)
        if job_id is None:
            return
        if isinstance(exc, s3.S3Unreachable):
            message, code = (
                f"S3 could not be reached, so the import stopped. {exc}",
                Dataset.StatusMessageCode.SERVICE_ERROR,
            )
        elif isinstance(exc, s3.S3Error):
            message, code = str(exc), Dataset.StatusMessageCode.CLIENT_ERROR
        else:
            log.error("Import task %s failed", self.name, exc_info=einfo.exc_info if einfo else None)
            message, code = "The import failed because of an internal error.", Dataset.StatusMessageCode.SERVICE_ERROR
        services.import_fail(job_id=job_id, message=message, code=code)


def _job_of_chunk(chunk_id: int) -> int | None:
    return ImportChunk.objects.filter(pk=chunk_id).values_list("job_id", flat=True).first()


class ChunkTask(ImportTask):
    def job_id(self, args, kwargs):
        return _job_of_chunk(args[0] if args else kwargs.get("chunk_id"))


@shared_task(base=ImportTask, **RETRY)
def import_list_task(job_id: int) -> None:
    if services.import_list(job_id=job_id):
        thumbnails_queue(job_id)


@shared_task(base=ChunkTask, **RETRY)
def import_chunk_task(chunk_id: int) -> None:
    services.import_chunk(chunk_id=chunk_id)
    job_id = _job_of_chunk(chunk_id)
    if job_id and services.import_finish_if_done(job_id=job_id):
        thumbnails_queue(job_id)


def thumbnails_queue(job_id: int) -> None:
    """Queue the finished import's thumbnails. They wait until the import is done so they never slow
    it down: the dataset is complete and browsable first, with placeholders until they arrive."""
    batch = []
    for image_id in services.import_images_needing_thumbnails(job_id=job_id):
        batch.append(image_id)
        if len(batch) == services.THUMBNAIL_BATCH:
            image_thumbnails_task.delay(batch)
            batch = []
    if batch:
        image_thumbnails_task.delay(batch)


class ThumbnailTask(Task):
    """When thumbnails cannot be stored, the import's progress says why instead of waiting forever."""

    acks_late = True
    reject_on_worker_lost = True

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        image_ids = args[0] if args else kwargs.get("image_ids", [])
        message = (
            str(exc) if isinstance(exc, s3.S3Error) else "Thumbnails could not be made because of an internal error."
        )
        services.images_thumbnails_failed(image_ids=image_ids, message=message)


@shared_task(base=ThumbnailTask, **RETRY)
def image_thumbnails_task(image_ids: list[int]) -> None:
    services.images_thumbnails_make(image_ids=image_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def dataset_thumbnails_delete_task(dataset_id: int) -> None:
    services.dataset_thumbnails_delete(dataset_id=dataset_id)
