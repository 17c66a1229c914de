"""Import images labeled by SageMaker Ground Truth: a dataset from a manifest file in S3 (spec §2.3, §5).

The import has the S3 folder import's shape (s3_folder.import_list / import_chunk /
import_finish_if_done) on the pipeline of jobs.py, so several workers share it and every step is idempotent:
  manifest_read            streams the manifest line by line through ground_truth_file.ManifestValidator,
                           stores its entries 1,000 at a time as ImportChunks and the lines the
                           console drops as report items; a terminal file error, or more images
                           than the dataset may hold, fails the import before any image exists,
                           otherwise the chunks are queued, a few at a time (jobs.chunks_queue);
  manifest_chunk           reads one chunk's image headers concurrently and inserts its images,
                           labels, label assignments and bounding boxes in bulk;
  manifest_finish_if_done  once every chunk is done, applies the cumulative 20% rule and completes
                           the dataset, or fails it and removes what this import inserted.

On the progress panel a manifest job reads: `found` = lines read, `skipped` = lines dropped (blank,
not JSON, too long, no or bad source-ref, a repeated source-ref), `already_present` = lines whose
image the dataset held already.
"""

from __future__ import annotations

import contextlib
import posixpath
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
from ..errors import MESSAGES, DatasetError, ErrorCode
from ..formats import ground_truth, ground_truth_file
from ..models import BoundingBox, Dataset, Image, ImageLabel, ImportChunk, ImportJob, ImportReportItem, Label
from . import fair_share, jobs
from .chunk_insert import labeled_chunk_insert
from .headers import headers_read
from .manifest_entries import image_of, item_of

CHUNK_SIZE = 1000  # entries per ImportChunk, as the S3 folder import's listing pages
# A line of more bytes than this has more than MAX_LINE_LENGTH characters (UTF-8 takes at most 4
# bytes a character), so the reader never holds more of one line.
MAX_LINE_BYTES = 4 * ground_truth.MAX_LINE_LENGTH + 3
DELETE_BATCH = 2000

MESSAGE_MANIFEST_INACCESSIBLE = "The manifest file extension or contents are invalid."
MESSAGE_MANIFEST_PERMISSIONS = "The S3 bucket permissions are incorrect."
MESSAGE_INVALID_IMAGE = "The image is invalid. Check S3 path and/or image properties."
MESSAGE_CREATED = "The dataset was successfully created from the manifest file."
BLANK_LINE_REASON = "The line is blank."


@dataclass(frozen=True)
class ManifestLocation:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _location_error(message: str) -> DatasetError:
    return DatasetError(message, field="manifest_location")


def manifest_location_parse(value: str) -> ManifestLocation:
    """Parse `s3://bucket/path/x.manifest` or `bucket/path/x.manifest`. Raises DatasetError (manifest_location)."""
    text = (value or "").strip()
    example = "for example s3://bucket/Ground-Truth-Job-Name/manifests/output/output.manifest"
    if not text:
        raise _location_error(f"Enter the S3 location of the .manifest file, {example}.")
    if s3_names.has_other_scheme(text):
        raise _location_error("The .manifest file location must start with s3:// or a bucket name.")
    bucket, _, key = text.removeprefix("s3://").partition("/")
    if not bucket:
        raise _location_error(f"The .manifest file location needs a bucket name, {example}.")
    if not s3_names.bucket_name_valid(bucket):
        raise _location_error(
            f"“{bucket}” is not a valid bucket name: use 3–63 lower-case letters, digits, dots and hyphens."
        )
    if not key or key.endswith("/"):
        raise _location_error(f"The .manifest file location needs the file's key after the bucket name, {example}.")
    if any(ch in key for ch in "\x00\r\n"):
        raise _location_error("The .manifest file location contains characters that are not allowed.")
    if len(key.encode("utf-8")) > s3_names.MAX_KEY_BYTES:
        raise _location_error("The .manifest file location is too long: an S3 key has at most 1,024 bytes.")
    return ManifestLocation(bucket=bucket, key=key)


def manifest_check(*, location: ManifestLocation, reader: UserS3) -> None:
    """Check, before anything is created, that the user may import the manifest file and it can be read.

    Raises s3_names.S3Error (no access for this user, bucket missing, access denied, S3 unreachable) or DatasetError on
    manifest_location for a missing object or a key without a file extension (spec §5.5 A,
    ERROR_MANIFEST_INACCESSIBLE_OR_UNSUPPORTED_FORMAT). Its contents are checked by the import.
    """
    name = posixpath.basename(location.key)
    stem, extension = posixpath.splitext(name)
    if not stem or not extension[1:]:
        raise _location_error(
            f"{MESSAGE_MANIFEST_INACCESSIBLE} The file name “{name}” has no file extension; "
            "a manifest file's name ends in .manifest."
        )
    reader.head_bucket(location.bucket, location.key)
    try:
        reader.head_object(location.bucket, location.key)
    except s3_names.S3ObjectNotFound as exc:
        raise _location_error(f"{MESSAGE_MANIFEST_INACCESSIBLE} The file {location.uri} was not found.") from exc


@transaction.atomic
def dataset_create_from_manifest(*, project: Project, name: str, location: ManifestLocation, **fields) -> Dataset:
    """Create a dataset (CREATE_IN_PROGRESS) and queue its import from the manifest once this commits.

    Atomic. Raises DatasetError on name when the project has a dataset of that name.
    """
    parameters = {"bucket": location.bucket, "key": location.key}
    message = f"Importing images from the manifest file {location.uri}"
    return jobs.dataset_start(
        project=project,
        name=name,
        status_message=message,
        source=ImportJob.Source.MANIFEST,
        parameters=parameters,
        **fields,
    )


@transaction.atomic
def dataset_add_images_from_manifest(*, dataset: Dataset, location: ManifestLocation) -> ImportJob:
    """Add the manifest's images that the dataset does not hold yet (UPDATE_IN_PROGRESS).

    Lines whose source-ref the dataset holds already are counted, not changed. Atomic; raises
    DatasetError while the dataset is being created or updated.
    """
    dataset = services.dataset_update_begin(
        dataset=dataset, message=f"Adding images from the manifest file {location.uri}"
    )
    parameters = {"bucket": location.bucket, "key": location.key}
    return jobs.job_start(dataset=dataset, source=ImportJob.Source.MANIFEST, parameters=parameters)


# --- 1. reading the manifest ----------------------------------------------------------------


@dataclass
class _Batch:
    """The lines read since the last chunk was stored."""

    items: list[dict]
    dropped: list[ImportReportItem]
    lines: int = 0


def _chunk_store(*, job: ImportJob, seq: int, batch: _Batch) -> None:
    refs = [item["ref"] for item in batch.items]
    jobs.chunk_store(job=job, seq=seq, items=batch.items, refs=refs, report=batch.dropped, found=batch.lines)


def _report_item(job: ImportJob, line_no: int, result: ground_truth.Dropped | ground_truth.Blank) -> ImportReportItem:
    if isinstance(result, ground_truth.Blank):
        return ImportReportItem(job=job, key=f"line {line_no}", code="", reason=BLANK_LINE_REASON)
    return ImportReportItem(job=job, key=f"line {line_no}", code=result.reason_code, reason=result.message[:255])


def manifest_read(*, job_id: int) -> bool:
    """Read the manifest as it streams and store its entries as chunks; then queue them.

    Streams: holds one line and one chunk's entries (plus the validator's source-refs and labels).
    A terminal file error (spec §5.5 A, C) fails the import with the console's message as the
    dataset's StatusMessage (CLIENT_ERROR) before any image exists. Idempotent: a chunk stored by an
    earlier run is neither stored nor counted again. Returns whether this call finished the import.
    Raises S3Unreachable to be retried.
    """
    job = ImportJob.objects.get(pk=job_id)
    if job.is_finished or job.listing_done:
        return False
    jobs.job_started(job=job)
    bucket, key = job.parameters["bucket"], job.parameters["key"]
    reader = jobs.job_s3(job=job)
    try:
        size = reader.head_object(bucket, key).size
    except (s3_names.S3ObjectNotFound, s3_names.S3BucketNotFound) as exc:
        jobs.job_fail(job_id=job.pk, message=f"{MESSAGE_MANIFEST_INACCESSIBLE} {exc}")
        return False
    except s3_names.S3AccessDenied as exc:
        jobs.job_fail(job_id=job.pk, message=f"{MESSAGE_MANIFEST_PERMISSIONS} {exc}")
        return False

    validator = ground_truth_file.ManifestValidator(size_bytes=size)
    batch = _Batch(items=[], dropped=[])
    seq = entries = dropped = 0
    refused = ""
    if validator.error is None:
        with contextlib.closing(reader.iter_lines(bucket, key, max_line_bytes=MAX_LINE_BYTES)) as lines:
            for line_no, raw in enumerate(lines, start=1):
                # Not UTF-8: the undecodable bytes become lone surrogates, which the parser refuses.
                result = validator.feed(raw.decode("utf-8", "surrogateescape"))
                if validator.error is not None:
                    break
                batch.lines += 1
                if isinstance(result, ground_truth.ManifestEntry):
                    entries += 1
                    item = item_of(line_no, result)
                    if not reader.allows(*s3_names.split_uri(item["ref"])):
                        refused = (
                            f"{s3_access.refused_message(*s3_names.split_uri(item['ref']))} It is on line {line_no} of "
                            "the manifest, so no image was imported."
                        )
                        break
                    batch.items.append(item)
                    if len(batch.items) == CHUNK_SIZE:
                        seq += 1
                        _chunk_store(job=job, seq=seq, batch=batch)
                        batch = _Batch(items=[], dropped=[])
                else:
                    # Every dropped line is counted; the first IMPORT_SKIPPED_LISTED are listed, so a
                    # file of a million blank lines holds neither memory nor a million report rows.
                    dropped += 1
                    if dropped <= settings.IMPORT_SKIPPED_LISTED:
                        batch.dropped.append(_report_item(job, line_no, result))
    verdict = validator.finish()

    if verdict.error is not None or refused:
        with transaction.atomic():
            ImportChunk.objects.filter(job=job).delete()
            ImportReportItem.objects.bulk_create(batch.dropped, ignore_conflicts=True)
            ImportJob.objects.filter(pk=job.pk).update(
                found=verdict.total_lines,
                skipped=verdict.total_lines - entries,
                chunks_total=0,
                chunks_done=0,
                heartbeat_at=timezone.now(),
            )
            jobs.job_fail(job_id=job.pk, message=refused or verdict.error.message)
        return False

    if batch.items or batch.dropped:
        seq += 1
        _chunk_store(job=job, seq=seq, batch=batch)
    if error := jobs.images_limit_error(job_id=job.pk, before=jobs.dataset_images_before(job=job)):
        with transaction.atomic():
            ImportChunk.objects.filter(job=job).delete()
            jobs.job_fail(job_id=job.pk, message=f"{error} No image was imported.")
        return False
    with transaction.atomic():
        parameters = {**job.parameters, "image_bucket": verdict.bucket, "invalid_lines": verdict.invalid_lines}
        ImportJob.objects.filter(pk=job.pk).update(
            listing_done=True,
            chunks_total=seq,
            found=verdict.total_lines,
            skipped=verdict.total_lines - entries,
            parameters=parameters,
            heartbeat_at=timezone.now(),
        )
        jobs.chunks_queue(job_id=job.pk)
    return manifest_finish_if_done(job_id=job.pk)


# --- 2. one chunk ---------------------------------------------------------------------------


def manifest_chunk(*, chunk_id: int) -> list[int]:
    """Read a chunk's image headers (concurrently) and insert its images, labels and boxes in bulk.

    Every entry becomes an image, those with line errors too (spec §5.5 D): its problems list the
    image's, the line's and the boxes' errors and its warnings. Idempotent: a done chunk is
    skipped, and the unique source-ref keeps a second run from duplicating. Returns the ids of the
    images it created that need a thumbnail. Raises S3Unreachable to be retried, S3AccessRefused when
    the dataset's owner may no longer read the manifest or one of its images.
    """
    chunk = jobs.chunk_pending(chunk_id=chunk_id)
    if chunk is None:
        return []
    job = chunk.job
    bucket = job.parameters["image_bucket"]
    reader = jobs.job_s3(job=job)
    reader.check(job.parameters["bucket"], job.parameters["key"])
    headers = headers_read(
        reader, bucket, chunk.items, sized=False, s3_error=lambda exc: f"{MESSAGE_INVALID_IMAGE} {exc}"
    )
    images = {item["ref"]: (item, *image_of(item, header)) for item, header in zip(chunk.items, headers, strict=True)}

    fair_share.store_turn(reader.user_id)
    created = labeled_chunk_insert(chunk=chunk, job=job, images=images)
    return [pk for pk, _, needs_thumbnail in created if needs_thumbnail]


# --- 3. the end -----------------------------------------------------------------------------


def _invalid_images(job: ImportJob) -> int:
    """Images of valid lines that turned out unreadable or outside the limits (lines with a line
    error count already among the validator's invalid lines)."""
    line_codes = ground_truth.LINE_ERROR_CODES
    problem_lists = (
        job.images.filter(error_code=ErrorCode.ERROR_INVALID_IMAGE)
        .values_list("problems", flat=True)
        .iterator(chunk_size=DELETE_BATCH)
    )
    return sum(1 for problems in problem_lists if not any(p.get("code") in line_codes for p in problems))


def inserted_remove(job: ImportJob) -> None:
    """Remove the images this job inserted, with their labels and boxes, and the labels it created
    that nothing uses now: a failed create leaves an empty dataset, a failed update the dataset as it was."""
    ids = list(job.images.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), DELETE_BATCH):
        batch = ids[start : start + DELETE_BATCH]
        ImageLabel.objects.filter(image_id__in=batch).delete()
        BoundingBox.objects.filter(image_id__in=batch).delete()
        Image.objects.filter(pk__in=batch).delete()
    created_labels = Label.objects.filter(dataset_id=job.dataset_id, created_at__gte=job.created_at)
    created_labels.filter(image_labels__isnull=True, boxes__isnull=True).delete()
    services.dataset_changed(dataset_id=job.dataset_id)


def manifest_finish_if_done(*, job_id: int) -> bool:
    """Once reading and every chunk are done, complete or fail the import (idempotent).

    The cumulative 20% rule (spec §5.4): the validator's invalid lines plus valid lines whose image
    is invalid, more than 20% of all lines, fail the import with ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST
    and remove what it inserted. Otherwise the dataset is CREATE_COMPLETE (UPDATE_COMPLETE) with
    SUCCESS. Returns whether the import succeeded now, so its thumbnails can be queued.
    """
    with transaction.atomic():
        job = jobs.job_finishable(job_id=job_id)
        if job is None:
            return False
        invalid_lines = job.parameters.get("invalid_lines", 0)
        invalid_images = _invalid_images(job)
        if rules.too_many_invalid(invalid=invalid_lines + invalid_images, total=job.found):
            inserted_remove(job)
            jobs.job_fail(job_id=job.pk, message=MESSAGES[ErrorCode.ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST])
            ImportJob.objects.filter(pk=job.pk).update(
                message=f"{MESSAGES[ErrorCode.ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST]} "
                f"{invalid_lines + invalid_images:,} of {counted(job.found, 'line')} are invalid, more than "
                f"{rules.MAX_INVALID_PERCENT}%: {invalid_lines} in the file and {invalid_images} "
                "whose image is missing or invalid. No image was imported."
            )
            return False
        imported = job.images.count()
        with_errors = job.images.exclude(error_code="").count()
        message = (
            f"{imported:,} imported, {with_errors:,} with errors or warnings, {counted(job.skipped, 'line')} dropped."
        )
        if job.skipped > settings.IMPORT_SKIPPED_LISTED:
            message += f" The first {settings.IMPORT_SKIPPED_LISTED:,} are listed in the report."

        if job.already_present:
            message += f" {job.already_present:,} already in the dataset."
        jobs.job_succeed(
            job=job,
            message=message,
            created=MESSAGE_CREATED,
            added=f"{counted(imported, 'image')} {was_were(imported)} successfully added from the manifest file.",
        )
    return True
