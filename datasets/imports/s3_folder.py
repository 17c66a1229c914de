"""Import the images of an S3 folder, each subfolder's name their label when asked.

The import is split so several workers on several machines can share it:
  import_list            pages through ListObjectsV2 and stores each page's images as a chunk,
                         queued a few at a time (jobs.chunks_queue); stops when the dataset would
                         hold more than IMAGES_PER_DATASET;
  import_chunk           reads one chunk's image headers concurrently and inserts its images in bulk;
  import_finish_if_done  marks the job and dataset complete once listing is done and every chunk is.
Each step is idempotent: re-running it after a crash or a redelivery creates no duplicate.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from customlabels import s3_names
from customlabels.text import counted, was_were
from projects.models import Project
from projects.s3_access import UserS3

from .. import rules, services
from ..errors import DatasetError, ErrorCode
from ..models import Dataset, Image, ImageLabel, ImportChunk, ImportJob, ImportReportItem
from . import fair_share, jobs
from .headers import Header, headers_read

# How many listing pages the form looks through for an image before it gives the import the benefit of the doubt.
PRECHECK_PAGES = 3
NOT_AN_IMAGE = "Not a .jpg, .jpeg or .png file"


def s3_folder_check(*, location: s3_names.S3Location, reader: UserS3) -> None:
    """Check, before anything is created, that the user may import from the folder and that it
    exists, is readable and holds an image.

    Raises s3_names.S3Error (no access for this user, bucket missing, access denied, unreachable) or
    DatasetError with a message for the user.
    """
    reader.head_bucket(location.bucket, location.prefix)
    seen = 0
    for page_no, page in enumerate(reader.list_pages(location.bucket, location.prefix)):
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


@transaction.atomic
def dataset_create_from_s3(
    *, project: Project, name: str, location: s3_names.S3Location, auto_label: bool, **fields
) -> Dataset:
    """Create a dataset and queue its import from an S3 folder. Atomic; the import starts after commit."""
    return jobs.dataset_start(
        project=project,
        name=name,
        status_message=f"Importing images from {location.uri}",
        source=ImportJob.Source.S3_FOLDER,
        parameters=_parameters(location, auto_label),
        **fields,
    )


@transaction.atomic
def dataset_add_images_from_s3(*, dataset: Dataset, location: s3_names.S3Location, auto_label: bool) -> ImportJob:
    """Import the keys of an S3 folder that the dataset does not hold yet."""
    dataset = services.dataset_update_begin(dataset=dataset, message=f"Adding images from {location.uri}")
    return import_job_start(dataset=dataset, location=location, auto_label=auto_label)


def import_job_start(*, dataset: Dataset, location: s3_names.S3Location, auto_label: bool) -> ImportJob:
    """The dataset's import job of the folder, queued once the caller's transaction commits."""
    return jobs.job_start(
        dataset=dataset, source=ImportJob.Source.S3_FOLDER, parameters=_parameters(location, auto_label)
    )


def _parameters(location: s3_names.S3Location, auto_label: bool) -> dict:
    return {"bucket": location.bucket, "prefix": location.prefix, "auto_label": auto_label}


def import_list(*, job_id: int) -> bool:
    """List the S3 folder page by page and store each page's images as a chunk, queueing the
    job's next chunks (jobs.chunks_queue). Fails the import, listing no further, when its new
    images would take the dataset past IMAGES_PER_DATASET.

    Idempotent: a page already stored (same sequence number) is not stored or counted again.
    Returns whether this call finished the import. Raises s3_names.S3Error; S3Unreachable is worth a retry,
    S3AccessRefused (the dataset's owner may no longer read the folder, checked before every page)
    fails the import.
    """
    job = ImportJob.objects.select_related("dataset").get(pk=job_id)
    if job.is_finished or job.listing_done:
        return False
    jobs.job_started(job=job)
    bucket, prefix, auto_label = job.parameters["bucket"], job.parameters["prefix"], job.parameters["auto_label"]
    before = jobs.dataset_images_before(job=job)
    seq = 0
    reader, share = jobs.job_s3(job=job), fair_share.reads()
    for seq, page in enumerate(share.pages(reader.user_id, reader.list_pages(bucket, prefix)), start=1):
        if ImportChunk.objects.filter(job=job, seq=seq, done=True).exists():
            continue
        images, skipped = [], []
        for obj in page:
            kc = rules.classify_key(prefix=prefix, key=obj.key, size=obj.size, auto_label=auto_label)
            if kc.kind is rules.KeyKind.IMAGE:
                images.append({"key": obj.key, "size": obj.size, "etag": obj.etag, "label": kc.label})
            elif kc.kind is rules.KeyKind.NOT_IMAGE:
                skipped.append(ImportReportItem(job=job, key=obj.key, reason=NOT_AN_IMAGE))
        refs = [f"s3://{bucket}/{item['key']}" for item in images]
        jobs.chunk_store(
            job=job,
            seq=seq,
            items=images,
            refs=refs,
            report=skipped,
            found=len(images),
            report_max=settings.IMPORT_SKIPPED_LISTED,
        )
        if error := jobs.images_limit_error(job_id=job.pk, before=before):
            # The listing stops here; chunks already queued may still finish.
            jobs.job_fail(job_id=job.pk, message=f"{error} The import stopped; the images imported so far are kept.")
            return False
        jobs.chunks_queue(job_id=job.pk)
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(listing_done=True, chunks_total=seq, heartbeat_at=timezone.now())
    return import_finish_if_done(job_id=job.pk)


def _object_error(exc: s3_names.S3Error) -> str | None:
    if isinstance(exc, s3_names.S3ObjectNotFound):
        return "The image is invalid: the object no longer exists in S3."
    if isinstance(exc, s3_names.S3AccessDenied):
        return "The image is invalid: access to the object was denied (the console needs s3:GetObject)."
    return None


def _image_fields(item: dict, header: Header) -> dict:
    """The Image fields of one listed object, its header read; a label too long to be one is dropped."""
    error_code = ErrorCode.ERROR_INVALID_IMAGE if header.error else ""
    error_message = header.error
    if item["label"] and len(item["label"]) > rules.MAX_LABEL_LENGTH:
        # spec §5.5: the image stays, without the label, and says why.
        item["label"] = None
        error_code = ErrorCode.ERROR_INVALID_LABEL_NAME_LENGTH
        error_message = (
            f"The folder name is too long to be a label: the maximum length is {rules.MAX_LABEL_LENGTH} characters."
        )
    problems = [{"code": error_code, "message": error_message, "level": "error"}] if error_code else []
    return {
        "format": header.format,
        "width": header.width,
        "height": header.height,
        "error_code": error_code,
        "error_message": error_message,
        "problems": problems,
        "needs_thumbnail": not error_code,
    }


def import_chunk(*, chunk_id: int) -> list[int]:
    """Read a chunk's headers (concurrently) and insert its images, labels and assignments in bulk.

    Idempotent: a done chunk is skipped, and the unique source-ref keeps a second run from duplicating.
    Returns the ids of the images it created that need a thumbnail. Raises S3Unreachable to be
    retried, S3AccessRefused when the dataset's owner may no longer read the folder.
    """
    chunk = jobs.chunk_pending(chunk_id=chunk_id)
    if chunk is None:
        return []
    job = chunk.job
    bucket = job.parameters["bucket"]
    reader = jobs.job_s3(job=job)
    reader.check(bucket, job.parameters["prefix"])
    headers = headers_read(reader, bucket, chunk.items, sized=True, s3_error=_object_error)
    fair_share.store_turn(reader.user_id)

    with transaction.atomic():
        locked = ImportChunk.objects.select_for_update().get(pk=chunk.pk)
        if locked.done:
            return []
        fields = [_image_fields(item, header) for item, header in zip(chunk.items, headers, strict=True)]
        names = sorted({item["label"] for item in chunk.items if item["label"]})
        label_ids = jobs.labels_ensure(dataset_id=job.dataset_id, names=names)
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
                    **image_fields,
                )
                for item, image_fields in zip(chunk.items, fields, strict=True)
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
        jobs.chunk_done(chunk=locked, job=job, image_ids=[pk for pk, _, _ in created])
    return [pk for pk, _, error in created if not error]


def import_finish_if_done(*, job_id: int) -> bool:
    """Mark the job succeeded and the dataset complete once listing and every chunk are done."""
    with transaction.atomic():
        job = jobs.job_finishable(job_id=job_id)
        if job is None:
            return False
        imported = job.images.count()
        skipped = f"{job.skipped} skipped (not images)."
        if job.skipped > settings.IMPORT_SKIPPED_LISTED:
            skipped = (
                f"{job.skipped:,} skipped (not images); the first {settings.IMPORT_SKIPPED_LISTED:,} "
                "are listed in the report."
            )
        jobs.job_succeed(
            job=job,
            message=f"{imported} imported, {skipped}",
            created=f"The dataset was successfully created from {job.source_location}.",
            added=f"{counted(imported, 'image')} {was_were(imported)} successfully added from {job.source_location}.",
            # Whatever this job found but did not insert was in the dataset already, including images
            # another import of the same dataset inserted while this one ran.
            already_present=max(job.found - imported, job.already_present),
        )
    return True
