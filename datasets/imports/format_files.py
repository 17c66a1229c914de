"""Import from COCO, YOLO, Pascal VOC or CSV files in S3: the console's fifth image location.

The manifest import's shape on the pipeline of jobs.py, every step idempotent:
  format_read            reads the format's files (format_read.py), maps every item to the dataset's
                         labels and boxes in pixels, checks each image's S3 URI against the user's
                         grants, and stores the items 1,000 at a time as chunks (a repeated image is
                         dropped and listed in the report); a file that is not of the format fails
                         the import before any image exists;
  format_chunk           reads one chunk's image headers (a missing image file is an image with
                         ERROR_INVALID_IMAGE) and inserts its images, labels and boxes in bulk;
  format_finish_if_done  applies the 20% rule to the items with a problem and completes the dataset,
                         or fails it and removes what this import inserted.
Every problem is reported per item (an unknown class id, a box outside the image, a missing image
file) on the image, in the job's CSV report.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from customlabels import s3_names
from customlabels.text import counted, was_were
from projects import s3_access
from projects.models import Project
from projects.s3_access import UserS3

from .. import rules, services
from ..errors import DatasetError
from ..formats.records import FormatError
from ..models import Dataset, ImportChunk, ImportJob, ImportReportItem
from . import fair_share, jobs
from .chunk_insert import labeled_chunk_insert
from .format_items import item_of
from .format_read import COCO, CSV, VOC, YOLO, format_items_read
from .headers import header_read
from .manifest import inserted_remove
from .manifest_entries import image_of

CHUNK_SIZE = 1000
FORMATS = {
    COCO: ("COCO", (".json",)),
    YOLO: ("YOLO", (".yaml", ".yml")),
    VOC: ("Pascal VOC", ()),
    CSV: ("CSV", (".csv",)),
}
MESSAGE_INVALID_IMAGE = "The image file is missing or invalid. Check its S3 path and the image."


@dataclass(frozen=True)
class FormatLocation:
    """The format and where its files are: a file (COCO .json, YOLO data.yaml, .csv) or, for Pascal
    VOC, the folder that holds `Annotations/` (key ends with "/")."""

    format: str
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        return FORMATS[self.format][0]


def _error(message: str) -> DatasetError:
    return DatasetError(message, field="format_location")


def format_location_parse(*, fmt: str, value: str) -> FormatLocation:
    """Parse the S3 location of the format's files. Raises DatasetError (format_location)."""
    if fmt not in FORMATS:
        raise DatasetError("Choose the format of the files: COCO, YOLO, Pascal VOC or CSV.", field="format")
    name, extensions = FORMATS[fmt]
    if fmt == VOC:
        try:
            location = s3_names.parse_location(value)
        except s3_names.S3LocationInvalid as exc:
            raise _error(f"{exc} For Pascal VOC, give the folder that holds Annotations/.") from exc
        return FormatLocation(format=fmt, bucket=location.bucket, key=location.prefix)
    text = (value or "").strip()
    example = {COCO: "annotations.json", YOLO: "data.yaml", CSV: "labels.csv"}[fmt]
    if not text:
        raise _error(f"Enter the S3 location of the {name} file, for example s3://bucket/dataset/{example}.")
    if s3_names.has_other_scheme(text):
        raise _error(f"The {name} file location must start with s3:// or a bucket name.")
    bucket, _, key = text.removeprefix("s3://").partition("/")
    if not s3_names.bucket_name_valid(bucket):
        raise _error(f"“{bucket}” is not a valid bucket name: use 3–63 lower-case letters, digits, dots and hyphens.")
    if not key.lower().endswith(extensions):
        raise _error(f"A {name} file's name ends in {' or '.join(extensions)}, for example s3://{bucket}/{example}.")
    if any(ch in key for ch in "\x00\r\n") or len(key.encode()) > s3_names.MAX_KEY_BYTES:
        raise _error(f"The {name} file location is not a valid S3 key.")
    return FormatLocation(format=fmt, bucket=bucket, key=key)


def format_check(*, location: FormatLocation, reader: UserS3) -> None:
    """Check before anything is created that the user may import the files and the file (VOC: the
    folder's bucket) is there. Raises s3_names.S3Error or DatasetError (format_location)."""
    reader.head_bucket(location.bucket, location.key)
    if location.format == VOC:
        return
    try:
        reader.head_object(location.bucket, location.key)
    except s3_names.S3ObjectNotFound as exc:
        raise _error(f"The {location.name} file {location.uri} was not found.") from exc


def _parameters(location: FormatLocation) -> dict:
    return {"format": location.format, "bucket": location.bucket, "key": location.key}


@transaction.atomic
def dataset_create_from_format(*, project: Project, name: str, location: FormatLocation, **fields) -> Dataset:
    """Create a dataset (CREATE_IN_PROGRESS) and queue its import once this commits. Atomic; raises
    DatasetError on name when the project has a dataset of that name."""
    return jobs.dataset_start(
        project=project,
        name=name,
        status_message=f"Importing images from the {location.name} files at {location.uri}",
        source=ImportJob.Source.FORMAT,
        parameters=_parameters(location),
        **fields,
    )


@transaction.atomic
def dataset_add_images_from_format(*, dataset: Dataset, location: FormatLocation) -> ImportJob:
    """Add the files' images that the dataset does not hold yet (UPDATE_IN_PROGRESS). Atomic;
    raises DatasetError while the dataset is being created or updated."""
    dataset = services.dataset_update_begin(
        dataset=dataset, message=f"Adding images from the {location.name} files at {location.uri}"
    )
    return jobs.job_start(dataset=dataset, source=ImportJob.Source.FORMAT, parameters=_parameters(location))


def format_read(*, job_id: int) -> bool:
    """Read the files and store their items as chunks, then queue them. A file that is not of the
    format, or an image the user may not read, fails the import before any image exists. Idempotent.
    Returns whether this call finished the import. Raises S3Unreachable to be retried."""
    job = ImportJob.objects.get(pk=job_id)
    if job.is_finished or job.listing_done:
        return False
    jobs.job_started(job=job)
    fmt, bucket, key = job.parameters["format"], job.parameters["bucket"], job.parameters["key"]
    reader = jobs.job_s3(job=job)
    try:
        read = format_items_read(fmt=fmt, bucket=bucket, key=key, reader=reader)
    except FormatError as exc:
        jobs.job_fail(job_id=job.pk, message=f"The {FORMATS[fmt][0]} files could not be read: {exc}")
        return False
    except (s3_names.S3ObjectNotFound, s3_names.S3BucketNotFound, s3_names.S3AccessDenied) as exc:
        jobs.job_fail(job_id=job.pk, message=f"The {FORMATS[fmt][0]} files could not be read: {exc}")
        return False
    items, dropped, seen = [], [], set()
    for n, read_item in enumerate(read, start=1):
        if not read_item.ref or read_item.ref in seen:
            reason = "No image file is named." if not read_item.ref else f"{read_item.ref} is listed before."
            dropped.append(ImportReportItem(job=job, key=f"{read_item.source} ({n})"[:1000], reason=reason[:255]))
            continue
        seen.add(read_item.ref)
        try:
            image_bucket, image_key = s3_names.split_uri(read_item.ref)
        except s3_names.S3LocationInvalid:
            dropped.append(ImportReportItem(job=job, key=read_item.source, reason="The image is not an S3 URI."))
            continue
        if not reader.allows(image_bucket, image_key):
            message = f"{s3_access.refused_message(image_bucket, image_key)} It is named by {read_item.source}, so no image was imported."
            jobs.job_fail(job_id=job.pk, message=message)
            return False
        items.append(item_of(n, read_item, bucket=image_bucket, key=image_key))
    for seq, start in enumerate(range(0, max(len(items), 1), CHUNK_SIZE), start=1):
        batch = items[start : start + CHUNK_SIZE]
        report = dropped if seq == 1 else []
        jobs.chunk_store(
            job=job, seq=seq, items=batch, refs=[i["ref"] for i in batch], report=report, found=len(batch) + len(report)
        )
    if error := jobs.images_limit_error(job_id=job.pk, before=jobs.dataset_images_before(job=job)):
        with transaction.atomic():
            ImportChunk.objects.filter(job=job).delete()
            jobs.job_fail(job_id=job.pk, message=f"{error} No image was imported.")
        return False
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(listing_done=True, chunks_total=seq, heartbeat_at=timezone.now())
        jobs.chunks_queue(job_id=job.pk)
    return format_finish_if_done(job_id=job.pk)


def format_chunk(*, chunk_id: int) -> list[int]:
    """Read one chunk's image headers concurrently and insert its images, labels and boxes.
    Idempotent. Returns the ids of its images that need a thumbnail. Raises S3Unreachable to be
    retried, S3AccessRefused when the owner may no longer read the files or an image."""
    chunk = jobs.chunk_pending(chunk_id=chunk_id)
    if chunk is None:
        return []
    job = chunk.job
    reader = jobs.job_s3(job=job)
    reader.check(job.parameters["bucket"], job.parameters["key"])

    def header(item: dict):
        return header_read(
            reader, item["bucket"], item["key"], size=None, s3_error=lambda exc: f"{MESSAGE_INVALID_IMAGE} {exc}"
        )

    with ThreadPoolExecutor(max_workers=settings.IMPORT_HEADER_THREADS) as pool:
        headers = list(pool.map(header, chunk.items))
    images = {}
    for item, head in zip(chunk.items, headers, strict=True):
        # An image that can't be read has no size to place its boxes on: they are not kept.
        fields, boxes = image_of({**item, "boxes": []} if head.error else item, head)
        images[item["ref"]] = (item, fields, boxes)
    fair_share.store_turn(reader.user_id)
    created = labeled_chunk_insert(chunk=chunk, job=job, images=images)
    return [pk for pk, _, needs_thumbnail in created if needs_thumbnail]


def format_finish_if_done(*, job_id: int) -> bool:
    """Once reading and every chunk are done, complete or fail the import (idempotent). The 20% rule
    (spec §5.4): items with a problem (dropped, a bad box or label, a missing or invalid image)
    more than 20% of all fail the import and remove what it inserted. Returns whether it succeeded."""
    with transaction.atomic():
        job = jobs.job_finishable(job_id=job_id)
        if job is None:
            return False
        name = FORMATS[job.parameters["format"]][0]
        imported = job.images.count()
        with_errors = job.images.exclude(error_code="").count()
        # Each item with a problem is an image with an error (a box, a label, its file), or was dropped.
        invalid = job.skipped + with_errors
        if rules.too_many_invalid(invalid=invalid, total=job.found):
            # The images go, their problems stay in the report.
            problems = job.images.exclude(error_code="").values_list("source_ref", "error_code", "error_message")
            ImportReportItem.objects.bulk_create(
                [ImportReportItem(job=job, key=ref, code=code, reason=reason[:255]) for ref, code, reason in problems],
                ignore_conflicts=True,
            )
            inserted_remove(job)
            jobs.job_fail(
                job_id=job.pk,
                message=(
                    f"Too many items are invalid: {invalid:,} of {counted(job.found, 'item')} in the {name} files "
                    f"have a problem, more than {rules.MAX_INVALID_PERCENT}%. No image was imported; the "
                    "import's report lists each problem."
                ),
            )
            return False
        message = f"{imported:,} imported, {with_errors:,} with errors, {counted(job.skipped, 'item')} dropped."
        if job.already_present:
            message += f" {job.already_present:,} already in the dataset."
        jobs.job_succeed(
            job=job,
            message=message,
            created=f"The dataset was successfully created from the {name} files.",
            added=f"{counted(imported, 'image')} {was_were(imported)} successfully added from the {name} files.",
        )
    return True
