"""The pipeline every import source plugs into: a job's start, its chunks, its end or its failure.

A source creates its ImportJob with job_start, which queues the source's first task once the
transaction commits (START_TASKS). A source that reads in parallel stores its work as chunks
(chunk_store), and marks each one done (chunk_done) in the transaction that inserts its images;
job_succeed completes the job and its dataset, job_fail fails both where the user sees it.
Every step is idempotent. Lock order everywhere: the import job row, then the dataset row.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from customlabels.celery import send_after_commit
from projects.s3_access import UserS3

from .. import services
from ..models import BoundingBox, Dataset, Image, ImageLabel, ImportChunk, ImportJob, ImportReportItem, Label

# The task that starts (and "Retry import" restarts) an import of each source.
START_TASKS = {
    ImportJob.Source.S3_FOLDER: "datasets.tasks.import_list_task",
    ImportJob.Source.MANIFEST: "datasets.tasks.manifest_read_task",
    ImportJob.Source.COPY: "datasets.tasks.dataset_copy_task",
    ImportJob.Source.SPLIT: "datasets.tasks.dataset_split_task",
}
QUEUE_UNREACHABLE = (
    "The import could not be queued because the task queue is unreachable. Choose Retry import when it is back."
)
# An import that brings at least this many images refreshes the planner's statistics when it ends.
ANALYZE_AFTER_IMAGES = 5000


def job_enqueue(task_name: str, job_id: int, *, message: str = QUEUE_UNREACHABLE) -> None:
    """Queue a step of the job after commit; if the broker is down, the job fails with `message`."""
    send_after_commit(
        task_name,
        job_id,
        on_error=lambda: job_fail(job_id=job_id, message=message, code=Dataset.StatusMessageCode.SERVICE_ERROR),
    )


def job_start(*, dataset: Dataset, source: str, parameters: dict, message: str = QUEUE_UNREACHABLE) -> ImportJob:
    """Create the dataset's import job and queue its first task once the caller's transaction commits."""
    job = ImportJob.objects.create(dataset=dataset, source=source, parameters=parameters)
    job_enqueue(START_TASKS[source], job.pk, message=message)
    return job


def dataset_start(
    *,
    project,
    name: str,
    status_message: str,
    source: str,
    parameters: dict,
    message: str = QUEUE_UNREACHABLE,
    **fields,
) -> Dataset:
    """A new dataset, CREATE_IN_PROGRESS with `status_message` (and any other `fields`), with its
    import job of `source` queued once the caller's transaction commits. DatasetError on the name."""
    dataset = services.dataset_new(
        project=project, name=name, status=Dataset.Status.CREATE_IN_PROGRESS, status_message=status_message, **fields
    )
    job_start(dataset=dataset, source=source, parameters=parameters, message=message)
    return dataset


def job_s3(*, job: ImportJob) -> UserS3:
    """S3 as the owner of the job's dataset may read it, with their grants as they are now: every
    step of an import reads through this, so a revoked grant stops the import at its next step."""
    owner_id = Dataset.objects.filter(pk=job.dataset_id).values_list("project__owner_id", flat=True).get()
    return UserS3(owner_id)


def job_source_check(*, job: ImportJob) -> None:
    """Check the job's stored S3 location (a folder, a manifest file) against its owner's grants as
    they are now, as Retry import does before it runs a job again. Raises s3.S3AccessRefused."""
    parameters = job.parameters
    if job.source == ImportJob.Source.S3_FOLDER:
        job_s3(job=job).check(parameters["bucket"], parameters["prefix"])
    elif job.source == ImportJob.Source.MANIFEST:
        job_s3(job=job).check(parameters["bucket"], parameters["key"])


def job_started(*, job: ImportJob) -> None:
    """Record that a worker took the job up (the first time only)."""
    ImportJob.objects.filter(pk=job.pk, started_at__isnull=True).update(
        started_at=timezone.now(), status=ImportJob.Status.IN_PROGRESS
    )


def chunk_store(
    *, job: ImportJob, seq: int, items: list[dict], refs: list[str], report: list[ImportReportItem], found: int
) -> ImportChunk:
    """Store chunk `seq` of the job: the items (with their source-refs) its dataset does not hold
    yet, the source's items it skipped as report rows, and the counts, once. A chunk stored before
    (a replayed step) is returned as it is and counted no second time. A chunk with nothing to
    insert is stored done."""
    present = set(
        Image.objects.filter(dataset_id=job.dataset_id, source_ref__in=refs).values_list("source_ref", flat=True)
    )
    new = [item for item, ref in zip(items, refs, strict=True) if ref not in present]
    with transaction.atomic():
        chunk, created = ImportChunk.objects.get_or_create(job=job, seq=seq, defaults={"items": new, "done": not new})
        if created:
            ImportReportItem.objects.bulk_create(report, ignore_conflicts=True)
            ImportJob.objects.filter(pk=job.pk).update(
                found=F("found") + found,
                skipped=F("skipped") + len(report),
                already_present=F("already_present") + len(present),
                chunks_total=seq,
                chunks_done=F("chunks_done") + (0 if new else 1),
                heartbeat_at=timezone.now(),
            )
    return chunk


def chunk_pending(*, chunk_id: int) -> ImportChunk | None:
    """The chunk with its job, or None when it is done or its job finished (a late or replayed step)."""
    chunk = ImportChunk.objects.select_related("job").get(pk=chunk_id)
    return None if chunk.done or chunk.job.is_finished else chunk


def chunk_done(*, chunk: ImportChunk, job: ImportJob) -> None:
    """Mark the locked chunk done and count it, in the transaction that inserted its images."""
    chunk.done = True
    chunk.save(update_fields=["done"])
    # Job row before dataset row, as job_succeed and job_fail lock them; the other order
    # deadlocks when chunks finish at the same time.
    ImportJob.objects.filter(pk=job.pk).update(chunks_done=F("chunks_done") + 1, heartbeat_at=timezone.now())
    services.dataset_changed(dataset_id=job.dataset_id)


def labels_ensure(*, dataset_id: int, names: list[str]) -> dict[str, int]:
    """{name: label id} of the dataset's labels of these names, creating those it lacks."""
    if not names:
        return {}
    Label.objects.bulk_create([Label(dataset_id=dataset_id, name=n) for n in names], ignore_conflicts=True)
    return dict(Label.objects.filter(dataset_id=dataset_id, name__in=names).values_list("name", "id"))


def job_finishable(*, job_id: int) -> ImportJob | None:
    """The job, locked until the caller's transaction ends, when it is unfinished and its listing
    and every chunk are done: then it is the caller's to complete. Otherwise None."""
    job = ImportJob.objects.select_for_update().get(pk=job_id)
    if job.is_finished or not job.listing_done or job.chunks_done < job.chunks_total:
        return None
    return job


def job_succeed(*, job: ImportJob, message: str, created: str, added: str = "", **fields) -> None:
    """Mark the job SUCCEEDED with `message` (and any other `fields`), and its dataset complete:
    CREATE_COMPLETE with the status message `created`, or UPDATE_COMPLETE with `added`."""
    job.status = ImportJob.Status.SUCCEEDED
    job.finished_at = timezone.now()
    job.message = message
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=["status", "finished_at", "message", *fields])
    dataset = Dataset.objects.select_for_update().get(pk=job.dataset_id)
    status, status_message = dataset.status, dataset.status_message
    if dataset.status == Dataset.Status.CREATE_IN_PROGRESS:
        status, status_message = Dataset.Status.CREATE_COMPLETE, created
    elif dataset.status == Dataset.Status.UPDATE_IN_PROGRESS:
        status, status_message = Dataset.Status.UPDATE_COMPLETE, added
    services.status_set(dataset=dataset, status=status, message=status_message, code=Dataset.StatusMessageCode.SUCCESS)


def job_fail(*, job_id: int, message: str, code: str = Dataset.StatusMessageCode.CLIENT_ERROR) -> None:
    """Mark the job failed and its dataset CREATE_FAILED / UPDATE_FAILED with the reason; a split's
    training dataset, which it was moving images out of, becomes UPDATE_FAILED with the test dataset's
    message (nothing moved: a split is one transaction). One transaction; idempotent: a finished job
    is left as it is."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.is_finished:
            return
        job.status = ImportJob.Status.FAILED
        job.finished_at = timezone.now()
        job.message = message
        job.save(update_fields=["status", "finished_at", "message"])
        dataset = Dataset.objects.select_for_update().get(pk=job.dataset_id)
        failed = {
            Dataset.Status.CREATE_IN_PROGRESS: Dataset.Status.CREATE_FAILED,
            Dataset.Status.UPDATE_IN_PROGRESS: Dataset.Status.UPDATE_FAILED,
        }
        if dataset.status in failed:
            services.status_set(dataset=dataset, status=failed[dataset.status], message=message, code=code)
        if job.source == ImportJob.Source.SPLIT:
            # Lock order as the split itself: the job, the test dataset, then the training dataset.
            train = Dataset.objects.select_for_update().filter(pk=job.parameters.get("source_dataset")).first()
            if train is not None and train.status == Dataset.Status.UPDATE_IN_PROGRESS:
                services.status_set(
                    dataset=train,
                    status=Dataset.Status.UPDATE_FAILED,
                    message=dataset.status_message,
                    code=dataset.status_message_code,
                )


def import_statistics_refresh(*, job_id: int) -> bool:
    """After a large import, refresh PostgreSQL's statistics of the image tables, so the gallery's
    first views are planned for the rows just added: planned on no statistics, a 100,000-image
    gallery page sorted the whole dataset (67 ms) instead of reading 51 rows from an index. Autovacuum
    would get there in a minute, if it is on. Returns whether it ran."""
    if connection.vendor != "postgresql":
        return False
    if Image.objects.filter(import_job_id=job_id).count() < ANALYZE_AFTER_IMAGES:
        return False
    tables = ", ".join(model._meta.db_table for model in (Image, ImageLabel, BoundingBox))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")
    return True
