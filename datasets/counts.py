"""A dataset's statistics and its labels' counts (DescribeDataset's DatasetStats, ListDatasetLabels'
LabelStats), cached under the dataset's stats_version and carried forward by changes that know
what they added, so pages and polls never recount a large dataset."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.core.cache import cache

from customlabels import sql_batch

from .models import BoundingBox, Dataset, Image, ImageLabel, Label


@dataclass(frozen=True)
class DatasetStats:
    total: int
    labeled: int
    labels: int
    errors: int

    @property
    def unlabeled(self) -> int:
        return self.total - self.labeled


@dataclass(frozen=True)
class LabelCount:
    """A label of the dataset with ListDatasetLabels' LabelStats: `image_count` images use it, as an
    image-level label or on a box (EntryCount, what the label filter finds), on `box_count` boxes."""

    id: int
    name: str
    image_count: int
    box_count: int


def _label_counts_from(rows) -> tuple[LabelCount, ...]:
    return tuple(LabelCount(*row) for row in rows)


def _label_counts_read(*, dataset_id: int) -> tuple[str, list]:
    """The read of every label of the dataset by name, counted: its image-level assignments (one per image at
    most) plus the images that have it only on boxes, so an image with the label on itself and on
    three boxes counts once, as in ListDatasetLabels' EntryCount.

    Each count reads a (label, image) index without the tables, and the images with boxes are
    counted the cheapest way the label's shape allows: not at all without boxes (classification),
    as distinct images without image-level assignments (detection), and, for a label that has both,
    by looking each box's image up in the assignments when the boxes are the fewer, else with an
    anti-join the database plans. Collecting and deduplicating all of a label's images (a UNION) took
    twice as long at 100,000 images.
    """
    label, image_label, box = (model._meta.db_table for model in (Label, ImageLabel, BoundingBox))
    box_images = f"SELECT COUNT(DISTINCT b.image_id) FROM {box} b WHERE b.label_id = counted.id"
    return (
        f"WITH counted AS MATERIALIZED (SELECT l.id, l.name, "
        f"(SELECT COUNT(*) FROM {image_label} il WHERE il.label_id = l.id) AS assigned, "
        f"(SELECT COUNT(*) FROM {box} b WHERE b.label_id = l.id) AS boxes "
        f"FROM {label} l WHERE l.dataset_id = %s) "
        f"SELECT id, name, assigned + CASE "
        f"WHEN boxes = 0 THEN 0 "
        f"WHEN assigned = 0 THEN ({box_images}) "
        f"WHEN boxes <= assigned THEN ({box_images} AND (SELECT il.image_id FROM {image_label} il "
        f"WHERE il.image_id = b.image_id AND il.label_id = b.label_id) IS NULL) "
        f"ELSE ({box_images} AND NOT EXISTS (SELECT 1 FROM {image_label} il "
        f"WHERE il.label_id = counted.id AND il.image_id = b.image_id)) END, "
        f"boxes FROM counted ORDER BY name",
        [int(dataset_id)],
    )


def _counts(*, dataset: Dataset, version: int | None = None) -> tuple[DatasetStats, tuple[LabelCount, ...]]:
    """The dataset's statistics and its labels with their counts, cached under its stats_version
    (every change to its images, labels or boxes bumps it, label names included).

    The version is read from the database unless the caller read it after any change of its own
    (`version`), never taken from an object that may be older, so figures are recomputed after any
    committed change and read from the cache otherwise.
    """
    if version is None:
        version = Dataset.objects.filter(pk=dataset.pk).values_list("stats_version", flat=True).first()
    key = _counts_key(dataset.pk, version)
    cached = cache.get(key)
    if cached is not None:
        return cached
    # Each count is answered from an index without reading the table: the total from the dataset's,
    # the unlabeled (usually the few) from (dataset, is_labeled, id), the errors from the partial one.
    # All in one round trip, and last whether the version is still this one: kept only when no change
    # committed while counting, since a change's counts_follow would add its rows a second time.
    image, table, pk = Image._meta.db_table, Dataset._meta.db_table, dataset.pk
    labels, [(total,)], [(unlabeled,)], [(errors,)], unchanged = sql_batch.read_all(
        [
            _label_counts_read(dataset_id=pk),
            (f'SELECT COUNT(*) FROM "{image}" WHERE "dataset_id" = %s', [pk]),
            (f'SELECT COUNT(*) FROM "{image}" WHERE "dataset_id" = %s AND NOT "is_labeled"', [pk]),
            (f'SELECT COUNT(*) FROM "{image}" WHERE "dataset_id" = %s AND NOT ("error_code" = \'\')', [pk]),
            (f'SELECT 1 FROM "{table}" WHERE "id" = %s AND "stats_version" = %s', [pk, version]),
        ]
    )
    labels = _label_counts_from(labels)
    stats = DatasetStats(total=total, labeled=total - unlabeled, errors=errors, labels=len(labels))
    value = (stats, labels)
    if unchanged:
        cache.set(key, value, timeout=3600)
    return value


def _counts_key(dataset_id: int, version: int) -> str:
    return f"dataset-counts:{dataset_id}:{version}"


def counts_cached(*, dataset_id: int, version: int) -> bool:
    """Whether the counts of this version of the dataset are cached (so a change can carry them over)."""
    return cache.get(_counts_key(dataset_id, version)) is not None


def counts_follow(
    *,
    dataset_id: int,
    version: int,
    new_version: int,
    labeled: int,
    label_images: dict[int, int],
    total: int = 0,
    errors: int = 0,
    label_boxes: dict[int, int] | None = None,
) -> None:
    """Carry the cached counts of `version` over to `new_version` for a change known to add `total`
    images, `labeled` labeled images, `errors` images with an error, label_images[label] images
    that use the label (as an image-level label or on a box) and did not before, and
    label_boxes[label] boxes, instead of recounting. A label it names that the counts lack is new.

    Only for a change that held the dataset row lock from `version` to `new_version` and changed
    no label's name.
    """
    cached = cache.get(_counts_key(dataset_id, version))
    if cached is None:
        return
    stats, labels = cached
    label_boxes = label_boxes or {}
    counted = {lb.id: lb for lb in labels}
    new = {*label_images, *label_boxes} - set(counted)
    if new:
        # Labels the change created: their names, for the label lists.
        for pk, name in Label.objects.filter(pk__in=new).values_list("id", "name"):
            counted[pk] = LabelCount(id=pk, name=name, image_count=0, box_count=0)
    labels = tuple(
        replace(
            lb,
            image_count=lb.image_count + label_images.get(lb.id, 0),
            box_count=lb.box_count + label_boxes.get(lb.id, 0),
        )
        for lb in counted.values()
    )
    if new:
        labels = tuple(sorted(labels, key=lambda lb: lb.name))
    stats = replace(
        stats,
        total=stats.total + total,
        labeled=stats.labeled + labeled,
        errors=stats.errors + errors,
        labels=len(labels),
    )
    cache.set(_counts_key(dataset_id, new_version), (stats, labels), timeout=3600)


def datasets_image_counts(*, datasets: list[Dataset]) -> dict[int, int]:
    """{dataset id: its images (TotalEntries)} for datasets just read with their stats_version: from
    the counts the gallery caches under that version, counted (and cached) only where none are."""
    keys = {dataset.pk: _counts_key(dataset.pk, dataset.stats_version) for dataset in datasets}
    cached = cache.get_many(list(keys.values()))
    return {
        dataset.pk: (cached[keys[dataset.pk]] if keys[dataset.pk] in cached else _counts(dataset=dataset))[0].total
        for dataset in datasets
    }


def dataset_stats(*, dataset: Dataset) -> DatasetStats:
    """DescribeDataset's DatasetStats (spec §6.8): TotalEntries, LabeledEntries, TotalLabels, ErrorEntries."""
    return _counts(dataset=dataset)[0]


def dataset_labels_with_counts(*, dataset: Dataset) -> list[LabelCount]:
    """Every label of the dataset, ordered by name, with `image_count` (images that use it, as an
    image-level label or on a box: what the label filter finds) and `box_count` (boxes with it), as
    ListDatasetLabels' LabelStats (EntryCount, BoundingBoxCount)."""
    return dataset_counts(dataset=dataset)[1]


def dataset_counts(*, dataset: Dataset, version: int | None = None) -> tuple[DatasetStats, list[LabelCount]]:
    """dataset_stats and dataset_labels_with_counts from one read of the cached counts; `version` is
    the dataset's stats_version when the caller has just read it (after any change it made)."""
    stats, labels = _counts(dataset=dataset, version=version)
    return stats, list(labels)
