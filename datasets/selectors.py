"""Reads for datasets: the gallery's filtered, keyset-paginated images, statistics and progress."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.core.cache import cache
from django.db.models import BooleanField, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.shortcuts import get_object_or_404

from customlabels import sql_batch
from customlabels.numbers import int_or_none
from projects import selectors as project_selectors

from .errors import DatasetError
from .gallery_rows import PAGE_SIZE, GalleryImage, GalleryPage, GalleryPageRead, gallery_rows_read
from .models import (
    BoundingBox,
    Dataset,
    DatasetExport,
    HealthFinding,
    HealthReport,
    Image,
    ImageLabel,
    Label,
    LabelingAction,
)


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
    (image-level or on a box, as ListDatasetEntries' ContainsLabels); has_boxes; name: file name contains;
    check: the images a check of a health report (`report`) is about, in its group `group` if not 0.
    """

    show: str = "all"
    label_ids: tuple[int, ...] = ()
    has_boxes: bool = False
    name: str = ""
    check: str = ""
    report: int | None = None
    group: int = 0

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
            **cls._check_from_query(query),
        )

    @staticmethod
    def _check_from_query(query) -> dict:
        report, check = int_or_none(query.get("report")), query.get("check", "")
        if report is None or not check.replace("_", "").isalnum() or len(check) > 32:
            return {}
        return {"check": check, "report": report, "group": max(0, int_or_none(query.get("group")) or 0)}

    def as_query(self) -> list[tuple[str, str]]:
        pairs = [] if self.show == "all" else [("show", self.show)]
        pairs += [("label", str(pk)) for pk in self.label_ids]
        if self.has_boxes:
            pairs.append(("boxes", "1"))
        if self.name:
            pairs.append(("name", self.name))
        if self.check:
            pairs += [("check", self.check), ("report", str(self.report))]
            if self.group:
                pairs.append(("group", str(self.group)))
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
    if filters.check:
        # Only a report of this dataset: the ids in the query string may name anyone's.
        findings = HealthFinding.objects.filter(
            report_id=filters.report, report__dataset=dataset, check_code=filters.check
        )
        if filters.group:
            findings = findings.filter(group=filters.group)
        q &= Q(**{f"{prefix}id__in": findings.values("image_id")})
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


def _label_page_ids(
    *, dataset: Dataset, filters: GalleryFilter, after: int | None, before: int | None, label_ids: set[int] | None
) -> RawSQL | None:
    """The ids of one page of a label filter, at most PAGE_SIZE + 1 of them from either side (image
    level, boxes), as a subquery of the page's one read; None when the filter names none of the
    dataset's labels.

    Read from the label's side: the (label, image) indexes give a label's images in id order, so a
    page costs a few dozen index reads wherever the label's images sit. Going from the images' side,
    a label whose images all came late in an import (one folder of three) made the database walk
    every earlier image first. `label_ids` are the dataset's labels when the caller has them (the
    gallery's cached counts); they are read otherwise.
    """
    # Only this dataset's labels: an id from the query string may name any label.
    if label_ids is None:
        label_ids = set(Label.objects.filter(dataset=dataset, pk__in=filters.label_ids).values_list("id", flat=True))
    wanted = [pk for pk in filters.label_ids if pk in label_ids]
    if not wanted:
        return None
    descending = before is not None
    if replace(filters, label_ids=()) == GalleryFilter():
        # Labels alone, the usual case, written out: the ORM took longer to compile this than the
        # database to answer it.
        marks = ", ".join(["%s"] * len(wanted))
        bound, position = ("AND image_id < %s", [before]) if descending else ("AND image_id > %s", [after or 0])
        side = (
            f"SELECT DISTINCT image_id FROM {{}} WHERE label_id IN ({marks}) {bound} "
            f"ORDER BY image_id {'DESC' if descending else 'ASC'} LIMIT {PAGE_SIZE + 1}"
        )
        tables = (ImageLabel._meta.db_table, BoundingBox._meta.db_table)
        return RawSQL(_union(side.format(table) for table in tables), [*wanted, *position] * 2)
    where = Q(label_id__in=wanted)
    if descending:
        where &= Q(image_id__lt=before)
    elif after is not None:
        where &= Q(image_id__gt=after)
    # Other parts of the filter are conditions on the image; a label's images are the dataset's.
    where &= _conditions(dataset=dataset, filters=filters, prefix="image__")
    order = "-image_id" if descending else "image_id"
    sides = [
        model.objects.filter(where).order_by(order).values_list("image_id", flat=True).distinct()[: PAGE_SIZE + 1]
        for model in (ImageLabel, BoundingBox)
    ]
    # Each side compiled by the ORM, joined here: a UNION of two limited reads is a subquery the
    # ORM cannot write, and one query instead of three (labels, each side, then the images).
    compiled = [side.query.sql_with_params() for side in sides]
    return RawSQL(_union(sql for sql, _ in compiled), [param for _, params in compiled for param in params])


def _union(sides) -> str:
    """The UNION of limited, ordered reads of image_id, each a subquery of its own (SQLite refuses
    ORDER BY and LIMIT in a compound SELECT's parts)."""
    return " UNION ".join(f"SELECT image_id FROM ({sql}) side{n}" for n, sql in enumerate(sides))


def dataset_images_matching(*, dataset: Dataset, filters: GalleryFilter) -> QuerySet[Image]:
    """Every image the filter selects (for "Select all N images that match this filter")."""
    return _filtered(dataset=dataset, filters=filters)


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


def dataset_images_read(
    *,
    dataset: Dataset,
    filters: GalleryFilter,
    after: int | None = None,
    before: int | None = None,
    label_ids: set[int] | None = None,
) -> GalleryPageRead:
    """One page of the gallery by keyset on id: every page costs the same however deep it is.
    `label_ids`: the dataset's labels, when the caller has read them."""
    descending = before is not None
    if filters.label_ids:
        ids = _label_page_ids(dataset=dataset, filters=filters, after=after, before=before, label_ids=label_ids)
        if ids is None:
            return GalleryPageRead(read=None, descending=descending, after=after)
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
    if descending:
        qs = qs.filter(id__lt=before).order_by("-id")
    else:
        if after is not None:
            qs = qs.filter(id__gt=after)
        qs = qs.order_by("id")
    return GalleryPageRead(
        read=gallery_rows_read(qs[: PAGE_SIZE + 1], descending=descending), descending=descending, after=after
    )


def dataset_images(**kwargs) -> GalleryPage:
    """dataset_images_read's page, read now."""
    page = dataset_images_read(**kwargs)
    return page.page(sql_batch.read_all([page.read])[0] if page.read else [])


def manifest_export_latest(*, dataset: Dataset, succeeded: bool = False):
    """The dataset's latest "Download manifest" export (the latest one that succeeded, if asked), or None."""
    exports = dataset.manifest_exports.filter(version=None).order_by("-created_at", "-id")
    if succeeded:
        exports = exports.filter(status=exports.model.Status.SUCCEEDED)
    return exports.first()


def dataset_exports_recent(*, dataset: Dataset, version=None, limit: int = 5) -> list:
    """The latest "Export dataset" requests of the dataset as it is (or of its `version`), newest first."""
    return list(dataset.exports.filter(version=version).order_by("-created_at", "-id")[:limit])


def dataset_export_get(*, user, pk: int):
    """The user's export, or 404 — never another user's."""
    return get_object_or_404(
        DatasetExport.objects.select_related("dataset__project"), pk=pk, dataset__project__owner=user
    )


def health_report_latest(*, dataset: Dataset):
    """The dataset's latest health report (HealthReport), or None."""
    return dataset.health_reports.order_by("-id").first()


def health_report_get(*, user, pk: int):
    """The user's health report, or 404."""
    return get_object_or_404(
        HealthReport.objects.select_related("dataset__project"), pk=pk, dataset__project__owner=user
    )


def health_groups(*, report, check_code: str, limit: int = 20) -> list[list[int]]:
    """The first `limit` duplicate groups of a check, each the ids of its images."""
    groups: dict[int, list[int]] = {}
    rows = (
        HealthFinding.objects.filter(report=report, check_code=check_code, group__gt=0, group__lte=limit)
        .order_by("group", "image_id")
        .values_list("group", "image_id")
    )
    for group, image_id in rows:
        groups.setdefault(group, []).append(image_id)
    return list(groups.values())


def labeling_last_action(*, dataset: Dataset, user) -> LabelingAction | None:
    """The user's last labeling action in the dataset, as the toolbar names it (without its undo
    payload, which for a change to many images is long).

    Cached under the dataset's stats_version as the page read it: every action is logged, and every
    undo deletes one, in the transaction that bumps the version (`_log`, `labeling_undo`), so a new
    version is the only way the answer changes.
    """
    key = f"labeling-last-action:{dataset.pk}:{user.pk}:{dataset.stats_version}"
    cached = cache.get(key)
    if cached is not None:
        return cached or None
    actions = LabelingAction.objects.filter(dataset_id=dataset.pk, user_id=user.pk)
    action = actions.only("id", "description").order_by("-id").first()
    cache.set(key, action or "", timeout=3600)
    return action
