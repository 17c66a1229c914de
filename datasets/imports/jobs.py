"""The pipeline every import source plugs into: a job's start, its chunks, its end or its failure.

A source creates its ImportJob with job_start, which queues the source's first task once the
transaction commits (START_TASKS), or leaves it WAITING while its user runs IMPORTS_PER_USER
imports already; job_succeed and job_fail start the user's next waiting one (waiting_start). A
source that reads in parallel stores its work as chunks (chunk_store) and has them queued by
chunks_queue, at most IMPORT_CHUNKS_IN_FLIGHT of one import at a time, so several users' imports
interleave on the workers; each chunk is marked done (chunk_done) in the transaction that inserts
its images, which queues the next stored one. job_succeed completes the job and its dataset,
job_fail fails both where the user sees it. Every step is idempotent. Lock order everywhere: the
import job row, then the dataset row, then the user row.
"""

from __future__ import annotations

from collections import Counter

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from customlabels.celery import send_after_commit
from projects.models import Project
from projects.s3_access import UserS3

from .. import counts, rules, services
from ..models import BoundingBox, Dataset, Image, ImageLabel, ImportChunk, ImportJob, ImportReportItem, Label
from . import fair_share

# The task that starts (and "Retry import" restarts) an import of each source.
START_TASKS = {
    ImportJob.Source.S3_FOLDER: "datasets.tasks.import_list_task",
    ImportJob.Source.MANIFEST: "datasets.tasks.manifest_read_task",
    ImportJob.Source.FORMAT: "datasets.tasks.format_read_task",
    ImportJob.Source.COPY: "datasets.tasks.dataset_copy_task",
    ImportJob.Source.SPLIT: "datasets.tasks.dataset_split_task",
    ImportJob.Source.ENTRIES: "datasets.tasks.entries_start_task",
}
# The task that imports one stored chunk, for the sources that import in chunks.
CHUNK_TASKS = {
    ImportJob.Source.S3_FOLDER: "datasets.tasks.import_chunk_task",
    ImportJob.Source.MANIFEST: "datasets.tasks.manifest_chunk_task",
    ImportJob.Source.ENTRIES: "datasets.tasks.entries_chunk_task",
    ImportJob.Source.FORMAT: "datasets.tasks.format_chunk_task",
}
# The jobs that hold one of their user's IMPORTS_PER_USER slots.
RUNNING = (ImportJob.Status.QUEUED, ImportJob.Status.IN_PROGRESS)
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
    """Create the dataset's import job and queue its first task once the caller's transaction commits;
    WAITING instead while the dataset's owner runs IMPORTS_PER_USER imports or has others waiting
    (they start first). Locks the owner's user row until the caller's transaction ends."""
    owner_id = Project.objects.filter(pk=dataset.project_id).values_list("owner_id", flat=True).get()
    _owner_lock(owner_id)
    owner_jobs = _owner_jobs(owner_id)
    running = owner_jobs.filter(status__in=RUNNING).count()
    if running >= settings.IMPORTS_PER_USER or owner_jobs.filter(status=ImportJob.Status.WAITING).exists():
        job = ImportJob.objects.create(
            dataset=dataset, source=source, parameters=parameters, status=ImportJob.Status.WAITING
        )
        waiting_start(owner_id=owner_id)
        job.refresh_from_db(fields=["status"])
        return job
    job = ImportJob.objects.create(dataset=dataset, source=source, parameters=parameters)
    job_enqueue(START_TASKS[source], job.pk, message=message)
    return job


def _owner_lock(owner_id: int) -> None:
    """Hold the user's row until the transaction ends: their imports start and end one at a time."""
    list(get_user_model().objects.select_for_update().filter(pk=owner_id).values_list("pk", flat=True))


def _owner_jobs(owner_id: int):
    return ImportJob.objects.filter(dataset__project__owner_id=owner_id, source__in=list(START_TASKS))


def waiting_start(*, owner_id: int) -> list[int]:
    """Start the user's oldest WAITING imports that fit in the slots their running ones leave
    (IMPORTS_PER_USER): QUEUED, with a fresh heartbeat (the stall check counts from it), their first
    task queued after commit. Atomic and idempotent; returns the ids it started."""
    with transaction.atomic():
        _owner_lock(owner_id)
        owner_jobs = _owner_jobs(owner_id)
        free = settings.IMPORTS_PER_USER - owner_jobs.filter(status__in=RUNNING).count()
        if free <= 0:
            return []
        # A waiting job another transaction holds (failing it) is left to that transaction.
        started = list(
            owner_jobs.filter(status=ImportJob.Status.WAITING)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("created_at", "id")
            .values_list("pk", "source")[:free]
        )
        ImportJob.objects.filter(pk__in=[pk for pk, _ in started]).update(
            status=ImportJob.Status.QUEUED, heartbeat_at=timezone.now()
        )
        for pk, source in started:
            job_enqueue(START_TASKS[source], pk)
    return [pk for pk, _ in started]


def _waiting_start_after(job: ImportJob) -> None:
    """A job of the user ended, in the caller's transaction: the user's next waiting import may start."""
    if job.source in START_TASKS:
        owner_id = Project.objects.filter(datasets__pk=job.dataset_id).values_list("owner_id", flat=True).first()
        if owner_id is not None:
            waiting_start(owner_id=owner_id)


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
    step of an import reads through this, so a revoked grant stops the import at its next step.
    The owner counts as active in this process's fair share of reads from now (fair_share.touch)."""
    owner_id = Dataset.objects.filter(pk=job.dataset_id).values_list("project__owner_id", flat=True).get()
    fair_share.reads().touch(owner_id)
    return UserS3(owner_id)


def job_source_check(*, job: ImportJob) -> None:
    """Check the job's stored S3 location (a folder, a manifest file) against its owner's grants as
    they are now, as Retry import does before it runs a job again. Raises s3.S3AccessRefused."""
    parameters = job.parameters
    if job.source == ImportJob.Source.S3_FOLDER:
        job_s3(job=job).check(parameters["bucket"], parameters["prefix"])
    elif job.source in (ImportJob.Source.MANIFEST, ImportJob.Source.FORMAT):
        job_s3(job=job).check(parameters["bucket"], parameters["key"])


def job_started(*, job: ImportJob) -> None:
    """Record that a worker took the job up (the first time only)."""
    ImportJob.objects.filter(pk=job.pk, started_at__isnull=True).update(
        started_at=timezone.now(), status=ImportJob.Status.IN_PROGRESS
    )


def chunk_store(
    *,
    job: ImportJob,
    seq: int,
    items: list[dict],
    refs: list[str],
    report: list[ImportReportItem],
    found: int,
    report_max: int | None = None,
) -> ImportChunk:
    """Store chunk `seq` of the job: the items (with their source-refs) its dataset does not hold
    yet, the source's items it skipped as report rows (only while the job has counted fewer than
    `report_max` skipped, when given; all are counted), and the counts, once. A chunk stored before
    (a replayed step) is returned as it is and counted no second time. A chunk with nothing to
    insert is stored done. Stored, not queued: chunks_queue queues it."""
    present = set(
        Image.objects.filter(dataset_id=job.dataset_id, source_ref__in=refs).values_list("source_ref", flat=True)
    )
    new = [item for item, ref in zip(items, refs, strict=True) if ref not in present]
    with transaction.atomic():
        chunk, created = ImportChunk.objects.get_or_create(job=job, seq=seq, defaults={"items": new, "done": not new})
        if created:
            recorded = report
            if report_max is not None:
                skipped = ImportJob.objects.filter(pk=job.pk).values_list("skipped", flat=True).get()
                recorded = report[: max(0, report_max - skipped)]
            ImportReportItem.objects.bulk_create(recorded, ignore_conflicts=True)
            ImportJob.objects.filter(pk=job.pk).update(
                found=F("found") + found,
                skipped=F("skipped") + len(report),
                already_present=F("already_present") + len(present),
                new_images=F("new_images") + len(new),
                chunks_total=seq,
                chunks_done=F("chunks_done") + (0 if new else 1),
                heartbeat_at=timezone.now(),
            )
    return chunk


def chunks_queue(*, job_id: int) -> list[int]:
    """Queue the job's next stored chunks, in order, so that at most IMPORT_CHUNKS_IN_FLIGHT of them
    are queued and not done; each is marked queued and its task sent after commit (the job fails
    if the broker is unreachable). Locks the job row; atomic, idempotent. Returns the chunks queued.

    Called by the listing after each chunk it stores, by every chunk as it finishes, and by the
    stalled-import check, so a chunk stored but not queued by a step that died is queued later.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.is_finished or job.source not in CHUNK_TASKS:
            return []
        pending = ImportChunk.objects.filter(job_id=job_id, done=False)
        room = settings.IMPORT_CHUNKS_IN_FLIGHT - pending.filter(queued=True).count()
        if room <= 0:
            return []
        ids = list(pending.filter(queued=False).order_by("seq").values_list("pk", flat=True)[:room])
        ImportChunk.objects.filter(pk__in=ids).update(queued=True)
        for chunk_id in ids:
            send_after_commit(
                CHUNK_TASKS[job.source],
                chunk_id,
                on_error=lambda: job_fail(
                    job_id=job_id, message=QUEUE_UNREACHABLE, code=Dataset.StatusMessageCode.SERVICE_ERROR
                ),
            )
    return ids


def dataset_images_before(*, job: ImportJob) -> int:
    """The images of the job's dataset that other imports brought (no other import of the dataset
    runs meanwhile, so this holds for the job's whole listing)."""
    return Image.objects.filter(dataset_id=job.dataset_id).exclude(import_job_id=job.pk).count()


def images_limit_error(*, job_id: int, before: int) -> str | None:
    """The console's message when the images the job found new would take its dataset, which held
    `before` others, past IMAGES_PER_DATASET; else None."""
    new = ImportJob.objects.filter(pk=job_id).values_list("new_images", flat=True).get()
    if before + new > settings.IMAGES_PER_DATASET:
        return rules.too_many_images_message(settings.IMAGES_PER_DATASET)
    return None


def chunk_pending(*, chunk_id: int) -> ImportChunk | None:
    """The chunk with its job, or None when it is done or its job finished (a late or replayed step)."""
    chunk = ImportChunk.objects.select_related("job").get(pk=chunk_id)
    return None if chunk.done or chunk.job.is_finished else chunk


def chunk_done(*, chunk: ImportChunk, job: ImportJob, image_ids: list[int], carry: bool = True) -> None:
    """Mark the locked chunk done and count it and the images it inserted (`image_ids`), in the
    transaction that inserted them; the dataset's cached counts are carried over to its new
    version rather than recounted (unless `carry` is False: the chunk changed images it did not
    insert), and the job's next stored chunk is queued in its place."""
    chunk.done = True
    chunk.save(update_fields=["done"])
    errors = Image.objects.filter(pk__in=image_ids).exclude(error_code="").count() if image_ids else 0
    # Job row before dataset row, as job_succeed and job_fail lock them; the other order
    # deadlocks when chunks finish at the same time.
    ImportJob.objects.filter(pk=job.pk).update(
        chunks_done=F("chunks_done") + 1,
        inserted=F("inserted") + len(image_ids),
        inserted_with_errors=F("inserted_with_errors") + errors,
        heartbeat_at=timezone.now(),
    )
    version = (
        Dataset.objects.select_for_update().filter(pk=job.dataset_id).values_list("stats_version", flat=True).get()
    )
    services.dataset_changed(dataset_id=job.dataset_id)
    if carry and image_ids and counts.counts_cached(dataset_id=job.dataset_id, version=version):
        _counts_carry(dataset_id=job.dataset_id, version=version, image_ids=image_ids, errors=errors)
    chunks_queue(job_id=job.pk)


def _counts_carry(*, dataset_id: int, version: int, image_ids: list[int], errors: int) -> None:
    """After commit, carry the dataset's cached counts from `version` to the next with the images
    just inserted: so the gallery, the project page and their polls never recount a dataset that
    an import is filling. Reads only the new images' rows."""
    labeled = Image.objects.filter(pk__in=image_ids, is_labeled=True).count()
    pairs = set(ImageLabel.objects.filter(image_id__in=image_ids).values_list("label_id", "image_id"))
    boxes = Counter()
    for label_id, image_id in BoundingBox.objects.filter(image_id__in=image_ids).values_list("label_id", "image_id"):
        pairs.add((label_id, image_id))
        boxes[label_id] += 1
    label_images = Counter(label_id for label_id, _ in pairs)
    transaction.on_commit(
        lambda: counts.counts_follow(
            dataset_id=dataset_id,
            version=version,
            new_version=version + 1,
            total=len(image_ids),
            labeled=labeled,
            errors=errors,
            label_images=dict(label_images),
            label_boxes=dict(boxes),
        )
    )


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
    _waiting_start_after(job)


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
        _waiting_start_after(job)


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
