"""Writes for datasets: creating them, importing images from S3, thumbnails.

The import is split so several workers on several machines can share it:
  import_list    pages through ListObjectsV2 and stores each page's images as an ImportChunk;
  import_chunk   reads one chunk's image headers concurrently and inserts its images in bulk;
  import_finish  marks the job and dataset complete once listing is done and every chunk is.
Each step is idempotent: re-running it after a crash or a redelivery creates no duplicate.
"""

from __future__ import annotations

import io
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from PIL import Image as PILImage

from customlabels import s3
from customlabels.text import counted, was_were
from projects.models import ConsoleBucket, Project

from . import rules
from .errors import DatasetError, ErrorCode
from .models import BoundingBox, Dataset, Image, ImageLabel, ImportChunk, ImportJob, ImportReportItem, Label

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 256
THUMBNAIL_BATCH = 32
# How many listing pages the form looks through for an image before it gives the import the benefit of the doubt.
PRECHECK_PAGES = 3


def dataset_changed(*, dataset_id: int) -> None:
    """Record that the dataset's images, labels or boxes changed, in the caller's transaction."""
    Dataset.objects.filter(pk=dataset_id).update(stats_version=F("stats_version") + 1)


def s3_folder_check(*, location: s3.S3Location) -> None:
    """Check, before anything is created, that the folder exists, is readable and holds an image.

    Raises s3.S3Error (bucket missing, access denied, unreachable) or DatasetError with a message for the user.
    """
    s3.head_bucket(location.bucket)
    seen = 0
    for page_no, page in enumerate(s3.list_pages(location.bucket, location.prefix)):
        for obj in page:
            seen += 1
            kind = rules.classify_key(prefix=location.prefix, key=obj.key, size=obj.size, auto_label=False).kind
            if kind is rules.KeyKind.IMAGE:
                return
        if page_no + 1 >= PRECHECK_PAGES:
            return
    if seen == 0:
        raise DatasetError(f"The folder {location.uri} is empty or does not exist.", field="s3_location")
    raise DatasetError(
        f"The folder {location.uri} holds no images. The console imports .jpg, .jpeg and .png files.",
        field="s3_location",
    )


def _enqueue(task, *args, queue_failed_job: int | None = None):
    """Send a task after the transaction commits; if the broker is down, fail the job visibly."""

    def send():
        try:
            task.delay(*args)
        except Exception as exc:  # kombu raises several classes for an unreachable broker
            log.exception("Could not queue %s", task.name)
            if queue_failed_job is not None:
                import_fail(
                    job_id=queue_failed_job,
                    message="The import could not be queued because the task queue is unreachable. "
                    "Choose Retry import when it is back.",
                    code=Dataset.StatusMessageCode.SERVICE_ERROR,
                )
            else:
                raise exc

    transaction.on_commit(send)


def dataset_new(*, project: Project, name: str, **fields) -> Dataset:
    """A new dataset of the project, or DatasetError on the name when the project has one so named."""
    try:
        with transaction.atomic():
            return Dataset.objects.create(project=project, name=name, arn_suffix=int(time.time() * 1000), **fields)
    except IntegrityError as exc:
        raise DatasetError(f"A dataset named “{name}” already exists in this project.", field="name") from exc


NOT_CREATED_NO_IMAGES = (
    "The dataset could not be created, so images can't be added to it. Retry the import or delete the dataset."
)


def dataset_update_begin(*, dataset: Dataset, message: str) -> Dataset:
    """Lock the dataset and mark it UPDATE_IN_PROGRESS, in the caller's transaction; DatasetError
    while it is being created or updated already."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if dataset.is_in_progress:
        raise DatasetError("The dataset is being created or updated. Wait until it finishes.")
    if dataset.status == Dataset.Status.CREATE_FAILED:
        raise DatasetError(NOT_CREATED_NO_IMAGES)
    dataset.status = Dataset.Status.UPDATE_IN_PROGRESS
    dataset.status_message = message
    dataset.status_message_code = ""
    dataset.save(update_fields=["status", "status_message", "status_message_code", "updated_at"])
    return dataset


@transaction.atomic
def dataset_create_from_s3(*, project: Project, name: str, location: s3.S3Location, auto_label: bool) -> Dataset:
    """Create a dataset and queue its import from an S3 folder. Atomic; the import starts after commit."""
    dataset = dataset_new(
        project=project,
        name=name,
        status=Dataset.Status.CREATE_IN_PROGRESS,
        status_message=f"Importing images from {location.uri}",
    )
    _import_job_start(dataset=dataset, location=location, auto_label=auto_label)
    return dataset


@transaction.atomic
def dataset_add_images_from_s3(*, dataset: Dataset, location: s3.S3Location, auto_label: bool) -> ImportJob:
    """Import the keys of an S3 folder that the dataset does not hold yet."""
    dataset = dataset_update_begin(dataset=dataset, message=f"Adding images from {location.uri}")
    return _import_job_start(dataset=dataset, location=location, auto_label=auto_label)


def _import_job_start(*, dataset: Dataset, location: s3.S3Location, auto_label: bool) -> ImportJob:
    from .tasks import import_list_task

    job = ImportJob.objects.create(
        dataset=dataset,
        source=ImportJob.Source.S3_FOLDER,
        parameters={"bucket": location.bucket, "prefix": location.prefix, "auto_label": auto_label},
    )
    _enqueue(import_list_task, job.pk, queue_failed_job=job.pk)
    return job


def import_list(*, job_id: int) -> bool:
    """List the S3 folder page by page and store each page's images as a chunk, queueing it.

    Idempotent: a page already stored (same sequence number) is not stored or counted again.
    Returns whether this call finished the import. Raises s3.S3Error; S3Unreachable is worth a retry.
    """
    from .tasks import import_chunk_task

    job = ImportJob.objects.select_related("dataset").get(pk=job_id)
    if job.is_finished or job.listing_done:
        return False
    ImportJob.objects.filter(pk=job.pk, started_at__isnull=True).update(
        started_at=timezone.now(), status=ImportJob.Status.IN_PROGRESS
    )
    bucket, prefix, auto_label = job.parameters["bucket"], job.parameters["prefix"], job.parameters["auto_label"]
    seq = 0
    for seq, page in enumerate(s3.list_pages(bucket, prefix), start=1):
        if ImportChunk.objects.filter(job=job, seq=seq, done=True).exists():
            continue
        images, skipped = [], []
        for obj in page:
            kc = rules.classify_key(prefix=prefix, key=obj.key, size=obj.size, auto_label=auto_label)
            if kc.kind is rules.KeyKind.IMAGE:
                images.append({"key": obj.key, "size": obj.size, "etag": obj.etag, "label": kc.label})
            elif kc.kind is rules.KeyKind.NOT_IMAGE:
                skipped.append(obj.key)
        refs = [f"s3://{bucket}/{item['key']}" for item in images]
        present = set(
            Image.objects.filter(dataset_id=job.dataset_id, source_ref__in=refs).values_list("source_ref", flat=True)
        )
        new_images = [item for item, ref in zip(images, refs, strict=True) if ref not in present]
        with transaction.atomic():
            chunk, created = ImportChunk.objects.get_or_create(
                job=job, seq=seq, defaults={"items": new_images, "done": not new_images}
            )
            if created:
                ImportReportItem.objects.bulk_create(
                    [ImportReportItem(job=job, key=k, reason="Not a .jpg, .jpeg or .png file") for k in skipped],
                    ignore_conflicts=True,
                )
                ImportJob.objects.filter(pk=job.pk).update(
                    found=F("found") + len(images),
                    skipped=F("skipped") + len(skipped),
                    already_present=F("already_present") + len(present),
                    chunks_total=seq,
                    chunks_done=F("chunks_done") + (0 if new_images else 1),
                    heartbeat_at=timezone.now(),
                )
            if not chunk.done:
                _enqueue(import_chunk_task, chunk.pk)
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(listing_done=True, chunks_total=seq, heartbeat_at=timezone.now())
    return import_finish_if_done(job_id=job.pk)


def _read_header(bucket: str, item: dict) -> dict:
    """Read one image's header with ranged GETs; return the Image fields (dimensions or an error)."""
    key, size = item["key"], item["size"]
    fields = {"format": "", "width": None, "height": None, "error_code": "", "error_message": ""}
    if size == 0:
        # Real S3 answers a ranged GET of an empty object with 416, which is no reason to fail the import.
        fields.update(
            error_code=ErrorCode.ERROR_INVALID_IMAGE, error_message="The image is invalid: the file is empty."
        )
        return fields
    length = rules.HEADER_BYTES
    while True:
        try:
            data = s3.read_range(bucket, key, length)
        except s3.S3ObjectNotFound:
            fields.update(
                error_code=ErrorCode.ERROR_INVALID_IMAGE,
                error_message="The image is invalid: the object no longer exists in S3.",
            )
            return fields
        except s3.S3AccessDenied:
            fields.update(
                error_code=ErrorCode.ERROR_INVALID_IMAGE,
                error_message="The image is invalid: access to the object was denied (the console needs s3:GetObject).",
            )
            return fields
        complete = len(data) < length or len(data) >= size
        try:
            header = rules.image_header_parse(data, complete=complete)
            break
        except rules.HeaderIncomplete:
            if length >= rules.HEADER_BYTES_MAX:
                fields.update(
                    error_code=ErrorCode.ERROR_INVALID_IMAGE,
                    error_message="The image is invalid: no image size found in its first 1 MB.",
                )
                return fields
            length *= 8
        except rules.InvalidImage as exc:
            fields.update(error_code=ErrorCode.ERROR_INVALID_IMAGE, error_message=f"The image is invalid: {exc}.")
            return fields
    fields.update(format=header.format, width=header.width, height=header.height)
    problem = rules.image_limits_error(width=header.width, height=header.height, size=size)
    if problem:
        fields.update(error_code=ErrorCode.ERROR_INVALID_IMAGE, error_message=problem)
    return fields


def import_chunk(*, chunk_id: int) -> list[int]:
    """Read a chunk's headers (concurrently) and insert its images, labels and assignments in bulk.

    Idempotent: a done chunk is skipped, and the unique source-ref keeps a second run from duplicating.
    Returns the ids of the images it created that need a thumbnail. Raises S3Unreachable to be retried.
    """
    chunk = ImportChunk.objects.select_related("job").get(pk=chunk_id)
    job = chunk.job
    if chunk.done or job.is_finished:
        return []
    bucket = job.parameters["bucket"]
    with ThreadPoolExecutor(max_workers=settings.IMPORT_HEADER_THREADS) as pool:
        headers = list(pool.map(lambda item: _read_header(bucket, item), chunk.items))

    with transaction.atomic():
        locked = ImportChunk.objects.select_for_update().get(pk=chunk.pk)
        if locked.done:
            return []
        for item, fields in zip(chunk.items, headers, strict=True):
            if item["label"] and len(item["label"]) > rules.MAX_LABEL_LENGTH:
                # spec §5.5: the image stays, without the label, and says why.
                item["label"] = None
                fields.update(
                    error_code=ErrorCode.ERROR_INVALID_LABEL_NAME_LENGTH,
                    error_message=f"The folder name is too long to be a label: the maximum length is {rules.MAX_LABEL_LENGTH} characters.",
                )
        names = sorted({item["label"] for item in chunk.items if item["label"]})
        label_ids = _labels_ensure(dataset_id=job.dataset_id, names=names)
        Image.objects.bulk_create(
            [
                Image(
                    dataset_id=job.dataset_id,
                    source_ref=f"s3://{bucket}/{item['key']}",
                    file_name=rules.file_name_of(item["key"])[:1024],
                    import_job=job,
                    size=item["size"],
                    etag=item["etag"][:128],
                    is_labeled=bool(item["label"]),
                    needs_thumbnail=not fields.get("error_code"),
                    problems=_problems_of(fields),
                    **fields,
                )
                for item, fields in zip(chunk.items, headers, strict=True)
            ],
            ignore_conflicts=True,
            batch_size=500,
        )
        refs = {f"s3://{bucket}/{item['key']}": item["label"] for item in chunk.items}
        created = list(
            Image.objects.filter(dataset_id=job.dataset_id, import_job=job, source_ref__in=list(refs)).values_list(
                "id", "source_ref", "error_code"
            )
        )
        ImageLabel.objects.bulk_create(
            [ImageLabel(image_id=pk, label_id=label_ids[refs[ref]]) for pk, ref, _ in created if refs[ref]],
            ignore_conflicts=True,
            batch_size=1000,
        )
        locked.done = True
        locked.save(update_fields=["done"])
        # Lock order everywhere: import job row, then dataset row (as import_finish_if_done and
        # import_fail do); the other order deadlocks when chunks finish at the same time.
        ImportJob.objects.filter(pk=job.pk).update(chunks_done=F("chunks_done") + 1, heartbeat_at=timezone.now())
        dataset_changed(dataset_id=job.dataset_id)
    return [pk for pk, _, error in created if not error]


def _problems_of(fields: dict) -> list[dict]:
    if not fields.get("error_code"):
        return []
    return [{"code": fields["error_code"], "message": fields["error_message"], "level": "error"}]


def _labels_ensure(*, dataset_id: int, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    Label.objects.bulk_create([Label(dataset_id=dataset_id, name=n) for n in names], ignore_conflicts=True)
    return dict(Label.objects.filter(dataset_id=dataset_id, name__in=names).values_list("name", "id"))


def import_finish_if_done(*, job_id: int) -> bool:
    """Mark the job succeeded and the dataset complete once listing and every chunk are done."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().select_related("dataset").get(pk=job_id)
        if job.is_finished or not job.listing_done or job.chunks_done < job.chunks_total:
            return False
        now = timezone.now()
        imported = job.images.count()
        job.status = ImportJob.Status.SUCCEEDED
        job.finished_at = now
        # Whatever this job found but did not insert was in the dataset already, including images
        # another import of the same dataset inserted while this one ran.
        job.already_present = max(job.found - imported, job.already_present)
        job.message = f"{imported} imported, {job.skipped} skipped (not images)."
        job.save(update_fields=["status", "finished_at", "message", "already_present"])
        dataset = Dataset.objects.select_for_update().get(pk=job.dataset_id)
        if dataset.status == Dataset.Status.CREATE_IN_PROGRESS:
            dataset.status = Dataset.Status.CREATE_COMPLETE
            dataset.status_message = f"The dataset was successfully created from {job.source_location}."
        elif dataset.status == Dataset.Status.UPDATE_IN_PROGRESS:
            dataset.status = Dataset.Status.UPDATE_COMPLETE
            dataset.status_message = (
                f"{counted(imported, 'image')} {was_were(imported)} successfully added from {job.source_location}."
            )
        dataset.status_message_code = Dataset.StatusMessageCode.SUCCESS
        dataset.save(update_fields=["status", "status_message", "status_message_code", "updated_at"])
    return True


# An import that brings at least this many images refreshes the planner's statistics when it ends.
ANALYZE_AFTER_IMAGES = 5000


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


def import_fail(*, job_id: int, message: str, code: str = Dataset.StatusMessageCode.CLIENT_ERROR) -> None:
    """Mark the job failed and the dataset CREATE_FAILED / UPDATE_FAILED with the reason. Idempotent."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.is_finished:
            return
        job.status = ImportJob.Status.FAILED
        job.finished_at = timezone.now()
        job.message = message
        job.save(update_fields=["status", "finished_at", "message"])
        dataset = Dataset.objects.select_for_update().get(pk=job.dataset_id)
        if dataset.status in (Dataset.Status.CREATE_IN_PROGRESS, Dataset.Status.UPDATE_IN_PROGRESS):
            dataset.status = (
                Dataset.Status.CREATE_FAILED
                if dataset.status == Dataset.Status.CREATE_IN_PROGRESS
                else Dataset.Status.UPDATE_FAILED
            )
            dataset.status_message = message
            dataset.status_message_code = code
            dataset.save(update_fields=["status", "status_message", "status_message_code", "updated_at"])


def console_bucket_name() -> str:
    bucket = ConsoleBucket.objects.filter(region=settings.AWS_DEFAULT_REGION, created_at__isnull=False).first()
    if bucket is None:
        raise DatasetError("The console bucket has not been created yet.")
    return bucket.name


def _thumbnail_bytes(data: bytes) -> bytes:
    with PILImage.open(io.BytesIO(data)) as img:
        if img.format == "JPEG":
            img.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        img.load()
        img = img.convert("RGB")
        img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        out = io.BytesIO()
        img.save(out, "JPEG", quality=80)
        return out.getvalue()


def images_thumbnails_make(*, image_ids: list[int]) -> int:
    """Make a JPEG thumbnail (≤256 px on the long side) for each image and store it in the console bucket.

    Idempotent: images that already have one are skipped. A file whose pixels cannot be decoded
    (for example a truncated JPEG) gets ERROR_INVALID_IMAGE instead. Returns how many were made.
    Raises S3Unreachable to be retried.
    """
    images = list(Image.objects.filter(pk__in=image_ids, needs_thumbnail=True))
    if not images:
        return 0
    console = console_bucket_name()

    def make(image: Image) -> tuple[int, str, str]:
        bucket, key = s3.split_uri(image.source_ref)
        try:
            data = s3.read_object(bucket, key, max_bytes=rules.MAX_IMAGE_BYTES)
        except (s3.S3ObjectNotFound, s3.S3AccessDenied) as exc:
            return image.pk, "", f"The image is invalid: {exc}"
        try:
            thumb = _thumbnail_bytes(data)
        except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError):
            return image.pk, "", "The image is invalid: the file is truncated or corrupt and cannot be decoded."
        thumb_key = rules.thumbnail_key(image.dataset_id, image.pk)
        s3.put_object(console, thumb_key, thumb, content_type="image/jpeg")
        return image.pk, thumb_key, ""

    with ThreadPoolExecutor(max_workers=min(8, len(images))) as pool:
        results = list(pool.map(make, images))
    made = 0
    with transaction.atomic():
        for pk, thumb_key, error in results:
            if thumb_key:
                made += Image.objects.filter(pk=pk).update(thumbnail_key=thumb_key, needs_thumbnail=False)
            else:
                # The file itself is unusable: that outranks any manifest problem as the headline.
                image = next(i for i in images if i.pk == pk)
                problems = [
                    {"code": ErrorCode.ERROR_INVALID_IMAGE, "message": error, "level": "error"},
                    *image.problems,
                ]
                Image.objects.filter(pk=pk).update(
                    error_code=ErrorCode.ERROR_INVALID_IMAGE,
                    error_message=error,
                    problems=problems,
                    needs_thumbnail=False,
                )
        if made < len(results):
            for dataset_id in {image.dataset_id for image in images}:
                dataset_changed(dataset_id=dataset_id)
    return made


def images_thumbnails_failed(*, image_ids: list[int], message: str) -> None:
    """Record on the images' import jobs why their thumbnails could not be made."""
    job_ids = Image.objects.filter(pk__in=image_ids).exclude(import_job=None).values_list("import_job_id", flat=True)
    ImportJob.objects.filter(pk__in=set(job_ids)).update(thumbnails_error=f"Thumbnails could not be made: {message}")


@transaction.atomic
def dataset_delete(*, dataset: Dataset) -> None:
    """Delete a dataset with its images, labels and boxes; its thumbnails leave the console bucket
    after the commit. Refused while the dataset is being created or updated (spec §7 DeleteDataset)."""
    from .tasks import dataset_thumbnails_delete_task

    locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if locked.is_in_progress:
        raise DatasetError("You can't delete a dataset while it is being created or updated. Wait until it finishes.")
    dataset_id = locked.pk
    locked.delete()
    _enqueue(dataset_thumbnails_delete_task, dataset_id)


def dataset_thumbnails_delete(*, dataset_id: int) -> int:
    """Remove a deleted dataset's thumbnails from the console bucket. Idempotent; returns how many."""
    console = console_bucket_name()
    removed = 0
    # Its thumbnails and its prepared manifests; uploaded images (assets/) stay, as S3 sources do.
    for prefix in (rules.thumbnail_prefix(dataset_id), f"exports/{dataset_id}/"):
        for page in s3.list_pages(console, prefix):
            keys = [obj.key for obj in page]
            if keys:
                s3.delete_objects(console, keys)
                removed += len(keys)
    return removed
