"""Reads for datasets: the gallery's filtered, keyset-paginated images, statistics and progress."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.shortcuts import get_object_or_404

from customlabels.numbers import int_or_none
from projects import selectors as project_selectors

from .errors import DatasetError
from .models import BoundingBox, Dataset, Image, ImageLabel, Label

PAGE_SIZE = 50


def console_bucket_name() -> str:
    """The console bucket's name, where thumbnails, uploads and exports go; DatasetError before it exists."""
    bucket = project_selectors.console_bucket()
    if bucket is None:
        raise DatasetError("The console bucket has not been created yet.")
    return bucket.name


def dataset_get(*, user, pk: int) -> Dataset:
    """The user's dataset, or 404 — never another user's."""
    return get_object_or_404(Dataset.objects.select_related("project"), pk=pk, project__owner=user)


def image_get(*, user, pk: int) -> Image:
    return get_object_or_404(
        Image.objects.select_related("dataset__project").prefetch_related(
            "labels", Prefetch("boxes", queryset=BoundingBox.objects.select_related("label"))
        ),
        pk=pk,
        dataset__project__owner=user,
    )


def label_get(*, user, pk: int) -> Label:
    return get_object_or_404(Label.objects.select_related("dataset__project"), pk=pk, dataset__project__owner=user)


def datasets_with_labels(*, user, exclude: Dataset) -> QuerySet[Dataset]:
    """The user's other datasets that have a label list to import."""
    return (
        Dataset.objects.filter(project__owner=user, labels__isnull=False)
        .exclude(pk=exclude.pk)
        .select_related("project")
        .distinct()
        .order_by("project__name", "name")
    )


def datasets_copyable(*, user) -> QuerySet[Dataset]:
    """The user's datasets that "Copy an existing … dataset" can copy: any not being created or changed."""
    return (
        Dataset.objects.filter(project__owner=user)
        .exclude(status__in=Dataset.IN_PROGRESS)
        .exclude(status=Dataset.Status.CREATE_FAILED)
        .select_related("project")
        .order_by("project__name", "name")
    )


@dataclass(frozen=True)
class GalleryFilter:
    """What the left pane selects; every part lives in the URL and they combine (AND).

    show: all, labeled, unlabeled or errors; label_ids: images with any of these labels
    (image-level or on a box, as ListDatasetEntries' ContainsLabels); has_boxes; name: file name contains.
    """

    show: str = "all"
    label_ids: tuple[int, ...] = ()
    has_boxes: bool = False
    name: str = ""

    CHOICES = ("all", "labeled", "unlabeled", "errors")

    @classmethod
    def from_query(cls, query) -> GalleryFilter:
        show = query.get("show", "all")
        label_ids = tuple(sorted({n for n in map(int_or_none, query.getlist("label")) if n is not None}))[:10]
        return cls(
            show=show if show in cls.CHOICES else "all",
            label_ids=label_ids,
            has_boxes=query.get("boxes") == "1",
            # PostgreSQL refuses NUL in text, and no file name holds one.
            name=query.get("name", "").replace("\x00", "").strip()[:255],
        )

    def as_query(self) -> list[tuple[str, str]]:
        pairs = [] if self.show == "all" else [("show", self.show)]
        pairs += [("label", str(pk)) for pk in self.label_ids]
        if self.has_boxes:
            pairs.append(("boxes", "1"))
        if self.name:
            pairs.append(("name", self.name))
        return pairs

    @property
    def is_default(self) -> bool:
        return self == GalleryFilter()


def _conditions(*, dataset: Dataset, filters: GalleryFilter, prefix: str = "") -> Q:
    """The filter's conditions on Image fields other than labels, as seen from `prefix` ("image__")."""
    q = Q(**{f"{prefix}dataset": dataset})
    if filters.show == "labeled":
        q &= Q(**{f"{prefix}is_labeled": True})
    elif filters.show == "unlabeled":
        q &= Q(**{f"{prefix}is_labeled": False})
    elif filters.show == "errors":
        q &= ~Q(**{f"{prefix}error_code": ""})
    if filters.has_boxes:
        boxed = BoundingBox.objects.filter(image__dataset=dataset).values("image_id")
        q &= Q(**{f"{prefix}id__in": boxed})
    if filters.name:
        q &= Q(**{f"{prefix}file_name__icontains": filters.name})
    return q


def _filtered(*, dataset: Dataset, filters: GalleryFilter) -> QuerySet[Image]:
    qs = Image.objects.filter(_conditions(dataset=dataset, filters=filters))
    # One IN over a UNION of the label's image ids: PostgreSQL turns it into a hashed semi-join,
    # where EXISTS per row (or two ORed IN lists) would probe once per image of the dataset.
    if filters.label_ids:
        marks = ", ".join(["%s"] * len(filters.label_ids))
        qs = qs.filter(
            id__in=RawSQL(
                f"SELECT image_id FROM {ImageLabel._meta.db_table} WHERE label_id IN ({marks}) "
                f"UNION SELECT image_id FROM {BoundingBox._meta.db_table} WHERE label_id IN ({marks})",
                [*filters.label_ids, *filters.label_ids],
            )
        )
    return qs


def _label_page_ids(*, dataset: Dataset, filters: GalleryFilter, after: int | None, before: int | None) -> list[int]:
    """The ids of one page of a label filter, in page order, at most PAGE_SIZE + 1.

    Read from the label's side: the (label, image) indexes give a label's images in id order, so a
    page costs a few dozen index reads wherever the label's images sit. Going from the images' side,
    a label whose images all came late in an import (one folder of three) made the database walk
    every earlier image first.
    """
    # Only this dataset's labels: an id from the query string may name any label.
    label_ids = list(Label.objects.filter(dataset=dataset, pk__in=filters.label_ids).values_list("id", flat=True))
    if not label_ids:
        return []
    descending = before is not None
    order = "-image_id" if descending else "image_id"
    where = Q(label_id__in=label_ids)
    if descending:
        where &= Q(image_id__lt=before)
    elif after is not None:
        where &= Q(image_id__gt=after)
    if replace(filters, label_ids=()) != GalleryFilter():
        # Other parts of the filter are conditions on the image; a label's images are the dataset's.
        where &= _conditions(dataset=dataset, filters=filters, prefix="image__")
    ids: set[int] = set()
    for model in (ImageLabel, BoundingBox):
        rows = model.objects.filter(where).order_by(order).values_list("image_id", flat=True).distinct()
        ids.update(rows[: PAGE_SIZE + 1])
    return sorted(ids, reverse=descending)[: PAGE_SIZE + 1]


def dataset_images_matching(*, dataset: Dataset, filters: GalleryFilter) -> QuerySet[Image]:
    """Every image the filter selects (for "Select all N images that match this filter")."""
    return _filtered(dataset=dataset, filters=filters)


@dataclass
class GalleryImage:
    """One card of the gallery: the image's own columns, its image-level labels as (id, name) by
    name, and how many bounding boxes it has. Plain values, not model instances: a page has fifty."""

    id: int
    file_name: str
    source_ref: str
    thumbnail_key: str
    error_code: str
    error_message: str
    is_labeled: bool
    labels: list[tuple[int, str]] = field(default_factory=list)
    box_count: int = 0

    COLUMNS = ("id", "file_name", "source_ref", "thumbnail_key", "error_code", "error_message", "is_labeled")

    @property
    def pk(self) -> int:
        return self.id


@dataclass
class GalleryPage:
    images: list[GalleryImage]
    next_after: int | None
    prev_before: int | None
    has_prev: bool = False
    extra: dict = field(default_factory=dict)


def _gallery_images(rows) -> list[GalleryImage]:
    """The page's rows as cards, with their image-level labels (by name) and box counts, read in one query.

    Written in SQL: the ORM spent ten times as long compiling these reads (a join to the labels, a
    count of boxes per image) as the database spent answering them, on every page.
    """
    images = [GalleryImage(*row) for row in rows]
    by_id = {image.id: image for image in images}
    if not by_id:
        return images
    label, image_label, box = (model._meta.db_table for model in (Label, ImageLabel, BoundingBox))
    marks = ", ".join(["%s"] * len(by_id))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT il.image_id, l.id, l.name FROM {image_label} il JOIN {label} l ON l.id = il.label_id "
            f"WHERE il.image_id IN ({marks}) "
            f"UNION ALL SELECT b.image_id, NULL, NULL FROM {box} b WHERE b.image_id IN ({marks}) ORDER BY 3, 2",
            [*by_id, *by_id],
        )
        for image_id, label_id, name in cursor.fetchall():
            if label_id is None:
                by_id[image_id].box_count += 1
            else:
                by_id[image_id].labels.append((label_id, name))
    return images


def _keyset(*, dataset: Dataset, filters: GalleryFilter, after: int | None, before: int | None) -> RawSQL:
    """The page's position as a row comparison on the columns of the index that serves the filter.

    With only `dataset_id = …` and `id > …`, PostgreSQL walks the primary key in id order and skips
    every other dataset's images on the way (60 ms past 100,000 of them); a row comparison can only
    be answered by the (dataset, …, id) index, which starts at this dataset's page.
    """
    table = Image._meta.db_table
    if filters.show in ("labeled", "unlabeled"):
        columns, values = ("dataset_id", "is_labeled", "id"), [dataset.pk, filters.show == "labeled"]
    else:
        columns, values = ("dataset_id", "id"), [dataset.pk]
    row = ", ".join(f'"{table}"."{column}"' for column in columns)
    marks = ", ".join(["%s"] * len(columns))
    if before is not None:
        return RawSQL(f"({row}) < ({marks})", [*values, before], output_field=BooleanField())
    return RawSQL(f"({row}) > ({marks})", [*values, after or 0], output_field=BooleanField())


def dataset_images(
    *, dataset: Dataset, filters: GalleryFilter, after: int | None = None, before: int | None = None
) -> GalleryPage:
    """One page of the gallery by keyset on id: every page costs the same however deep it is."""
    if filters.label_ids:
        ids = _label_page_ids(dataset=dataset, filters=filters, after=after, before=before)
        qs = Image.objects.filter(dataset=dataset, pk__in=ids)
    elif filters.name:
        # Plain id bounds (below): the planner takes the file-name trigram index for a name few images
        # have and an id-ordered index for a common one; the row comparison would force the latter.
        qs = _filtered(dataset=dataset, filters=filters)
    else:
        qs = _filtered(dataset=dataset, filters=filters).filter(
            _keyset(dataset=dataset, filters=filters, after=after, before=before)
        )
    qs = qs.values_list(*GalleryImage.COLUMNS)
    if before is not None:
        rows = list(qs.filter(id__lt=before).order_by("-id")[: PAGE_SIZE + 1])
        has_prev = len(rows) > PAGE_SIZE
        rows = list(reversed(rows[:PAGE_SIZE]))
        has_next = True
    else:
        if after is not None:
            qs = qs.filter(id__gt=after)
        rows = list(qs.order_by("id")[: PAGE_SIZE + 1])
        has_next = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        has_prev = after is not None
    return GalleryPage(
        images=_gallery_images(rows),
        next_after=rows[-1][0] if rows and has_next else None,
        prev_before=rows[0][0] if rows and has_prev else None,
        has_prev=has_prev,
    )


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


def _label_counts(*, dataset_id: int) -> tuple[LabelCount, ...]:
    """Every label of the dataset by name, counted: its image-level assignments (one per image at
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
    with connection.cursor() as cursor:
        cursor.execute(
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
            [dataset_id],
        )
        return tuple(LabelCount(*row) for row in cursor.fetchall())


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
    images = Image.objects.filter(dataset=dataset)
    labels = _label_counts(dataset_id=dataset.pk)
    # Each count is answered from an index without reading the table: the total from the dataset's,
    # the unlabeled (usually the few) from (dataset, is_labeled, id), the errors from the partial one.
    total = images.count()
    stats = DatasetStats(
        total=total,
        labeled=total - images.filter(is_labeled=False).count(),
        errors=images.exclude(error_code="").count(),
        labels=len(labels),
    )
    value = (stats, labels)
    # Kept only when no change committed while counting: a change's counts_follow would add its
    # rows a second time to figures that already hold them.
    if Dataset.objects.filter(pk=dataset.pk, stats_version=version).exists():
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


def manifest_export_latest(*, dataset: Dataset, succeeded: bool = False):
    """The dataset's latest "Download manifest" export (the latest one that succeeded, if asked), or None."""
    exports = dataset.manifest_exports.order_by("-created_at", "-id")
    if succeeded:
        exports = exports.filter(status=exports.model.Status.SUCCEEDED)
    return exports.first()
