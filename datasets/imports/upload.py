"""Writes for "Upload images from your computer": the empty dataset, and images added from a browser.

An upload stores each accepted file in the user's console storage under
`users/<user id>/assets/<dataset id>/<random folder>/<file name>` through django-storages, creates its Image row and
its thumbnail, and records the request as an ImportJob (source UPLOAD) whose report lists every
refused file. Unlike the S3 import, a file that breaks a limit is refused, not stored.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import File
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from storages.backends.s3 import S3Storage

from customlabels import s3
from customlabels.celery import send_after_commit
from customlabels.text import counted, was_were
from projects.console_storage import assets_prefix, thumbnail_key
from projects.models import Project

from .. import rules, services
from ..errors import DatasetError, ErrorCode
from ..models import Dataset, Image, ImportJob, ImportReportItem
from ..operations import thumbnails
from .upload_storage import console_storage

log = logging.getLogger(__name__)

MAX_FILES = 30
TOO_MANY_FILES = "You can upload up to 30 images at a time."
NO_FILES = "Choose one or more .jpg, .jpeg or .png files to upload."
IN_PROGRESS = "You can't add images while the dataset is being created or updated. Wait until it finishes."
MAX_NAME_BYTES = 255

ADDED = "Added to the dataset."
_BATCH_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}


@dataclass(frozen=True)
class FileOutcome:
    """What became of one uploaded file: added (with its image id) or refused, and why."""

    name: str
    ok: bool
    message: str
    code: str = ""
    image_id: int | None = None


@dataclass(frozen=True)
class UploadResult:
    job: ImportJob
    files: list[FileOutcome]

    @property
    def added(self) -> int:
        return sum(1 for f in self.files if f.ok)

    @property
    def refused(self) -> int:
        return len(self.files) - self.added


@dataclass(frozen=True)
class CheckedFile:
    """A file after the checks: refused (code and message), or accepted with its header and thumbnail."""

    name: str
    code: str = ""
    message: str = ""
    header: rules.ImageHeader | None = None
    size: int = 0
    thumbnail: bytes = b""

    @property
    def ok(self) -> bool:
        return not self.code


@transaction.atomic
def dataset_create_empty(*, project, name: str, **fields) -> Dataset:
    """Create the dataset of the "Upload images from your computer" source: empty and complete at once.

    Raises DatasetError(field="name") when the project already has a dataset of that name.
    """
    return services.dataset_new(
        project=project,
        name=name,
        status=Dataset.Status.CREATE_COMPLETE,
        status_message="The dataset was created empty. Add images from your computer.",
        status_message_code=Dataset.StatusMessageCode.SUCCESS,
        **fields,
    )


def file_name_clean(name: str) -> str:
    """The name an uploaded file is stored and shown under: its base name only (no folders, so
    `../../etc/passwd.png` is `passwd.png`), in NFC, without control or format characters (which
    could fake a path or hide the real extension), trimmed. "" when nothing usable is left."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(
        ch for ch in base if unicodedata.category(ch)[0] != "C" and unicodedata.category(ch) not in ("Zl", "Zp")
    )
    base = base.strip()
    return "" if base in (".", "..") else base


def upload_check(*, name: str, data: bytes, size: int) -> CheckedFile:
    """Check one uploaded file (spec §4) and, when it passes, make its thumbnail.

    `data` is the whole file, or only its first bytes when `size` is over the 15 MB limit. The
    content decides the format, whatever the extension says; the file is decoded in full, so a
    truncated or corrupt image is refused here rather than found later.
    """
    clean = file_name_clean(name)
    if not clean:
        return CheckedFile(name=name or "(no name)", code=ErrorCode.FILE_NAME_INVALID, message="The file has no name.")
    if not clean.lower().endswith(rules.IMAGE_EXTENSIONS):
        return CheckedFile(
            name=clean, code=ErrorCode.FILE_NAME_INVALID, message="Only .jpg, .jpeg and .png files can be added."
        )
    if len(clean.encode()) > MAX_NAME_BYTES:
        return CheckedFile(
            name=clean,
            code=ErrorCode.FILE_NAME_INVALID,
            message=f"The file name is too long: the maximum is {MAX_NAME_BYTES} bytes.",
        )
    if size == 0:
        return CheckedFile(
            name=clean, code=ErrorCode.ERROR_INVALID_IMAGE, message="The image is invalid: the file is empty."
        )
    complete = len(data) >= size
    try:
        header = rules.image_header_parse(data, complete=complete)
    except rules.InvalidImage as exc:
        return CheckedFile(name=clean, code=ErrorCode.ERROR_INVALID_IMAGE, message=f"The image is invalid: {exc}.")
    except rules.HeaderIncomplete:
        # Only the first bytes of a file over the size limit were read; the size is the problem.
        header = None
    problem = rules.image_limits_error(
        width=header.width if header else rules.MIN_SIDE,
        height=header.height if header else rules.MIN_SIDE,
        size=size,
    )
    if problem:
        return CheckedFile(name=clean, code=ErrorCode.ERROR_INVALID_IMAGE, message=problem)
    try:
        thumbnail = thumbnails.thumbnail_encode(data, size=size)
    except thumbnails.ImageUnusable as exc:
        return CheckedFile(name=clean, code=ErrorCode.ERROR_INVALID_IMAGE, message=str(exc))
    return CheckedFile(name=clean, header=header, size=size, thumbnail=thumbnail)


def _read(upload: UploadedFile) -> tuple[bytes, int]:
    """The file's bytes (only the first MB when it is over the limit, enough for its header) and size."""
    size = upload.size or 0
    upload.seek(0)
    data = upload.read(rules.HEADER_BYTES_MAX if size > rules.MAX_IMAGE_BYTES else size)
    return data, size


def images_upload(*, dataset: Dataset, user, files: Sequence[UploadedFile], batch: str = "") -> UploadResult:
    """Add uploaded files to the dataset, each judged on its own: an accepted file is stored in the
    console bucket, gets its Image row and thumbnail, and is never lost because another failed.

    `batch` ties together the requests of one "Add images" in the dialog (it sends a request per
    file): they share one ImportJob, and the 30-image limit applies to the batch as a whole.
    Atomic for the database: a crash leaves at most stray objects in S3, which a retry overwrites.
    Raises DatasetError, storing nothing, for more than 30 files, none, a dataset in progress, or
    files that would take the dataset past IMAGES_PER_DATASET images.
    """
    current = Dataset.objects.get(pk=dataset.pk)
    if current.never_created:
        raise DatasetError(services.NOT_CREATED_NO_IMAGES)
    if not files:
        raise DatasetError(NO_FILES)
    if len(files) > MAX_FILES:
        raise DatasetError(TOO_MANY_FILES)
    if current.is_in_progress:
        raise DatasetError(IN_PROGRESS)
    # One file's bytes in memory at a time: the stored object is read again from the upload.
    checked = []
    for upload in files:
        data, size = _read(upload)
        checked.append((upload, upload_check(name=upload.name or "", data=data, size=size)))
        del data
    storage = console_storage()
    batch = batch if _BATCH_RE.fullmatch(batch or "") else ""
    pending_thumbnails: list[int] = []
    with transaction.atomic():
        # Lock order everywhere: the import job row, then the dataset row.
        job = _upload_job(dataset=dataset, user=user, batch=batch)
        if job.found + len(files) > MAX_FILES:
            raise DatasetError(TOO_MANY_FILES)
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        if locked.is_in_progress:
            raise DatasetError(IN_PROGRESS)
        accepted = sum(1 for _, item in checked if item.ok)
        if accepted and locked.images.count() + accepted > settings.IMAGES_PER_DATASET:
            raise DatasetError(rules.too_many_images_message(settings.IMAGES_PER_DATASET))
        outcomes = _images_store(
            dataset=locked, job=job, checked=checked, storage=storage, pending_thumbnails=pending_thumbnails
        )
        _job_record(job=job, outcomes=outcomes)
        if any(o.ok for o in outcomes):
            added = job.images.count()
            services.dataset_updated(
                dataset=locked, message=f"{counted(added, 'image')} {was_were(added)} added from your computer."
            )
        if pending_thumbnails:
            # The thumbnails that could not be stored during the request; say why if queueing fails too.
            send_after_commit(
                thumbnails.MAKE_TASK,
                pending_thumbnails,
                on_error=lambda: thumbnails.images_thumbnails_failed(
                    image_ids=pending_thumbnails, message="the task queue is unreachable."
                ),
            )
    return UploadResult(job=job, files=outcomes)


def _upload_job(*, dataset: Dataset, user, batch: str) -> ImportJob:
    if batch:
        job = (
            ImportJob.objects.select_for_update()
            .filter(dataset=dataset, source=ImportJob.Source.UPLOAD, parameters__batch=batch)
            .first()
        )
        if job is not None:
            return job
    now = timezone.now()
    return ImportJob.objects.create(
        dataset=dataset,
        source=ImportJob.Source.UPLOAD,
        parameters={"batch": batch, "user_id": user.pk},
        status=ImportJob.Status.IN_PROGRESS,
        listing_done=True,
        started_at=now,
        heartbeat_at=now,
    )


def _images_store(
    *,
    dataset: Dataset,
    job: ImportJob,
    checked: list[tuple[UploadedFile, CheckedFile]],
    storage: S3Storage,
    pending_thumbnails: list[int],
) -> list[FileOutcome]:
    """Store the accepted files and create their images; called under the dataset's row lock, so
    no other request can take a name between the check and the insert."""
    # Each file under a key of its own (a fresh folder per file), so an upload never overwrites an
    # object another image points to: a copy's, or one of an image deleted and uploaded again.
    owner_id = Project.objects.filter(pk=dataset.project_id).values_list("owner_id", flat=True).get()
    prefix = assets_prefix(owner_id, dataset.pk)
    names = [c.name for _, c in checked if c.ok]
    taken = set(
        Image.objects.filter(
            dataset=dataset, file_name__in=names, source_ref__startswith=f"s3://{storage.bucket_name}/{prefix}"
        ).values_list("file_name", flat=True)
    )
    outcomes = []
    for upload, item in checked:
        if not item.ok:
            outcomes.append(FileOutcome(name=item.name, ok=False, message=item.message, code=item.code))
            continue
        if item.name in taken:
            outcomes.append(
                FileOutcome(
                    name=item.name,
                    ok=False,
                    message=f"An image named {item.name} is already in this dataset.",
                    code=ErrorCode.FILE_NAME_DUPLICATE,
                )
            )
            continue
        try:
            image = _image_store(
                dataset=dataset,
                job=job,
                item=item,
                upload=upload,
                key=f"{prefix}{uuid.uuid4().hex}/{item.name}",
                storage=storage,
                owner_id=owner_id,
            )
        except _StoreFailed:
            outcomes.append(
                FileOutcome(
                    name=item.name,
                    ok=False,
                    message="The image could not be stored in the console bucket. Try again.",
                    code=ErrorCode.STORE_FAILED,
                )
            )
            continue
        taken.add(item.name)
        if image.needs_thumbnail:
            pending_thumbnails.append(image.pk)
        outcomes.append(FileOutcome(name=item.name, ok=True, message=ADDED, image_id=image.pk))
    return outcomes


class _StoreFailed(Exception):
    pass


def _image_store(
    *,
    dataset: Dataset,
    job: ImportJob,
    item: CheckedFile,
    upload: UploadedFile,
    key: str,
    storage: S3Storage,
    owner_id: int,
) -> Image:
    """Create one image and store its file and thumbnail; the row goes if the file can't be stored."""
    header = item.header
    try:
        with transaction.atomic():
            image = Image.objects.create(
                dataset=dataset,
                source_ref=f"s3://{storage.bucket_name}/{key}",
                file_name=item.name,
                import_job=job,
                format=header.format,
                width=header.width,
                height=header.height,
                size=item.size,
                needs_thumbnail=True,
            )
            content = File(upload, name=item.name)
            # The real format, never the browser's claim: S3 serves the object with this type.
            content.content_type = _CONTENT_TYPES[header.format]
            stored = storage.save(key, content)
            etag = storage.bucket.Object(stored).e_tag.strip('"')
    except Exception as exc:  # botocore's and s3transfer's many error classes
        log.warning("Could not store the upload %s: %s", key, exc)
        raise _StoreFailed from exc
    fields = {"etag": etag[:128]}
    thumb_key = thumbnail_key(owner_id, dataset.pk, image.pk)
    try:
        s3.put_object(storage.bucket_name, thumb_key, item.thumbnail, content_type="image/jpeg")
    except s3.S3Error as exc:
        log.warning("Could not store the thumbnail of %s, it is queued: %s", key, exc)
        fields.update(thumbnail_queued_at=timezone.now())
    else:
        fields.update(thumbnail_key=thumb_key, needs_thumbnail=False)
    Image.objects.filter(pk=image.pk).update(**fields)
    image.needs_thumbnail = fields.get("needs_thumbnail", True)
    return image


def _job_record(*, job: ImportJob, outcomes: list[FileOutcome]) -> None:
    refused = [o for o in outcomes if not o.ok]
    ImportReportItem.objects.bulk_create(
        [ImportReportItem(job=job, key=o.name, code=o.code, reason=o.message[:255]) for o in refused],
        ignore_conflicts=True,
    )
    job.found += len(outcomes)
    job.skipped += len(refused)
    added = job.images.count()
    now = timezone.now()
    job.status = ImportJob.Status.SUCCEEDED if added else ImportJob.Status.FAILED
    job.message = f"{added} added from your computer, {job.skipped} refused."
    job.finished_at = now
    job.heartbeat_at = now
    job.save(update_fields=["found", "skipped", "status", "message", "finished_at", "heartbeat_at"])
