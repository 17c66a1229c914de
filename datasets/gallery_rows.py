"""A page of gallery cards as the database gives them: each image's columns, its image-level labels and
its box count in one read (`gallery_rows_read`, a row per image and label), made into cards
(`gallery_rows_from`) and into a page (`GalleryPageRead.page`). The page's filter and position are
selectors.dataset_images_read's."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import EmptyResultSet
from django.db.models import QuerySet

from .models import BoundingBox, ImageLabel, Label

PAGE_SIZE = 50


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


def gallery_rows_read(page: QuerySet, *, descending: bool) -> tuple[str, list] | None:
    """The read of the page's rows (a limited, ordered values_list of GalleryImage.COLUMNS) with each
    image's image-level labels (by name) and its box count: a row per image and label, for
    gallery_rows_from. None for a page that cannot have a row.

    Written in SQL around the ORM's page: the ORM spent ten times as long compiling these reads (a join
    to the labels, a count of boxes per image) as the database spent answering them, and a second
    query for them was a round trip on every page. Plain joins, which SQLite (`make run`) has too.
    """
    try:
        sql, params = page.query.sql_with_params()
    except EmptyResultSet:
        return None
    label, image_label, box = (model._meta.db_table for model in (Label, ImageLabel, BoundingBox))
    return (
        f'SELECT page.*, l."id", l."name", (SELECT count(*) FROM "{box}" b WHERE b."image_id" = page."id") '
        f'FROM ({sql}) page LEFT JOIN "{image_label}" il ON il."image_id" = page."id" '
        f'LEFT JOIN "{label}" l ON l."id" = il."label_id" '
        f'ORDER BY page."id" {"DESC" if descending else "ASC"}, l."name", l."id"',
        list(params),
    )


def gallery_rows_from(rows) -> list[GalleryImage]:
    columns = len(GalleryImage.COLUMNS)
    images: dict[int, GalleryImage] = {}
    for row in rows:
        image = images.get(row[0])
        if image is None:
            image = images[row[0]] = GalleryImage(*row[:columns], box_count=row[-1])
        if row[columns] is not None:
            image.labels.append((row[columns], row[columns + 1]))
    return list(images.values())


@dataclass(frozen=True)
class GalleryPageRead:
    """A page of the gallery to read (`read`, None for a page that cannot have a row) and how its
    rows make the page (`page`): apart, so a view can read it together with others (sql_batch)."""

    read: tuple[str, list] | None
    descending: bool
    after: int | None

    def page(self, rows) -> GalleryPage:
        images = gallery_rows_from(rows)
        if self.descending:
            has_prev = len(images) > PAGE_SIZE
            images = list(reversed(images[:PAGE_SIZE]))
            has_next = True
        else:
            has_next = len(images) > PAGE_SIZE
            images = images[:PAGE_SIZE]
            has_prev = self.after is not None
        return GalleryPage(
            images=images,
            next_after=images[-1].id if images and has_next else None,
            prev_before=images[0].id if images and has_prev else None,
            has_prev=has_prev,
        )
