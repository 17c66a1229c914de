"""Thumbnails: the one encoder, making them for images (queued by thumbnail_queue), thumbnails of
copied and moved images (each image gets its own, copied in S3), and removing a deleted dataset's."""

from __future__ import annotations

import io
import logging
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import transaction
from django.db.models import Case, CharField, F, Value, When
from django.utils import timezone
from PIL import Image as PILImage

from customlabels import s3
from customlabels.celery import send_after_commit
from projects import console_storage
from projects.s3_access import UserS3

from .. import rules, selectors, services
from ..errors import ErrorCode
from ..health_similar import perceptual_hash
from ..models import Dataset, Image, ImportJob
from .thumbnail_queue import MAKE_TASK, THUMBNAIL_BATCH

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 256
THUMBNAIL_COPY_BATCH = 500


def thumbnails_relocate_queue(*, job_id: int) -> None:
    """After a copy or a split, queue giving the job's images thumbnails of their own (images_thumbnails_relocate)."""
    # Queued with the relocation, so the sweep leaves them to it: every one, also an image whose
    # thumbnail was queued long ago in its first dataset (the sweep would take that as lost).
    Image.objects.filter(import_job_id=job_id, needs_thumbnail=True).update(thumbnail_queued_at=timezone.now())
    send_after_commit(
        "datasets.tasks.images_thumbnails_relocate_task",
        job_id,
        # CELERY_TASK_ROUTES sends it to the thumbnails queue: a copy or split never waits behind
        # thumbnail tasks, nor an import behind it.
        on_error=lambda: thumbnails_failed(job_ids=[job_id], message="the task queue is unreachable."),
    )


def images_thumbnails_relocate(*, job_id: int) -> int:
    """Give each image of the job that still needs a thumbnail one under its own dataset's prefix.

    An image showing another dataset's thumbnail gets a server-side copy (CopyObject: a request of
    a few hundred bytes, where making it again would read the whole image and decode it); after a
    split the old object is deleted, since the training dataset no longer holds the image. Images
    with no thumbnail to copy (never made, or already deleted with their dataset) are queued for
    the thumbnail tasks. Idempotent. Returns how many were copied. Raises S3Unreachable to be retried.
    """
    job = ImportJob.objects.filter(pk=job_id).annotate(owner_id=F("dataset__project__owner_id")).first()
    if job is None:
        return 0
    console = selectors.console_bucket_name()
    move = job.source == ImportJob.Source.SPLIT
    copied, last_id = 0, 0
    while True:
        batch = list(
            Image.objects.filter(import_job_id=job_id, needs_thumbnail=True, id__gt=last_id)
            .order_by("id")
            .values_list("id", "dataset_id", "thumbnail_key")[:THUMBNAIL_COPY_BATCH]
        )
        if not batch:
            return copied
        last_id = batch[-1][0]
        own = {pk: console_storage.thumbnail_key(job.owner_id, ds, pk) for pk, ds, _ in batch}
        to_copy = [(pk, key, own[pk]) for pk, _, key in batch if key and key != own[pk]]
        done = {pk for pk, _, key in batch if key and key == own[pk]}
        to_make = [pk for pk, _, key in batch if not key]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(_thumbnail_copy, [console] * len(to_copy), *zip(*to_copy, strict=True)))
        moved_from = [key for (_, key, _), ok in zip(to_copy, results, strict=True) if ok]
        done.update(pk for (pk, _, _), ok in zip(to_copy, results, strict=True) if ok)
        to_make += [pk for (pk, _, _), ok in zip(to_copy, results, strict=True) if not ok]
        with transaction.atomic():
            Image.objects.filter(pk__in=done, needs_thumbnail=True).update(
                thumbnail_key=Case(*(When(pk=pk, then=Value(own[pk])) for pk in done), output_field=CharField()),
                needs_thumbnail=False,
            )
            Image.objects.filter(pk__in=to_make).update(thumbnail_key="", thumbnail_queued_at=timezone.now())
            for i in range(0, len(to_make), THUMBNAIL_BATCH):
                send_after_commit(MAKE_TASK, to_make[i : i + THUMBNAIL_BATCH])
        copied += len(moved_from)
        if move and moved_from:
            try:
                s3.delete_objects(console, moved_from)
            except s3.S3Error:
                log.warning("Could not delete %s moved thumbnails of job %s", len(moved_from), job_id, exc_info=True)


def _thumbnail_copy(console: str, pk: int, key: str, new_key: str) -> bool:
    """Copy a thumbnail; False when it is gone (its dataset was deleted meanwhile)."""
    try:
        s3.copy_object(console, key, new_key)
    except s3.S3ObjectNotFound:
        return False
    return True


def thumbnails_failed(*, job_ids, message: str) -> None:
    """Record on the import jobs why their images' thumbnails could not be made."""
    ImportJob.objects.filter(pk__in=set(job_ids)).update(thumbnails_error=f"Thumbnails could not be made: {message}")


def pillow_limits_set() -> None:
    """Make Pillow refuse to decode more pixels than the largest image the console takes (4096×4096):
    a larger one raises DecompressionBombWarning, made an error here, instead of being decoded (a
    13,000×13,000 PNG would take a worker past a gigabyte). thumbnail_encode checks the limits
    before Pillow sees the file; this is the net under that check. Called once per process, from
    the datasets app's ready(), so the web server and the workers both have it."""
    PILImage.MAX_IMAGE_PIXELS = rules.MAX_SIDE * rules.MAX_SIDE
    warnings.simplefilter("error", PILImage.DecompressionBombWarning)


class ImageUnusable(Exception):
    """The file cannot become a thumbnail; str() is the image's error message, in the console's wording."""


CORRUPT = "The image is invalid: the file is truncated or corrupt and cannot be decoded."
TOO_MANY_PIXELS = f"The image is invalid: it has more pixels than {rules.MAX_SIDE}×{rules.MAX_SIDE}."


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    """The size of an image's thumbnail: its longest side THUMBNAIL_SIZE, or the image's own when smaller."""
    scale = min(1.0, THUMBNAIL_SIZE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def thumbnail_encode(data: bytes, *, size: int | None = None) -> bytes:
    """The image as a JPEG of at most THUMBNAIL_SIZE pixels a side (see thumbnail_make)."""
    return thumbnail_make(data, size=size)[0]


def thumbnail_make(data: bytes, *, size: int | None = None) -> tuple[bytes, str]:
    """The image as a JPEG of at most THUMBNAIL_SIZE pixels a side, and the perceptual hash of those
    pixels (health_similar.perceptual_hash), made from the image decoded once.

    Before any pixel is decoded, the format and dimensions are read from these very bytes (not
    from a header read earlier: the object may have changed since) and checked against the image
    limits, with `size` the object's full size (default: len(data)); Pillow then reads only that
    format. So a file declaring 13,000×13,000 pixels is refused, never decoded. Raises
    ImageUnusable for a file that is no PNG or JPEG, breaks a limit, or is truncated or corrupt.
    """
    try:
        header = rules.image_header_parse(data, complete=True)
    except rules.InvalidImage as exc:
        raise ImageUnusable(f"The image is invalid: {exc}.") from exc
    problem = rules.image_limits_error(
        width=header.width, height=header.height, size=len(data) if size is None else size
    )
    if problem:
        raise ImageUnusable(problem)
    try:
        with PILImage.open(io.BytesIO(data), formats=[header.format]) as img:
            if img.size != (header.width, header.height):
                # Pillow would decode another size than the one checked: refused as the corrupt file it is.
                raise ImageUnusable(CORRUPT)
            if img.format == "JPEG":
                # Decode at the smallest DCT scale still as large as the thumbnail: asked for a
                # 256×256 box, draft would decode a 640×480 photo whole, its short side being under 256.
                img.draft("RGB", thumbnail_size(header.width, header.height))
            img.load()
            img = img.convert("RGB")
            img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            out = io.BytesIO()
            img.save(out, "JPEG", quality=80)
            return out.getvalue(), perceptual_hash(img)
    except (PILImage.DecompressionBombWarning, PILImage.DecompressionBombError) as exc:
        raise ImageUnusable(TOO_MANY_PIXELS) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageUnusable(CORRUPT) from exc


_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None


def _thumbnail_pool() -> ThreadPoolExecutor:
    """The process's THUMBNAIL_THREADS threads that read, encode and store thumbnails, shared by all
    the thumbnail tasks it runs at once: each worker process makes thumbnails with as many threads as
    each process of the floor it is measured against (tests/bench/bench_thumbnails.py), however many
    tasks it runs."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():  # a forked child makes its own
            _pool = (os.getpid(), ThreadPoolExecutor(settings.THUMBNAIL_THREADS, thread_name_prefix="thumbnail"))
        return _pool[1]


def images_thumbnails_make(*, image_ids: list[int]) -> int:
    """Make a JPEG thumbnail (≤256 px on the long side) for each image and store it in its owner's
    console storage, reading the image as its owner may (projects.s3_access).

    Idempotent: images that already have one are skipped. The object is read again and checked as
    it is now (thumbnail_encode): a file that breaks a limit or cannot be decoded (for example a
    truncated JPEG) gets ERROR_INVALID_IMAGE instead. An image its owner may no longer read stays
    pending, and its import job says why. Returns how many were made. Raises S3Unreachable to be
    retried.
    """
    images = list(
        Image.objects.filter(pk__in=image_ids, needs_thumbnail=True)
        .only("id", "dataset_id", "source_ref", "problems")
        .annotate(owner_id=F("dataset__project__owner_id"))
    )
    if not images:
        return 0
    console = selectors.console_bucket_name()
    readers = {owner_id: UserS3(owner_id, console=console) for owner_id in {image.owner_id for image in images}}
    refused: dict[int, str] = {}

    hashes: dict[int, str] = {}

    def make(image: Image) -> tuple[int, str, str]:
        bucket, key = s3.split_uri(image.source_ref)
        try:
            # One byte past the limit, with the object's full size, so a file grown too large says how large.
            data, size, _ = readers[image.owner_id].read_range_sized(bucket, key, rules.MAX_IMAGE_BYTES + 1)
        except s3.S3AccessRefused as exc:
            refused[image.pk] = str(exc)
            return image.pk, "", ""
        except (s3.S3ObjectNotFound, s3.S3AccessDenied) as exc:
            return image.pk, "", f"The image is invalid: {exc}"
        try:
            thumb, hashes[image.pk] = thumbnail_make(data, size=size)
        except ImageUnusable as exc:
            return image.pk, "", str(exc)
        thumb_key = console_storage.thumbnail_key(image.owner_id, image.dataset_id, image.pk)
        s3.put_object(console, thumb_key, thumb, content_type="image/jpeg")
        return image.pk, thumb_key, ""

    results = list(_thumbnail_pool().map(make, images))
    if refused:
        images_thumbnails_failed(image_ids=list(refused), message=next(iter(refused.values())))
    stored = {pk: thumb_key for pk, thumb_key, _ in results if thumb_key}
    unusable = [(pk, error) for pk, thumb_key, error in results if error]
    made = 0
    with transaction.atomic():
        if stored:
            # One UPDATE for the batch: the keys it stored and the images' perceptual hashes, each its own
            # (CASE … WHEN id = …).
            made = Image.objects.filter(pk__in=stored).update(
                thumbnail_key=Case(
                    *(When(pk=pk, then=Value(key)) for pk, key in stored.items()), output_field=CharField()
                ),
                phash=Case(*(When(pk=pk, then=Value(hashes.get(pk, ""))) for pk in stored), output_field=CharField()),
                needs_thumbnail=False,
            )
        for pk, error in unusable:
            # The file itself is unusable: that outranks any manifest problem as the headline.
            image = next(i for i in images if i.pk == pk)
            problems = [{"code": ErrorCode.ERROR_INVALID_IMAGE, "message": error, "level": "error"}, *image.problems]
            Image.objects.filter(pk=pk).update(
                error_code=ErrorCode.ERROR_INVALID_IMAGE, error_message=error, problems=problems, needs_thumbnail=False
            )
        if made < len(results):
            for dataset_id in {image.dataset_id for image in images}:
                services.dataset_changed(dataset_id=dataset_id)
    return made


def images_thumbnails_failed(*, image_ids: list[int], message: str) -> None:
    """Record on the images' import jobs why their thumbnails could not be made."""
    job_ids = Image.objects.filter(pk__in=image_ids).exclude(import_job=None).values_list("import_job_id", flat=True)
    thumbnails_failed(job_ids=job_ids, message=message)


def dataset_storage_release(*, dataset_id: int, owner_id: int, asset_datasets: list[int]) -> int:
    """Remove what a deleted dataset kept in its owner's console storage: its thumbnails, its prepared
    manifests, and the uploaded images (under its own assets folder and under those of `asset_datasets`,
    deleted datasets whose uploads it was still showing) that no image of any dataset refers to any
    more. An upload a copy or a split still shows stays until that dataset goes too. Images of
    other S3 buckets are never touched. Idempotent; returns how many objects it removed.
    """
    console = selectors.console_bucket_name()
    removed = 0
    for prefix in (
        console_storage.thumbnail_prefix(owner_id, dataset_id),
        console_storage.export_prefix(owner_id, dataset_id),
    ):
        for page in s3.list_pages(console, prefix):
            keys = [obj.key for obj in page]
            if keys:
                s3.delete_objects(console, keys)
                removed += len(keys)
    # Only the assets of datasets that are gone: no upload can be arriving there any more.
    gone = set(asset_datasets) | {dataset_id}
    gone -= set(Dataset.objects.filter(pk__in=gone).values_list("pk", flat=True))
    for asset_dataset in sorted(gone):
        for page in s3.list_pages(console, console_storage.assets_prefix(owner_id, asset_dataset)):
            refs = {f"s3://{console}/{obj.key}": obj.key for obj in page}
            used = set(Image.objects.filter(source_ref__in=list(refs)).values_list("source_ref", flat=True))
            keys = [key for ref, key in refs.items() if ref not in used]
            if keys:
                s3.delete_objects(console, keys)
                removed += len(keys)
    return removed
