"""Download manifest: the dataset's manifest streamed to its owner's console storage by a worker."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, TextField
from django.db.models.expressions import RawSQL
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
                manifest_batches(dataset_id=dataset.pk)
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


def manifest_batches(*, dataset_id: int) -> Iterator[list[str]]:
    """The dataset's manifest lines, a list per batch of images in id order.

    A batch's labels and boxes are read by the range of its image ids (an index range scan, where
    an IN list of 2,000 ids costs more to send than to answer). `problems` is read as text and
    decoded only when it holds something, as most images have none.
    """
    names = dict(Label.objects.filter(dataset_id=dataset_id).values_list("id", "name"))
    rows = _entry_rows(Image.objects.filter(dataset_id=dataset_id)).iterator(chunk_size=EXPORT_BATCH)
    while batch := list(itertools.islice(rows, EXPORT_BATCH)):
        in_batch = {"label__dataset_id": dataset_id, "image_id__gte": batch[0][0], "image_id__lte": batch[-1][0]}
        yield _lines(batch, in_batch, names)


def _entry_rows(images):
    return (
        images.order_by("id")
        .annotate(problems_text=Cast("problems", TextField()))
        .values_list(
            "id", "source_ref", "width", "height", "error_code", "error_message", "problems_text", "created_at"
        )
    )


def _lines(batch: list[tuple], in_batch: dict, names: dict[int, str]) -> list[str]:
    """The manifest lines of a batch of _entry_rows, whose labels and boxes `in_batch` selects."""
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
    return [_manifest_line(row, labels.get(row[0], ()), boxes.get(row[0], ()), names) for row in batch]


@dataclass(frozen=True)
class EntriesFilter:
    """ListDatasetEntries' filters, combined with AND: labeled True/False or None for both,
    has_errors, any of label_names (image-level or on a box), source_ref_contains (a substring)."""

    labeled: bool | None = None
    has_errors: bool = False
    label_names: tuple[str, ...] = ()
    source_ref_contains: str = ""


def dataset_entries_page(
    *, dataset_id: int, filters: EntriesFilter, after: int | None, limit: int
) -> tuple[list[str], int | None]:
    """One page of ListDatasetEntries: the manifest lines (as Download manifest writes them) of the
    dataset's images that match, in id order after the image id `after`, at most `limit`; and the id
    to continue after, or None when this is the last page. A keyset page: any page costs the same.
    Each page reads the rows committed when it is asked for, as each API call does.

    On PostgreSQL a page is one query: each image's label names, boxes and latest change come with
    its row from the (image, label) and box indexes, so a page costs one round trip whatever it holds.
    """
    if connection.vendor == "postgresql":
        return _entries_page_sql(dataset_id=dataset_id, filters=filters, after=after, limit=limit)
    images = Image.objects.filter(dataset_id=dataset_id)
    if after is not None:
        images = images.filter(pk__gt=after)
    if filters.labeled is not None:
        images = images.filter(is_labeled=filters.labeled)
    if filters.has_errors:
        images = images.exclude(error_code="")
    if filters.source_ref_contains:
        images = images.filter(source_ref__contains=filters.source_ref_contains)
    names = dict(Label.objects.filter(dataset_id=dataset_id).values_list("id", "name"))
    if filters.label_names:
        label_ids = [pk for pk, name in names.items() if name in filters.label_names]
        if not label_ids:
            return [], None
        marks = ", ".join(["%s"] * len(label_ids))
        images = images.filter(
            id__in=RawSQL(
                f"SELECT image_id FROM {ImageLabel._meta.db_table} WHERE label_id IN ({marks}) "
                f"UNION SELECT image_id FROM {BoundingBox._meta.db_table} WHERE label_id IN ({marks})",
                [*label_ids, *label_ids],
            )
        )
    batch = list(_entry_rows(images)[: limit + 1])
    more = len(batch) > limit
    batch = batch[:limit]
    if not batch:
        return [], None
    lines = _lines(batch, {"image_id__in": [row[0] for row in batch]}, names)
    return lines, batch[-1][0] if more else None


def _entries_page_sql(
    *, dataset_id: int, filters: EntriesFilter, after: int | None, limit: int
) -> tuple[list[str], int | None]:
    image, image_label, box, label = (m._meta.db_table for m in (Image, ImageLabel, BoundingBox, Label))
    where, args = ["i.dataset_id = %s"], [dataset_id]
    if after is not None:
        where.append("i.id > %s")
        args.append(after)
    if filters.labeled is not None:
        where.append("i.is_labeled = %s")
        args.append(filters.labeled)
    if filters.has_errors:
        where.append("i.error_code <> ''")
    if filters.source_ref_contains:
        where.append("strpos(i.source_ref, %s) > 0")
        args.append(filters.source_ref_contains)
    if filters.label_names:
        chosen = f"SELECT id FROM {label} WHERE dataset_id = %s AND name = ANY(%s)"
        where.append(
            f"i.id IN (SELECT image_id FROM {image_label} WHERE label_id IN ({chosen}) "
            f"UNION SELECT image_id FROM {box} WHERE label_id IN ({chosen}))"
        )
        args += [dataset_id, list(filters.label_names), dataset_id, list(filters.label_names)]
    sql = (
        f"SELECT i.id, i.source_ref, i.width, i.height, i.error_code, i.error_message, i.problems::text, "
        f"GREATEST(i.created_at, il.latest, bx.latest), il.names, bx.boxes "
        f"FROM {image} i "
        f"LEFT JOIN LATERAL (SELECT array_agg(l.name ORDER BY x.id) AS names, max(x.created_at) AS latest "
        f"FROM {image_label} x JOIN {label} l ON l.id = x.label_id WHERE x.image_id = i.id) il ON true "
        f"LEFT JOIN LATERAL (SELECT json_agg(json_build_array(l.name, b.left, b.top, b.width, b.height) "
        f"ORDER BY b.id) AS boxes, max(b.created_at) AS latest "
        f"FROM {box} b JOIN {label} l ON l.id = b.label_id WHERE b.image_id = i.id) bx ON true "
        f"WHERE {' AND '.join(where)} ORDER BY i.id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*args, limit + 1])
        rows = cursor.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    lines = []
    for *row, labels, boxes in rows:
        latest = row[-1]
        lines.append(
            _manifest_line(
                tuple(row), [(name, latest) for name in labels or ()], [(*b, latest) for b in boxes or ()], _NAMES
            )
        )
    return lines, (rows[-1][0] if more and rows else None)


class _Names(dict):
    """Label names that are their own key: rows that come with the names already."""

    def __missing__(self, key: str) -> str:
        return key


_NAMES = _Names()


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
