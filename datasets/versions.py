"""Dataset versions: "Create version" freezes a dataset's entries with one INSERT … SELECT, the
comparison of two versions (or a version and now) is one FULL OUTER JOIN on source-ref, a version
is restored as a new dataset by a worker. A version keeps no image, only what its entries say.

version_create        freeze the dataset under a name (atomic; refused while it changes)
versions_compare      counts and a page of the differences of two versions, or a version and now
version_restore_start a new dataset queued to receive the version's entries; version_restore fills it
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.shortcuts import get_object_or_404

from customlabels.celery import send_after_commit

from . import counts, health, services
from .errors import DatasetError
from .models import BoundingBox, Dataset, DatasetVersion, Image, ImageLabel, Label, VersionEntry
from .operations.thumbnail_queue import dataset_thumbnails_queue
from .version_rules import CompareCounts, EntryChange, entry_change

PAGE_SIZE = 50
RESTORE_BATCH = 2000
_ENTRY_COLUMNS = "source_ref, file_name, format, width, height, size, etag, phash, error_code, error_message, problems, labels, boxes"


def _aggregates() -> tuple[str, str]:
    """SQL of an image's labels and boxes as sorted JSON arrays (text), for `i`, an image row."""
    label, image_label, box = (m._meta.db_table for m in (Label, ImageLabel, BoundingBox))
    box_order = 'l.name, b."left", b.top, b.width, b.height'
    if connection.vendor == "postgresql":
        labels = (
            f"COALESCE((SELECT json_agg(l.name ORDER BY l.name)::text FROM {image_label} il "
            f"JOIN {label} l ON l.id = il.label_id WHERE il.image_id = i.id), '[]')"
        )
        boxes = (
            f'COALESCE((SELECT json_agg(json_build_array(l.name, b."left", b.top, b.width, b.height) '
            f"ORDER BY {box_order})::text FROM {box} b JOIN {label} l ON l.id = b.label_id "
            "WHERE b.image_id = i.id), '[]')"
        )
    else:
        labels = (
            f"(SELECT json_group_array(name) FROM (SELECT l.name FROM {image_label} il JOIN {label} l "
            "ON l.id = il.label_id WHERE il.image_id = i.id ORDER BY l.name))"
        )
        boxes = (
            '(SELECT json_group_array(json(x)) FROM (SELECT json_array(l.name, b."left", b.top, b.width, b.height) '
            f"AS x FROM {box} b JOIN {label} l ON l.id = b.label_id WHERE b.image_id = i.id ORDER BY {box_order}))"
        )
    return labels, boxes


def _live_entries_sql() -> str:
    """The dataset's entries now, with the columns of VersionEntry (one parameter: the dataset id)."""
    labels, boxes = _aggregates()
    problems = "i.problems::text" if connection.vendor == "postgresql" else "i.problems"
    return (
        "SELECT i.source_ref, i.file_name, i.format, i.width, i.height, i.size, i.etag, i.phash, "
        f"i.error_code, i.error_message, {problems} AS problems, {labels} AS labels, {boxes} AS boxes "
        f"FROM {Image._meta.db_table} i WHERE i.dataset_id = %s ORDER BY i.id"
    )


@transaction.atomic
def version_create(*, dataset: Dataset, user, name: str) -> DatasetVersion:
    """Freeze the dataset as it is now under `name`: its entries (images, labels, boxes, errors),
    label list, statistics and the health summary of a report that is current. Atomic, one
    statement for the entries; the rows are never changed afterwards. Raises DatasetError for a
    name the dataset's versions have, or while the dataset is being created or changed."""
    locked = Dataset.objects.select_for_update().select_related("project").get(pk=dataset.pk)
    if locked.project.owner_id != user.pk:
        raise DatasetError("Choose one of your datasets.")
    if locked.is_in_progress:
        raise DatasetError("The dataset is being created or updated. Wait until it finishes, then create a version.")
    if locked.never_created:
        raise DatasetError("The dataset could not be created, so it has nothing to keep in a version.")
    try:
        with transaction.atomic():
            version = DatasetVersion.objects.create(
                dataset=locked,
                name=name,
                created_by=user,
                stats_version=locked.stats_version,
                health=health.health_overview(dataset=locked),
            )
    except IntegrityError as exc:
        raise DatasetError(f"A version named “{name}” already exists for this dataset.", field="name") from exc
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {VersionEntry._meta.db_table} (version_id, {_ENTRY_COLUMNS}) "
            f"SELECT %s, e.* FROM ({_live_entries_sql()}) e",
            [version.pk, locked.pk],
        )
    stats, label_counts = counts.dataset_counts(dataset=locked)
    DatasetVersion.objects.filter(pk=version.pk).update(
        images=stats.total,
        labeled=stats.labeled,
        errors=stats.errors,
        boxes=sum(label.box_count for label in label_counts),
        label_counts={label.name: label.image_count for label in label_counts},
    )
    version.refresh_from_db()
    return version


def version_get(*, user, pk: int) -> DatasetVersion:
    """The user's version, or 404."""
    return get_object_or_404(
        DatasetVersion.objects.select_related("dataset__project"), pk=pk, dataset__project__owner=user
    )


@dataclass
class CompareRow:
    """One image that differs: `kind` added, removed or changed, its labels and boxes on each side."""

    source_ref: str
    file_name: str
    kind: str
    labels: list[str] = field(default_factory=list)
    boxes: list = field(default_factory=list)
    change: EntryChange | None = None


def _side(version: DatasetVersion | None, dataset: Dataset) -> tuple[str, list]:
    if version is None:
        return _live_entries_sql(), [dataset.pk]
    return f"SELECT {_ENTRY_COLUMNS} FROM {VersionEntry._meta.db_table} WHERE version_id = %s", [version.pk]


_KINDS = {
    "added": "a.source_ref IS NULL",
    "removed": "b.source_ref IS NULL",
    "changed": "a.source_ref IS NOT NULL AND b.source_ref IS NOT NULL AND (a.labels <> b.labels OR a.boxes <> b.boxes)",
}


def _differences(*, dataset, before, after, kind: str = "", after_ref: str = "", limit: int | None = None):
    """The rows that differ between the sides, by source-ref: (ref, name, labels and boxes before and after)."""
    before_sql, before_params = _side(before, dataset)
    after_sql, after_params = _side(after, dataset)
    where = f"({_KINDS[kind]})" if kind in _KINDS else " OR ".join(f"({c})" for c in _KINDS.values())
    params = [*before_params, *after_params]
    if after_ref:
        where = f"({where}) AND COALESCE(a.source_ref, b.source_ref) > %s"
        params.append(after_ref)
    sql = (
        f"WITH a AS ({before_sql}), b AS ({after_sql}) "
        "SELECT COALESCE(a.source_ref, b.source_ref) AS ref, COALESCE(b.file_name, a.file_name), "
        "a.source_ref IS NOT NULL, a.labels, a.boxes, b.source_ref IS NOT NULL, b.labels, b.boxes "
        f"FROM a FULL OUTER JOIN b ON a.source_ref = b.source_ref WHERE {where} ORDER BY ref"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(2000):
            yield from rows


def _compare_row(row) -> CompareRow:
    ref, name, in_a, labels_a, boxes_a, in_b, labels_b, boxes_b = row
    if not in_a:
        return CompareRow(ref, name, "added", json.loads(labels_b), json.loads(boxes_b))
    if not in_b:
        return CompareRow(ref, name, "removed", json.loads(labels_a), json.loads(boxes_a))
    change = entry_change(
        labels_before=json.loads(labels_a),
        boxes_before=json.loads(boxes_a),
        labels_after=json.loads(labels_b),
        boxes_after=json.loads(boxes_b),
    )
    return CompareRow(ref, name, "changed", json.loads(labels_b), json.loads(boxes_b), change)


def versions_compare_counts(*, dataset: Dataset, before: DatasetVersion | None, after: DatasetVersion | None):
    """The comparison's totals (CompareCounts), read in one pass over the differing rows; kept in
    the cache under both sides (the dataset's stats_version stands for now), so paging is cheap."""
    key = f"compare:{dataset.pk}:{getattr(before, 'pk', f'now{dataset.stats_version}')}:" + str(
        getattr(after, "pk", f"now{dataset.stats_version}")
    )
    counts = cache.get(key)
    if counts is None:
        counts = CompareCounts()
        for row in _differences(dataset=dataset, before=before, after=after):
            item = _compare_row(row)
            if item.kind == "added":
                counts.images_added += 1
            elif item.kind == "removed":
                counts.images_removed += 1
            elif item.change.changed:
                counts.add(item.change)
        cache.set(key, counts, 3600)
    return counts


def versions_compare_page(
    *,
    dataset: Dataset,
    before: DatasetVersion | None,
    after: DatasetVersion | None,
    kind: str = "",
    after_ref: str = "",
) -> tuple[list[CompareRow], str | None]:
    """One page of the differing images in source-ref order, and the ref to continue after (or None)."""
    rows = [
        _compare_row(row)
        for row in _differences(
            dataset=dataset, before=before, after=after, kind=kind, after_ref=after_ref, limit=PAGE_SIZE + 1
        )
    ]
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, rows[-1].source_ref if more and rows else None


@transaction.atomic
def version_restore_start(*, version: DatasetVersion, user, name: str) -> Dataset:
    """A new dataset in the version's project, named `name`, that a worker fills with the version's
    entries (version_restore). Raises DatasetError on a name the project has."""
    source = version.dataset
    if source.project.owner_id != user.pk:
        raise DatasetError("Choose one of your versions.")
    dataset = services.dataset_new(
        project=source.project,
        name=name,
        dataset_type=source.dataset_type,
        status_message=f"Restoring from version {version.name} of {source.name} ({version.images:,} image{'s' if version.images != 1 else ''}).",
    )
    send_after_commit(
        "datasets.tasks.version_restore_task",
        dataset.pk,
        version.pk,
        on_error=lambda: version_restore_fail(dataset_id=dataset.pk),
    )
    return dataset


def version_restore_fail(*, dataset_id: int, message: str = "The version could not be restored.") -> None:
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().filter(pk=dataset_id).first()
        if dataset is not None and dataset.status == Dataset.Status.CREATE_IN_PROGRESS:
            services.status_set(
                dataset=dataset,
                status=Dataset.Status.CREATE_FAILED,
                message=message,
                code=Dataset.StatusMessageCode.SERVICE_ERROR,
            )


@transaction.atomic
def version_restore(*, dataset_id: int, version_id: int) -> int:
    """Fill the new dataset with the version's entries: images with their measurements and errors,
    labels, image-level labels and boxes, then CREATE_COMPLETE and its thumbnails queued. Atomic
    (a failure leaves the dataset empty, CREATE_FAILED by the task); idempotent: a dataset already
    complete is left as it is. Returns how many images it holds."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset_id)
    if dataset.status != Dataset.Status.CREATE_IN_PROGRESS:
        return dataset.images.count()
    entries = VersionEntry.objects.filter(version_id=version_id).order_by("id")
    version = DatasetVersion.objects.get(pk=version_id)
    names = set(version.label_counts)
    for labels, boxes in entries.values_list("labels", "boxes").iterator(chunk_size=RESTORE_BATCH):
        names.update(json.loads(labels))
        names.update(box[0] for box in json.loads(boxes))
    Label.objects.bulk_create([Label(dataset=dataset, name=name) for name in sorted(names)])
    label_ids = dict(Label.objects.filter(dataset=dataset).values_list("name", "id"))
    total = 0
    fields = ("source_ref", "file_name", "format", "width", "height", "size", "etag", "phash")
    batch: list = []
    for entry in entries.iterator(chunk_size=RESTORE_BATCH):
        batch.append(entry)
        if len(batch) == RESTORE_BATCH:
            total += _restore_batch(dataset, batch, label_ids, fields)
            batch = []
    total += _restore_batch(dataset, batch, label_ids, fields)
    services.status_set(
        dataset=dataset,
        status=Dataset.Status.CREATE_COMPLETE,
        message=f"Restored from version {version.name} of {version.dataset.name}.",
        code=Dataset.StatusMessageCode.SUCCESS,
    )
    services.dataset_changed(dataset_id=dataset.pk)
    transaction.on_commit(lambda: dataset_thumbnails_queue(dataset_id=dataset.pk))
    return total


def _restore_batch(dataset: Dataset, entries: list[VersionEntry], label_ids: dict, fields) -> int:
    images = [
        Image(
            dataset=dataset,
            **{f: getattr(entry, f) for f in fields},
            error_code=entry.error_code,
            error_message=entry.error_message,
            problems=json.loads(entry.problems),
            is_labeled=entry.labels != "[]" or entry.boxes != "[]",
            needs_thumbnail=not (entry.error_code == "ERROR_INVALID_IMAGE"),
        )
        for entry in entries
    ]
    Image.objects.bulk_create(images, batch_size=RESTORE_BATCH)
    links, boxes = [], []
    for image, entry in zip(images, entries, strict=True):
        links += [ImageLabel(image=image, label_id=label_ids[name]) for name in json.loads(entry.labels)]
        boxes += [
            BoundingBox(image=image, label_id=label_ids[name], left=left, top=top, width=w, height=h)
            for name, left, top, w, h in json.loads(entry.boxes)
        ]
    ImageLabel.objects.bulk_create(links, batch_size=RESTORE_BATCH)
    BoundingBox.objects.bulk_create(boxes, batch_size=RESTORE_BATCH)
    return len(images)


def versions_of(*, dataset: Dataset):
    """The dataset's versions, newest first."""
    return DatasetVersion.objects.filter(dataset=dataset).order_by("-created_at", "-id")
