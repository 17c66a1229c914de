"""Download manifest: the dataset's manifest streamed to its owner's console storage by a worker."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from customlabels import s3_multipart
from customlabels.celery import send_after_commit
from projects import console_storage
from projects.s3_access import Use, UserS3

from .. import selectors
from ..errors import DatasetError
from ..formats import ground_truth, ground_truth_writer
from ..models import BoundingBox, Dataset, DatasetVersion, Image, ImageLabel, Label, ManifestExport
from .common import EXPORT_BATCH, QUEUE_DOWN
from .version_rows import version_manifest_batches

_EXPORT_RUNNING = (ManifestExport.Status.QUEUED, ManifestExport.Status.IN_PROGRESS)


MANIFEST_NOT_CREATED = (
    "The dataset could not be created, so it has no manifest. Retry the import or delete the dataset."
)


@transaction.atomic
def manifest_export_start(*, dataset: Dataset, user) -> ManifestExport:
    """Start writing the dataset's manifest, or return the export that holds (or is writing) the
    dataset as it is now (same stats_version). Atomic; the worker starts after commit.
    Raises DatasetError while the dataset is being created or changed.
    """
    locked = Dataset.objects.select_for_update().select_related("project").filter(pk=dataset.pk).first()
    if locked is None or locked.project.owner_id != user.pk:
        raise DatasetError("Choose one of your datasets.")
    if locked.is_in_progress:
        raise DatasetError(
            "The dataset is being created or updated. Wait until it finishes, then download its manifest."
        )
    if locked.never_created:
        raise DatasetError(MANIFEST_NOT_CREATED)
    stalled_before = timezone.now() - timedelta(seconds=settings.IMPORT_STALL_SECONDS)
    same = locked.manifest_exports.filter(stats_version=locked.stats_version, version=None).order_by("-id")
    reusable = same.filter(
        Q(status=ManifestExport.Status.SUCCEEDED) | Q(created_at__gte=stalled_before, status__in=_EXPORT_RUNNING)
    ).first()
    if reusable is not None:
        return reusable
    # A worker lost with an export leaves it unfinished; it is failed here so it is not waited on.
    same.filter(status__in=_EXPORT_RUNNING).update(
        status=ManifestExport.Status.FAILED,
        message="The export stopped: no worker finished it.",
        finished_at=timezone.now(),
    )
    export = ManifestExport.objects.create(dataset=locked, requested_by=user, stats_version=locked.stats_version)
    send_after_commit(
        "datasets.tasks.manifest_export_task",
        export.pk,
        on_error=lambda: manifest_export_fail(export_id=export.pk, message=QUEUE_DOWN),
    )
    return export


@transaction.atomic
def version_export_start(*, version: DatasetVersion, user) -> ManifestExport:
    """Start writing the version's Ground Truth manifest, or return the export that holds (or is
    writing) it: a version never changes, so one export serves every later download. Atomic; the
    worker starts after commit."""
    if version.dataset.project.owner_id != user.pk:
        raise DatasetError("Choose one of your versions.")
    stalled_before = timezone.now() - timedelta(seconds=settings.IMPORT_STALL_SECONDS)
    reusable = (
        version.manifest_exports.filter(
            Q(status=ManifestExport.Status.SUCCEEDED) | Q(created_at__gte=stalled_before, status__in=_EXPORT_RUNNING)
        )
        .order_by("-id")
        .first()
    )
    if reusable is not None:
        return reusable
    export = ManifestExport.objects.create(dataset=version.dataset, version=version, requested_by=user)
    send_after_commit(
        "datasets.tasks.manifest_export_task",
        export.pk,
        on_error=lambda: manifest_export_fail(export_id=export.pk, message=QUEUE_DOWN),
    )
    return export


def manifest_export_key(*, dataset: Dataset, moment, version: DatasetVersion | None = None) -> str:
    prefix = console_storage.export_prefix(dataset.project.owner_id, dataset.pk)
    suffix = f"-{version.name}" if version is not None else ""
    return f"{prefix}{moment.strftime('%Y%m%dT%H%M%SZ')}-{dataset.name}{suffix}.manifest"


def manifest_export_write(*, export_id: int) -> ManifestExport:
    """Write the dataset's manifest to the console bucket (manifest_export_key): one line per image
    with its image-level labels, its boxes with the image size, cl-metadata and its errors.

    Streams: images 2,000 at a time with their labels and boxes in one query each, into a multipart
    upload of 8 MB parts, so memory stays flat whatever the size. Every line comes from one snapshot
    of the dataset, whose stats_version the export records. Idempotent: a finished export is
    returned as it is. Raises s3.S3Error (S3Unreachable is worth a retry) or DatasetError.
    """
    export = ManifestExport.objects.select_related("dataset__project", "version").get(pk=export_id)
    if export.is_finished:
        return export
    ManifestExport.objects.filter(pk=export.pk).update(status=ManifestExport.Status.IN_PROGRESS)
    console = selectors.console_bucket_name()
    dataset = export.dataset
    key = manifest_export_key(dataset=dataset, moment=timezone.now(), version=export.version)
    UserS3(dataset.project.owner_id, console=console).check(console, key, use=Use.WRITE)
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if snapshot:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        version = (
            Dataset.objects.filter(pk=dataset.pk).values_list("stats_version", flat=True).get()
            if export.version is None
            else export.version.stats_version
        )
        lines = 0
        with s3_multipart.MultipartWriter(console, key, content_type="application/jsonlines") as writer:
            batches = (
                _manifest_batches(dataset_id=dataset.pk)
                if export.version is None
                else version_manifest_batches(version=export.version)
            )
            for batch in batches:
                writer.write(("\n".join(batch) + "\n").encode())
                lines += len(batch)
        size = writer.size
    ManifestExport.objects.filter(pk=export.pk).update(
        status=ManifestExport.Status.SUCCEEDED,
        key=key,
        lines=lines,
        size=size,
        stats_version=version,
        message="",
        finished_at=timezone.now(),
    )
    export.refresh_from_db()
    return export


def manifest_export_fail(*, export_id: int, message: str) -> None:
    ManifestExport.objects.filter(pk=export_id).exclude(status=ManifestExport.Status.SUCCEEDED).update(
        status=ManifestExport.Status.FAILED, message=message, finished_at=timezone.now()
    )


def _manifest_batches(*, dataset_id: int) -> Iterator[list[str]]:
    """The dataset's manifest lines, a list per batch of images in id order.

    A batch's labels and boxes are read by the range of its image ids (an index range scan, where
    an IN list of 2,000 ids costs more to send than to answer). `problems` is read as text and
    decoded only when it holds something, as most images have none.
    """
    names = dict(Label.objects.filter(dataset_id=dataset_id).values_list("id", "name"))
    rows = (
        Image.objects.filter(dataset_id=dataset_id)
        .order_by("id")
        .annotate(problems_text=Cast("problems", TextField()))
        .values_list(
            "id", "source_ref", "width", "height", "error_code", "error_message", "problems_text", "created_at"
        )
        .iterator(chunk_size=EXPORT_BATCH)
    )
    while batch := list(itertools.islice(rows, EXPORT_BATCH)):
        in_batch = {"label__dataset_id": dataset_id, "image_id__gte": batch[0][0], "image_id__lte": batch[-1][0]}
        labels: dict[int, list[tuple[str, object]]] = defaultdict(list)
        for image_id, label_id, created in (
            ImageLabel.objects.filter(**in_batch).order_by("id").values_list("image_id", "label_id", "created_at")
        ):
            labels[image_id].append((names[label_id], created))
        boxes: dict[int, list[tuple]] = defaultdict(list)
        for image_id, *box in (
            BoundingBox.objects.filter(**in_batch)
            .order_by("id")
            .values_list("image_id", "label_id", "left", "top", "width", "height", "created_at")
        ):
            boxes[image_id].append(box)
        yield [_manifest_line(row, labels.get(row[0], ()), boxes.get(row[0], ()), names) for row in batch]


def _manifest_line(row: tuple, labels, boxes, names: dict[int, str]) -> str:
    _, source_ref, width, height, error_code, error_message, problems_text, created = row
    problems = json.loads(problems_text) if problems_text and problems_text != "[]" else ()
    errors = [p for p in problems if p.get("level", "error") == "error"]
    if not errors and error_code:
        errors = [{"code": error_code, "message": error_message}]
    box_errors: dict[int, list[ground_truth.EntryError]] = defaultdict(list)
    image_errors = []
    for problem in errors:
        error = ground_truth.EntryError(problem["code"], problem.get("message", ""))
        n = problem.get("box")
        (box_errors[n] if isinstance(n, int) and 0 <= n < len(boxes) else image_errors).append(error)
    manifest_boxes = [
        ground_truth.ManifestBox(names[label_id], left, top, w, h, tuple(box_errors.get(n, ())))
        for n, (label_id, left, top, w, h, _) in enumerate(boxes)
    ]
    if boxes and not (width and height):
        # Boxes are drawn on measured images only; should one not be, its extent stands in for the size.
        width = max(left + w for _, left, _, w, _, _ in boxes)
        height = max(top + h for _, _, top, _, h, _ in boxes)
    moments = [created, *(c for _, c in labels), *(box[-1] for box in boxes)]
    return ground_truth_writer.write_line(
        source_ref=source_ref,
        labels=[name for name, _ in labels],
        boxes=manifest_boxes,
        image_size=(width, height) if boxes else None,
        errors=image_errors,
        creation_date=max(moments),
    )
