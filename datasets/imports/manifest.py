"""Import images labeled by SageMaker Ground Truth: a dataset from a manifest file in S3 (spec §2.3, §5).

The import has the S3 folder import's shape (services.import_list / import_chunk /
import_finish_if_done), so several workers share it and every step is idempotent:
  manifest_read            streams the manifest line by line through ground_truth_file.ManifestValidator,
                           stores its entries 1,000 at a time as ImportChunks and the lines the
                           console drops as report items; a terminal file error fails the import
                           before any image exists, otherwise the chunks are queued;
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
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from customlabels import s3, s3_names
from customlabels.text import counted, was_were
from projects.models import Project

from .. import rules, services
from ..errors import MESSAGES, DatasetError, ErrorCode
from ..formats import ground_truth, ground_truth_file
from ..models import BoundingBox, Dataset, Image, ImageLabel, ImportChunk, ImportJob, ImportReportItem, Label

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

_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")


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
    if _SCHEME_RE.match(text) and not text.startswith("s3://"):
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


def manifest_check(*, location: ManifestLocation) -> None:
    """Check, before anything is created, that the manifest file can be read.

    Raises s3.S3Error (bucket missing, access denied, S3 unreachable) or DatasetError on
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
    s3.head_bucket(location.bucket)
    try:
        s3.head_object(location.bucket, location.key)
    except s3.S3ObjectNotFound as exc:
        raise _location_error(f"{MESSAGE_MANIFEST_INACCESSIBLE} The file {location.uri} was not found.") from exc


@transaction.atomic
def dataset_create_from_manifest(*, project: Project, name: str, location: ManifestLocation) -> Dataset:
    """Create a dataset (CREATE_IN_PROGRESS) and queue its import from the manifest once this commits.

    Atomic. Raises DatasetError on name when the project has a dataset of that name.
    """
    dataset = services.dataset_new(
        project=project,
        name=name,
        status=Dataset.Status.CREATE_IN_PROGRESS,
        status_message=f"Importing images from the manifest file {location.uri}",
    )
    _job_start(dataset=dataset, location=location)
    return dataset


@transaction.atomic
def dataset_add_images_from_manifest(*, dataset: Dataset, location: ManifestLocation) -> ImportJob:
    """Add the manifest's images that the dataset does not hold yet (UPDATE_IN_PROGRESS).

    Lines whose source-ref the dataset holds already are counted, not changed. Atomic; raises
    DatasetError while the dataset is being created or updated.
    """
    dataset = services.dataset_update_begin(
        dataset=dataset, message=f"Adding images from the manifest file {location.uri}"
    )
    return _job_start(dataset=dataset, location=location)


def _job_start(*, dataset: Dataset, location: ManifestLocation) -> ImportJob:
    from ..tasks import manifest_read_task

    job = ImportJob.objects.create(
        dataset=dataset,
        source=ImportJob.Source.MANIFEST,
        parameters={"bucket": location.bucket, "key": location.key},
    )
    services._enqueue(manifest_read_task, job.pk, queue_failed_job=job.pk)
    return job


# --- 1. reading the manifest ----------------------------------------------------------------


def _problems(errors) -> list[list[str]]:
    return [[error.code, error.message] for error in errors]


def _item(line_no: int, entry: ground_truth.ManifestEntry) -> dict:
    """What a chunk needs of one entry, in plain JSON."""
    return {
        "line": line_no,
        "ref": entry.source_ref,
        "key": entry.key,
        "labels": list(entry.labels),
        "boxes": [[b.label, b.left, b.top, b.width, b.height, _problems(b.errors)] for b in entry.boxes],
        "size": list(entry.image_size) if entry.image_size else None,
        "errors": _problems(entry.errors),
        "warnings": _problems(entry.warnings),
        "valid": entry.is_valid,
    }


@dataclass
class _Batch:
    """The lines read since the last chunk was stored."""

    items: list[dict]
    dropped: list[ImportReportItem]
    lines: int = 0


def _chunk_store(*, job: ImportJob, seq: int, batch: _Batch) -> None:
    """Store one chunk with its dropped lines and counts, once: a chunk stored before is left as it is."""
    refs = [item["ref"] for item in batch.items]
    present = set(
        Image.objects.filter(dataset_id=job.dataset_id, source_ref__in=refs).values_list("source_ref", flat=True)
    )
    items = [item for item in batch.items if item["ref"] not in present]
    with transaction.atomic():
        _, created = ImportChunk.objects.get_or_create(job=job, seq=seq, defaults={"items": items, "done": not items})
        if created:
            ImportReportItem.objects.bulk_create(batch.dropped, ignore_conflicts=True)
            ImportJob.objects.filter(pk=job.pk).update(
                found=F("found") + batch.lines,
                skipped=F("skipped") + len(batch.dropped),
                already_present=F("already_present") + len(present),
                chunks_total=seq,
                chunks_done=F("chunks_done") + (0 if items else 1),
                heartbeat_at=timezone.now(),
            )


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
    from ..tasks import manifest_chunk_task

    job = ImportJob.objects.get(pk=job_id)
    if job.is_finished or job.listing_done:
        return False
    ImportJob.objects.filter(pk=job.pk, started_at__isnull=True).update(
        started_at=timezone.now(), status=ImportJob.Status.IN_PROGRESS
    )
    bucket, key = job.parameters["bucket"], job.parameters["key"]
    try:
        size = s3.head_object(bucket, key).size
    except (s3.S3ObjectNotFound, s3.S3BucketNotFound) as exc:
        services.import_fail(job_id=job.pk, message=f"{MESSAGE_MANIFEST_INACCESSIBLE} {exc}")
        return False
    except s3.S3AccessDenied as exc:
        services.import_fail(job_id=job.pk, message=f"{MESSAGE_MANIFEST_PERMISSIONS} {exc}")
        return False

    validator = ground_truth_file.ManifestValidator(size_bytes=size)
    batch = _Batch(items=[], dropped=[])
    seq = entries = 0
    if validator.error is None:
        with contextlib.closing(s3.iter_lines(bucket, key, max_line_bytes=MAX_LINE_BYTES)) as lines:
            for line_no, raw in enumerate(lines, start=1):
                # Not UTF-8: the undecodable bytes become lone surrogates, which the parser refuses.
                result = validator.feed(raw.decode("utf-8", "surrogateescape"))
                if validator.error is not None:
                    break
                batch.lines += 1
                if isinstance(result, ground_truth.ManifestEntry):
                    entries += 1
                    batch.items.append(_item(line_no, result))
                    if len(batch.items) == CHUNK_SIZE:
                        seq += 1
                        _chunk_store(job=job, seq=seq, batch=batch)
                        batch = _Batch(items=[], dropped=[])
                else:
                    batch.dropped.append(_report_item(job, line_no, result))
    verdict = validator.finish()

    if verdict.error is not None:
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
            services.import_fail(job_id=job.pk, message=verdict.error.message)
        return False

    if batch.items or batch.dropped:
        seq += 1
        _chunk_store(job=job, seq=seq, batch=batch)
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
        for chunk_id in ImportChunk.objects.filter(job=job, done=False).order_by("seq").values_list("pk", flat=True):
            services._enqueue(manifest_chunk_task, chunk_id)
    return manifest_finish_if_done(job_id=job.pk)


# --- 2. one chunk ---------------------------------------------------------------------------


def _header_read(bucket: str, key: str) -> dict:
    """One image's format, size and ETag from ranged GETs (as services._read_header), with the
    image's error: "image_error" is empty when the file is a PNG or JPEG within the limits of §4."""
    fields = {"format": "", "width": None, "height": None, "size": None, "etag": "", "image_error": ""}
    length = rules.HEADER_BYTES
    while True:
        try:
            data, size, etag = s3.read_range_sized(bucket, key, length)
        except s3.S3Unreachable:
            raise
        except s3.S3Error as exc:
            fields["image_error"] = f"{MESSAGE_INVALID_IMAGE} {exc}"
            return fields
        fields.update(size=size, etag=etag[:128])
        complete = len(data) < length or len(data) >= size
        try:
            header = rules.image_header_parse(data, complete=complete)
            break
        except rules.HeaderIncomplete:
            if length >= rules.HEADER_BYTES_MAX:
                fields["image_error"] = "The image is invalid: no image size found in its first 1 MB."
                return fields
            length *= 8
        except rules.InvalidImage as exc:
            fields["image_error"] = f"The image is invalid: {exc}."
            return fields
    fields.update(format=header.format, width=header.width, height=header.height)
    fields["image_error"] = rules.image_limits_error(width=header.width, height=header.height, size=size) or ""
    return fields


def _box_fit(
    box: list, *, size: list | None, width: int | None, height: int | None
) -> tuple[int, int, int, int] | None:
    """The box in the real image's pixels, or None when it is too small there.

    A box is drawn on the image_size the manifest gives; on an image of another size it is scaled
    to that size and kept inside it (spec §5.3). Unknown real size: the manifest's pixels stand.
    """
    _, left, top, w, h, _ = box
    if not (size and width and height) or (size[0], size[1]) == (width, height):
        return left, top, w, h
    sx, sy = width / size[0], height / size[1]
    x0, y0 = max(0, round(left * sx)), max(0, round(top * sy))
    x1, y1 = min(width, round((left + w) * sx)), min(height, round((top + h) * sy))
    if rules.box_too_small(width=x1 - x0, height=y1 - y0, image_width=width, image_height=height):
        return None
    return x0, y0, x1 - x0, y1 - y0


def _image_of(item: dict, header: dict) -> tuple[dict, list[tuple[str, int, int, int, int]]]:
    """The Image fields for one entry and its usable boxes in image pixels."""
    image_error = header["image_error"]
    problems = []
    if image_error:
        problems.append({"code": ErrorCode.ERROR_INVALID_IMAGE, "message": image_error, "level": "error"})
    problems += [{"code": code, "message": message, "level": "error"} for code, message in item["errors"]]
    boxes = []
    for n, box in enumerate(item["boxes"], start=1):
        errors = box[5]
        fitted = None if errors else _box_fit(box, size=item["size"], width=header["width"], height=header["height"])
        if not errors and fitted is None:
            code = ErrorCode.ERROR_BOUNDING_BOX_TOO_SMALL
            errors = [[code, MESSAGES[code]]]
        problems += [{"code": code, "message": message, "level": "error", "box": n} for code, message in errors]
        if fitted is not None:
            boxes.append((box[0], *fitted))
    # An image the console exported as unlabeled (cl-metadata is_labeled false) comes back as an
    # unlabeled image, under "Unlabeled" as before it left: that warning is about training, not the image.
    problems += [
        {"code": code, "message": message, "level": "warning"}
        for code, message in item["warnings"]
        if code != ErrorCode.WARNING_UNANNOTATED_RECORD
    ]
    headline = next((p for p in problems if p["level"] == "error"), problems[0] if problems else None)
    fields = {
        "format": header["format"],
        "width": header["width"],
        "height": header["height"],
        "size": header["size"],
        "etag": header["etag"],
        "problems": problems,
        "error_code": headline["code"] if headline else "",
        "error_message": headline["message"] if headline else "",
        "needs_thumbnail": not image_error,
        "is_labeled": bool(item["labels"] or boxes),
    }
    return fields, boxes


def manifest_chunk(*, chunk_id: int) -> list[int]:
    """Read a chunk's image headers (concurrently) and insert its images, labels and boxes in bulk.

    Every entry becomes an image, those with line errors too (spec §5.5 D): its problems list the
    image's, the line's and the boxes' errors and its warnings. Idempotent: a done chunk is
    skipped, and the unique source-ref keeps a second run from duplicating. Returns the ids of the
    images it created that need a thumbnail. Raises S3Unreachable to be retried.
    """
    chunk = ImportChunk.objects.select_related("job").get(pk=chunk_id)
    job = chunk.job
    if chunk.done or job.is_finished:
        return []
    bucket = job.parameters["image_bucket"]
    with ThreadPoolExecutor(max_workers=settings.IMPORT_HEADER_THREADS) as pool:
        headers = list(pool.map(lambda item: _header_read(bucket, item["key"]), chunk.items))
    images = {item["ref"]: (item, *_image_of(item, header)) for item, header in zip(chunk.items, headers, strict=True)}

    with transaction.atomic():
        locked = ImportChunk.objects.select_for_update().get(pk=chunk.pk)
        if locked.done:
            return []
        names = sorted(
            {name for item, _, boxes in images.values() for name in [*item["labels"], *(b[0] for b in boxes)]}
        )
        label_ids = services._labels_ensure(dataset_id=job.dataset_id, names=names)
        Image.objects.bulk_create(
            [
                Image(
                    dataset_id=job.dataset_id,
                    source_ref=ref,
                    file_name=rules.file_name_of(item["key"])[:1024],
                    import_job=job,
                    **fields,
                )
                for ref, (item, fields, _) in images.items()
            ],
            ignore_conflicts=True,
            batch_size=500,
        )
        created = list(
            Image.objects.filter(dataset_id=job.dataset_id, import_job=job, source_ref__in=list(images)).values_list(
                "id", "source_ref", "needs_thumbnail"
            )
        )
        ImageLabel.objects.bulk_create(
            [
                ImageLabel(image_id=pk, label_id=label_ids[name])
                for pk, ref, _ in created
                for name in images[ref][0]["labels"]
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
        BoundingBox.objects.bulk_create(
            [
                BoundingBox(image_id=pk, label_id=label_ids[name], left=left, top=top, width=width, height=height)
                for pk, ref, _ in created
                for name, left, top, width, height in images[ref][2]
            ],
            batch_size=1000,
        )
        locked.done = True
        locked.save(update_fields=["done"])
        # Lock order everywhere: import job row, then dataset row (see services.import_chunk).
        ImportJob.objects.filter(pk=job.pk).update(chunks_done=F("chunks_done") + 1, heartbeat_at=timezone.now())
        services.dataset_changed(dataset_id=job.dataset_id)
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


def _inserted_remove(job: ImportJob) -> None:
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
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.is_finished or not job.listing_done or job.chunks_done < job.chunks_total:
            return False
        invalid_lines = job.parameters.get("invalid_lines", 0)
        invalid_images = _invalid_images(job)
        if rules.too_many_invalid(invalid=invalid_lines + invalid_images, total=job.found):
            _inserted_remove(job)
            services.import_fail(job_id=job.pk, message=MESSAGES[ErrorCode.ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST])
            ImportJob.objects.filter(pk=job.pk).update(
                message=f"{MESSAGES[ErrorCode.ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST]} "
                f"{invalid_lines + invalid_images:,} of {counted(job.found, 'line')} are invalid, more than "
                f"{rules.MAX_INVALID_PERCENT}%: {invalid_lines} in the file and {invalid_images} "
                "whose image is missing or invalid. No image was imported."
            )
            return False
        imported = job.images.count()
        with_errors = job.images.exclude(error_code="").count()
        job.status = ImportJob.Status.SUCCEEDED
        job.finished_at = timezone.now()
        job.message = (
            f"{imported:,} imported, {with_errors:,} with errors or warnings, {counted(job.skipped, 'line')} dropped."
        )
        if job.already_present:
            job.message += f" {job.already_present:,} already in the dataset."
        job.save(update_fields=["status", "finished_at", "message"])
        dataset = Dataset.objects.select_for_update().get(pk=job.dataset_id)
        if dataset.status == Dataset.Status.CREATE_IN_PROGRESS:
            dataset.status = Dataset.Status.CREATE_COMPLETE
            dataset.status_message = MESSAGE_CREATED
        elif dataset.status == Dataset.Status.UPDATE_IN_PROGRESS:
            dataset.status = Dataset.Status.UPDATE_COMPLETE
            dataset.status_message = (
                f"{counted(imported, 'image')} {was_were(imported)} successfully added from the manifest file."
            )
        dataset.status_message_code = Dataset.StatusMessageCode.SUCCESS
        dataset.save(update_fields=["status", "status_message", "status_message_code", "updated_at"])
    return True
