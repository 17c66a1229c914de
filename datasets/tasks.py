"""Celery tasks: load by id, call one function of imports/ or operations/, return. Retries and
failure handling live here. Nothing imports this module back: work is queued by task name
(customlabels.celery.send_after_commit), so the names below are part of the queue's contract."""

import logging

from celery import Task, shared_task
from django.conf import settings
from django.db import OperationalError

from customlabels import s3_names

from . import health, versions
from .errors import DatasetError
from .imports import copy, entries, format_files, jobs, manifest, recovery, s3_folder, split
from .models import Dataset, ImportChunk
from .operations import export, format_export, thumbnail_queue, thumbnails

log = logging.getLogger(__name__)

RETRY = {
    # S3 down, or the database breaking a deadlock or dropping a connection: both pass on retry.
    "autoretry_for": (s3_names.S3Unreachable, OperationalError),
    "retry_backoff": 2,
    "retry_backoff_max": settings.IMPORT_RETRY_BACKOFF_MAX,
    "retry_jitter": True,
    "max_retries": settings.IMPORT_RETRY_MAX,
}


class ImportTask(Task):
    """When an import step gives up, the dataset shows CREATE_FAILED with the reason instead of hanging
    (and a split's training dataset UPDATE_FAILED: see jobs.job_fail)."""

    acks_late = True
    reject_on_worker_lost = True

    def job_id(self, args, kwargs):
        return args[0] if args else kwargs.get("job_id")

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        job_id = self.job_id(args, kwargs)
        if job_id is None:
            return
        if isinstance(exc, s3_names.S3Unreachable):
            message, code = (
                f"S3 could not be reached, so the import stopped. {exc}",
                Dataset.StatusMessageCode.SERVICE_ERROR,
            )
        elif isinstance(exc, s3_names.S3Error):
            message, code = str(exc), Dataset.StatusMessageCode.CLIENT_ERROR
        else:
            log.error("Import task %s failed", self.name, exc_info=einfo.exc_info if einfo else None)
            message, code = "The import failed because of an internal error.", Dataset.StatusMessageCode.SERVICE_ERROR
        jobs.job_fail(job_id=job_id, message=message, code=code)


def _job_of_chunk(chunk_id: int) -> int | None:
    return ImportChunk.objects.filter(pk=chunk_id).values_list("job_id", flat=True).first()


class ChunkTask(ImportTask):
    def job_id(self, args, kwargs):
        return _job_of_chunk(args[0] if args else kwargs.get("chunk_id"))


@shared_task(base=ImportTask, **RETRY)
def import_list_task(job_id: int) -> None:
    if s3_folder.import_list(job_id=job_id):
        import_finished(job_id)


@shared_task(base=ChunkTask, **RETRY)
def import_chunk_task(chunk_id: int) -> None:
    # The chunk's thumbnails as soon as it commits, so the gallery fills in while the import runs;
    # queued by the thumbnails worker, so the import's threads go straight to the next chunk.
    thumbnail_queue.images_thumbnails_queue_later(image_ids=s3_folder.import_chunk(chunk_id=chunk_id))
    _finish_if_done(chunk_id, s3_folder.import_finish_if_done)


@shared_task(base=ImportTask, **RETRY)
def manifest_read_task(job_id: int) -> None:
    if manifest.manifest_read(job_id=job_id):
        import_finished(job_id)


@shared_task(base=ChunkTask, **RETRY)
def manifest_chunk_task(chunk_id: int) -> None:
    thumbnail_queue.images_thumbnails_queue_later(image_ids=manifest.manifest_chunk(chunk_id=chunk_id))
    _finish_if_done(chunk_id, manifest.manifest_finish_if_done)


@shared_task(base=ImportTask, **RETRY)
def entries_start_task(job_id: int) -> None:
    if entries.entries_start(job_id=job_id):
        import_finished(job_id)


@shared_task(base=ImportTask, **RETRY)
def format_read_task(job_id: int) -> None:
    if format_files.format_read(job_id=job_id):
        import_finished(job_id)


@shared_task(base=ChunkTask, **RETRY)
def entries_chunk_task(chunk_id: int) -> None:
    thumbnail_queue.images_thumbnails_queue_later(image_ids=entries.entries_chunk(chunk_id=chunk_id))
    _finish_if_done(chunk_id, entries.entries_finish_if_done)


@shared_task(base=ChunkTask, **RETRY)
def format_chunk_task(chunk_id: int) -> None:
    thumbnail_queue.images_thumbnails_queue_later(image_ids=format_files.format_chunk(chunk_id=chunk_id))
    _finish_if_done(chunk_id, format_files.format_finish_if_done)


def _finish_if_done(chunk_id: int, finish_if_done) -> None:
    """After a chunk: complete its import if it was the last, then what follows a finished import."""
    job_id = _job_of_chunk(chunk_id)
    if job_id and finish_if_done(job_id=job_id):
        import_finished(job_id)


def import_finished(job_id: int) -> None:
    """What follows a finished import: fresh planner statistics if it was large, then the thumbnails
    of its dataset no chunk queued: those an earlier import left without one, and any lost on the way."""
    jobs.import_statistics_refresh(job_id=job_id)
    thumbnail_queue.import_thumbnails_queue(job_id=job_id)


@shared_task(base=ImportTask, **RETRY)
def dataset_copy_task(job_id: int) -> None:
    if copy.dataset_copy(job_id=job_id):
        jobs.import_statistics_refresh(job_id=job_id)


@shared_task(base=ImportTask, **RETRY)
def dataset_split_task(job_id: int) -> None:
    split.dataset_split_run(job_id=job_id)


@shared_task(ignore_result=True)
def imports_stalled_fail_task() -> None:
    """Run by Celery beat (CELERY_BEAT_SCHEDULE) every IMPORT_STALL_CHECK_SECONDS: fail the stalled
    imports, then start the waiting ones whose slot is free and queue chunks nothing queued."""
    recovery.imports_stalled_fail()
    recovery.imports_resume()


class ThumbnailTask(Task):
    """When thumbnails cannot be stored, the import's progress says why instead of waiting forever."""

    acks_late = True
    reject_on_worker_lost = True

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        image_ids = args[0] if args else kwargs.get("image_ids", [])
        message = (
            str(exc)
            if isinstance(exc, s3_names.S3Error)
            else "Thumbnails could not be made because of an internal error."
        )
        thumbnails.images_thumbnails_failed(image_ids=image_ids, message=message)


@shared_task(base=ThumbnailTask, **RETRY)
def image_thumbnails_task(image_ids: list[int]) -> None:
    thumbnails.images_thumbnails_make(image_ids=image_ids)
    # This task's place in its datasets' few goes to their next thumbnails.
    thumbnail_queue.images_thumbnails_queue(image_ids=image_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def images_thumbnails_queue_task(image_ids: list[int]) -> None:
    """Queue the next thumbnails of an import chunk's dataset (thumbnail_queue.images_thumbnails_queue_later)."""
    thumbnail_queue.images_thumbnails_queue(image_ids=image_ids)


class RelocateTask(Task):
    acks_late = True
    reject_on_worker_lost = True

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        message = str(exc) if isinstance(exc, s3_names.S3Error) else "an internal error."
        thumbnails.thumbnails_failed(job_ids=[args[0] if args else kwargs["job_id"]], message=message)


@shared_task(base=RelocateTask, **RETRY)
def images_thumbnails_relocate_task(job_id: int) -> None:
    thumbnails.images_thumbnails_relocate(job_id=job_id)


@shared_task(ignore_result=True)
def thumbnails_sweep_task() -> None:
    """Run by Celery beat (CELERY_BEAT_SCHEDULE) every THUMBNAIL_SWEEP_SECONDS."""
    thumbnail_queue.thumbnails_sweep()


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def dataset_storage_release_task(dataset_id: int, owner_id: int, asset_datasets: list[int]) -> None:
    thumbnails.dataset_storage_release(dataset_id=dataset_id, owner_id=owner_id, asset_datasets=asset_datasets)


class ExportTask(Task):
    """When an export gives up, its page says why instead of waiting forever."""

    acks_late = True
    reject_on_worker_lost = True

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if isinstance(exc, s3_names.S3Error | DatasetError):
            message = f"The manifest could not be written: {exc}"
        else:
            log.error("Manifest export %s failed", args, exc_info=einfo.exc_info if einfo else None)
            message = "The manifest could not be written because of an internal error."
        export.manifest_export_fail(export_id=args[0] if args else kwargs["export_id"], message=message)


@shared_task(base=ExportTask, **RETRY)
def manifest_export_task(export_id: int) -> None:
    export.manifest_export_write(export_id=export_id)


class DatasetExportTask(Task):
    """When an export gives up, its page says why instead of waiting forever."""

    acks_late = True
    reject_on_worker_lost = True

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if isinstance(exc, s3_names.S3Error | DatasetError):
            message = f"The export could not be written: {exc}"
        else:
            log.error("Dataset export %s failed", args, exc_info=einfo.exc_info if einfo else None)
            message = "The export could not be written because of an internal error."
        format_export.dataset_export_fail(export_id=args[0] if args else kwargs["export_id"], message=message)


@shared_task(base=DatasetExportTask, **RETRY)
def dataset_export_task(export_id: int) -> None:
    format_export.dataset_export_run(export_id=export_id)


class HealthTask(Task):
    """When a check gives up, its report page says why instead of waiting forever."""

    acks_late = True
    reject_on_worker_lost = True

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if isinstance(exc, s3_names.S3Error | DatasetError):
            message = f"The check could not finish: {exc}"
        else:
            log.error("Health check %s failed", args, exc_info=einfo.exc_info if einfo else None)
            message = "The check could not finish because of an internal error."
        health.health_report_fail(report_id=args[0] if args else kwargs["report_id"], message=message)


@shared_task(base=HealthTask, **RETRY)
def health_report_task(report_id: int) -> None:
    health.health_report_run(report_id=report_id)


class RestoreTask(Task):
    """A restore that gives up leaves its new dataset CREATE_FAILED, empty."""

    acks_late = True
    reject_on_worker_lost = True

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        log.error("Version restore %s failed", args, exc_info=einfo.exc_info if einfo else None)
        versions.version_restore_fail(dataset_id=args[0] if args else kwargs["dataset_id"])


@shared_task(base=RestoreTask, **RETRY)
def version_restore_task(dataset_id: int, version_id: int) -> None:
    versions.version_restore(dataset_id=dataset_id, version_id=version_id)
