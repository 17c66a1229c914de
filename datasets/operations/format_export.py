"""Export dataset: the dataset in a training format (COCO, YOLO detection or classification,
Pascal VOC, CSV, Ground Truth), labels only or with the images, as a zip to download or as files
in an S3 folder the user may write. A worker writes it; the page polls its progress."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from customlabels import s3_names
from customlabels.celery import send_after_commit
from projects import console_storage
from projects.s3_access import Use, UserS3

from .. import selectors
from ..errors import DatasetError
from ..formats import coco, table, voc, yolo
from ..formats.records import ExportImage, UniqueNames
from ..models import Dataset, DatasetExport, DatasetVersion, Image
from .common import QUEUE_DOWN
from .export import manifest_batches
from .export_rows import export_batches, export_classes, project_pair
from .export_sinks import ImageCopy, Member, s3_write, zip_write
from .version_rows import version_classes, version_export_batches, version_manifest_batches

Format = DatasetExport.Format
NOT_CREATED = "The dataset could not be created, so it can't be exported. Retry the import or delete the dataset."
IN_PROGRESS = "The dataset is being created or updated. Wait until it finishes, then export it."


def export_split_pair(*, dataset: Dataset, fmt: str) -> tuple[Dataset, Dataset] | None:
    """The training and test datasets a YOLO export takes as train and val, when the project has both."""
    if fmt not in (Format.YOLO, Format.YOLO_CLASSIFY):
        return None
    return project_pair(dataset=dataset)


@transaction.atomic
def dataset_export_start(
    *,
    dataset: Dataset,
    user,
    fmt: str,
    include_images: bool,
    s3_location: s3_names.S3Location | None = None,
    val_percent: int = 20,
    version: DatasetVersion | None = None,
) -> DatasetExport:
    """Queue the export of the dataset, or of its `version` (the entries it froze), as a zip to
    download or files under `s3_location`. Atomic; the worker starts after commit. Raises
    DatasetError while the dataset (or, for YOLO, the other dataset of the project's pair) is being
    created or changed — a version is frozen, so it exports whatever the dataset is doing — and
    s3_names.S3AccessRefused when the user may not write to `s3_location` (checked before anything
    is stored)."""
    locked = Dataset.objects.select_for_update().select_related("project").filter(pk=dataset.pk).first()
    if locked is None or locked.project.owner_id != user.pk:
        raise DatasetError("Choose one of your datasets.")
    if version is not None:
        if version.dataset_id != locked.pk:
            raise DatasetError("Choose one of the dataset's versions.")
        total = version.images
    else:
        pair = export_split_pair(dataset=locked, fmt=fmt) or (locked,)
        if any(d.never_created for d in pair):
            raise DatasetError(NOT_CREATED)
        if any(d.is_in_progress for d in pair):
            raise DatasetError(IN_PROGRESS)
        total = Image.objects.filter(dataset__in=[d.pk for d in pair]).count()
    if s3_location is not None:
        UserS3(user.pk).check(s3_location.bucket, s3_location.prefix, use=Use.WRITE)
    export = DatasetExport.objects.create(
        dataset=locked,
        version=version,
        requested_by=user,
        format=fmt,
        include_images=include_images,
        destination=DatasetExport.Destination.S3 if s3_location else DatasetExport.Destination.DOWNLOAD,
        bucket=s3_location.bucket if s3_location else "",
        prefix=s3_location.prefix if s3_location else "",
        val_percent=val_percent,
        images_total=total,
    )
    send_after_commit(
        "datasets.tasks.dataset_export_task",
        export.pk,
        on_error=lambda: dataset_export_fail(export_id=export.pk, message=QUEUE_DOWN),
    )
    return export


def dataset_export_fail(*, export_id: int, message: str) -> None:
    DatasetExport.objects.filter(pk=export_id).exclude(status=DatasetExport.Status.SUCCEEDED).update(
        status=DatasetExport.Status.FAILED, message=message, finished_at=timezone.now()
    )


class _Progress:
    """Counts images as the export reads them, written by a thread of its own (its own database
    connection), so the page sees them while the export reads inside its snapshot."""

    def __init__(self, export_id: int):
        self.export_id = export_id
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-progress")

    def add(self, n: int) -> None:
        self.pool.submit(self._write, n)

    def _write(self, n: int) -> None:
        DatasetExport.objects.filter(pk=self.export_id).update(images_done=F("images_done") + n)

    def close(self) -> None:
        self.pool.submit(lambda: connection.close()).result()  # the thread's own connection
        self.pool.shutdown()


def _images(export: DatasetExport, progress: _Progress | None) -> Iterator[ExportImage]:
    """Every image of the export in order, its split set: the project's pair for YOLO, else the
    dataset (or the version's entries) with `val_percent` in val (YOLO) or all in train."""
    names = UniqueNames()
    yolo = export.format in (Format.YOLO, Format.YOLO_CLASSIFY)
    if export.version_id is not None:
        val_percent = export.val_percent if yolo else 0
        for batch in version_export_batches(version=export.version, val_percent=val_percent, names=names):
            yield from batch
            if progress is not None:
                progress.add(len(batch))
        return
    pair = export_split_pair(dataset=export.dataset, fmt=export.format)
    if pair is not None:
        parts = [(pair[0].pk, "train", 0), (pair[1].pk, "val", 0)]
    elif yolo:
        parts = [(export.dataset_id, "train", export.val_percent)]
    else:
        parts = [(export.dataset_id, "train", 0)]
    for dataset_id, split, val_percent in parts:
        for batch in export_batches(dataset_id=dataset_id, split=split, val_percent=val_percent, names=names):
            yield from batch
            if progress is not None:
                progress.add(len(batch))


def _dataset_ids(export: DatasetExport) -> list[int]:
    pair = export_split_pair(dataset=export.dataset, fmt=export.format)
    return [d.pk for d in pair] if pair else [export.dataset_id]


def _image_folder(fmt: str, image: ExportImage) -> Iterable[str]:
    """Where an image's copy goes in the export."""
    if fmt == Format.YOLO:
        return (f"images/{image.split}/{image.name}",)
    if fmt == Format.YOLO_CLASSIFY:
        return (f"{image.split}/{_safe(label)}/{image.name}" for label in image.labels)
    if fmt == Format.VOC:
        return (f"JPEGImages/{image.name}",)
    return (f"images/{image.name}",)


def _safe(name: str) -> str:
    return re.sub(r"[/\\\x00]", "_", name) or "_"


def export_members(export: DatasetExport, *, progress: _Progress | None = None) -> Iterator[Member]:
    """The export's files: the format's label files, then (with the images) every image's copy."""
    fmt, with_images = export.format, export.include_images
    if export.version_id is not None:
        classes = version_classes(version=export.version)
    else:
        classes = export_classes(dataset_ids=_dataset_ids(export))
    labels_progress = None if with_images else progress
    images = _images(export, labels_progress)
    if fmt == Format.COCO:
        yield "annotations.json", coco.coco_write(images, classes=classes, image_folder="images/")
    elif fmt == Format.YOLO:
        yield from yolo.yolo_files(images, classes=classes, with_images=with_images)
    elif fmt == Format.YOLO_CLASSIFY:
        yield "classes.txt", "".join(f"{name}\n" for name in classes).encode()
        if not with_images:
            yield from table.class_lists(images)
    elif fmt == Format.VOC:
        yield from voc.voc_files(images, classes=classes)
    elif fmt == Format.CSV:
        yield "labels.csv", table.csv_write(images)
    else:
        yield f"{_safe(_export_name(export))}.manifest", _manifest_bytes(export, labels_progress)
    if with_images:
        for image in _images(export, progress):
            for path in _image_folder(fmt, image):
                yield path, ImageCopy(image.ref)


def _export_name(export: DatasetExport) -> str:
    """The dataset's name, and the version's after it for a version's export."""
    if export.version_id is not None:
        return f"{export.dataset.name}-{export.version.name}"
    return export.dataset.name


def _manifest_bytes(export: DatasetExport, progress: _Progress | None) -> Iterator[bytes]:
    if export.version_id is not None:
        batches = version_manifest_batches(version=export.version)
    else:
        batches = manifest_batches(dataset_id=export.dataset_id)
    for batch in batches:
        yield ("\n".join(batch) + "\n").encode()
        if progress is not None:
            progress.add(len(batch))


def export_zip_key(*, export: DatasetExport) -> str:
    prefix = console_storage.export_prefix(export.dataset.project.owner_id, export.dataset_id)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return f"{prefix}{stamp}-{_safe(_export_name(export))}-{export.format.lower()}.zip"


def dataset_export_run(*, export_id: int) -> DatasetExport:
    """Write the export: every file from one snapshot of the dataset (PostgreSQL: one repeatable-read,
    read-only transaction), streamed into the zip or the S3 folder, so memory stays flat whatever
    the size. Idempotent: a finished export is returned as it is. Raises s3_names.S3Error
    (S3Unreachable is worth a retry) or DatasetError."""
    export = DatasetExport.objects.select_related("dataset__project", "version").get(pk=export_id)
    if export.is_finished:
        return export
    DatasetExport.objects.filter(pk=export.pk).update(status=DatasetExport.Status.IN_PROGRESS, images_done=0)
    owner_id = export.dataset.project.owner_id
    missing: list[str] = []
    progress = _Progress(export.pk)
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    key, size, files = "", 0, 0
    try:
        with transaction.atomic():
            if snapshot:
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            counted = []

            def members() -> Iterator[Member]:
                for member in export_members(export, progress=progress):
                    counted.append(1)
                    yield member

            if export.destination == DatasetExport.Destination.S3:
                user_s3 = UserS3(owner_id)
                files = s3_write(
                    members(), user_s3=user_s3, bucket=export.bucket, prefix=export.prefix, missing=missing
                )
            else:
                console = selectors.console_bucket_name()
                key = export_zip_key(export=export)
                user_s3 = UserS3(owner_id, console=console)
                size = zip_write(members(), user_s3=user_s3, bucket=console, key=key, missing=missing)
                files = len(counted)
    finally:
        progress.close()
    message = ""
    if missing:
        message = f"{len(missing):,} image file{'s' if len(missing) != 1 else ''} could not be read and {'were' if len(missing) != 1 else 'was'} left out, the first: {missing[0]}"
    DatasetExport.objects.filter(pk=export.pk).update(
        status=DatasetExport.Status.SUCCEEDED,
        key=key,
        size=size,
        files=files - len(missing),
        images_done=F("images_total"),
        message=message,
        finished_at=timezone.now(),
    )
    export.refresh_from_db()
    return export


def export_file_name(export: DatasetExport) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", posixpath.basename(export.key))
