"""Writes of labeling mode (spec §6.3–6.5): the label list, image-level labels, bounding boxes, undo.

Every change is saved when it is made. Each one a user makes is logged as a LabelingAction so
"Undo" can reverse that user's last change. `Image.is_labeled` (an image-level label or a box)
is kept true to the rows here, in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, OuterRef, QuerySet, Subquery
from django.utils import timezone

from . import counts, rules
from .errors import DatasetError, ErrorCode
from .models import BoundingBox, Dataset, Image, ImageLabel, Label, LabelingAction
from .services import dataset_changed


class BoxError(DatasetError):
    def __init__(self, message: str, *, code: str):
        super().__init__(message, field=None)
        self.code = code


def label_name_clean(name: str) -> str:
    """Trim a label name and check it is 1–255 characters (spec §4; names compare exactly)."""
    cleaned = (name or "").strip()
    if not cleaned:
        raise DatasetError("Enter a label name.", field="name")
    if rules.has_control_characters(cleaned):
        raise DatasetError("Label names can't contain control characters.", field="name")
    if len(cleaned) > rules.MAX_LABEL_LENGTH:
        raise DatasetError(f"A label name can have at most {rules.MAX_LABEL_LENGTH} characters.", field="name")
    return cleaned


def _log(*, dataset: Dataset, user, kind: str, description: str, payload: dict | None = None) -> LabelingAction:
    dataset_changed(dataset_id=dataset.pk)
    return LabelingAction.objects.create(
        dataset=dataset, user=user, kind=kind, description=description[:300], payload=payload or {}
    )


def images_labeled_refresh(*, images: QuerySet[Image] | Iterable[int]) -> None:
    """Recompute is_labeled (an image-level label or a bounding box) for the given images."""
    qs = images if isinstance(images, QuerySet) else Image.objects.filter(pk__in=list(images))
    qs.update(is_labeled=ExpressionWrapper(Image.labeled_condition(), output_field=BooleanField()))


# --- the label list ------------------------------------------------------------------------


@transaction.atomic
def label_add(*, dataset: Dataset, user, name: str) -> Label:
    """Add a label to the dataset's list. Raises DatasetError(field="name") for a bad or taken name."""
    name = label_name_clean(name)
    try:
        with transaction.atomic():
            label = Label.objects.create(dataset=dataset, name=name)
    except IntegrityError as exc:
        raise DatasetError(f"The label “{name}” already exists.", field="name") from exc
    _log(
        dataset=dataset,
        user=user,
        kind=LabelingAction.Kind.LABEL_ADD,
        description=f"Add label {name}",
        payload={"label": label.pk},
    )
    return label


@transaction.atomic
def label_rename(*, label: Label, user, name: str) -> Label:
    """Rename a label; every image and box follows, since they point at the row."""
    name = label_name_clean(name)
    old = label.name
    if name == old:
        return label
    if Label.objects.filter(dataset_id=label.dataset_id, name=name).exists():
        raise DatasetError(f"The label “{name}” already exists.", field="name")
    label.name = name
    label.save(update_fields=["name"])
    _log(
        dataset=label.dataset,
        user=user,
        kind=LabelingAction.Kind.LABEL_RENAME,
        description=f"Rename label {old} to {name}",
        payload={"label": label.pk, "old": old},
    )
    return label


def label_usage(*, label: Label) -> tuple[int, int]:
    """(images with the label as an image-level label, bounding boxes with the label)."""
    return label.image_labels.count(), label.boxes.count()


@transaction.atomic
def label_remove(*, label: Label) -> tuple[int, int]:
    """Remove a label with its image-level assignments and boxes. Returns what was removed.

    Confirmed by the user beforehand; it is not undoable.
    """
    images = list(label.image_labels.values_list("image_id", flat=True)) + list(
        label.boxes.values_list("image_id", flat=True)
    )
    usage = label_usage(label=label)
    dataset_changed(dataset_id=label.dataset_id)
    label.delete()
    images_labeled_refresh(images=set(images))
    return usage


@transaction.atomic
def labels_import(*, dataset: Dataset, source: Dataset, user) -> list[Label]:
    """Copy another dataset's label list into a dataset that has no labels yet (spec §6.3). Both are
    the user's: another user's dataset is refused as if it did not exist."""
    if source.project.owner_id != user.pk or dataset.project.owner_id != user.pk:
        raise DatasetError("Choose one of your datasets to import labels from.", field="source")
    if dataset.pk == source.pk:
        raise DatasetError("Choose another dataset to import labels from.", field="source")
    if dataset.labels.exists():
        raise DatasetError(
            "You can only import a label list into a dataset that doesn't have any labels.", field="source"
        )
    names = list(source.labels.order_by("name").values_list("name", flat=True))
    if not names:
        raise DatasetError(f"The dataset {source.name} has no labels to import.", field="source")
    Label.objects.bulk_create([Label(dataset=dataset, name=n) for n in names])
    dataset_changed(dataset_id=dataset.pk)
    return list(dataset.labels.order_by("name"))


# --- image-level labels --------------------------------------------------------------------


def _labels_of(dataset: Dataset, label_ids: Iterable[int]) -> list[Label]:
    ids = {int(i) for i in label_ids}
    labels = list(Label.objects.filter(dataset=dataset, pk__in=ids))
    if not labels or len(labels) != len(ids):
        raise DatasetError("Choose one or more labels of this dataset.", field="labels")
    return labels


def _image_ids_query(dataset: Dataset, images: QuerySet[Image]) -> QuerySet:
    return images.filter(dataset=dataset).order_by().values("id")


def _already_boxed(*, label_id: int, action: LabelingAction) -> int:
    """How many images the action gave the label to that have it on a box. Read from the label's
    boxes (none, for most labels of a classification dataset), never from the images assigned: a
    scalar subquery, which PostgreSQL does not turn into a join that would start from the 100,000
    rows just added, looks each box's image up in the unique (image, label) index."""
    assigned_by = ImageLabel.objects.filter(image_id=OuterRef("image_id"), label_id=label_id).values("action_id")
    return (
        BoundingBox.objects.filter(label_id=label_id)
        .annotate(assigned_by=Subquery(assigned_by[:1]))
        .filter(assigned_by=action.pk)
        .order_by()
        .values("image_id")
        .distinct()
        .count()
    )


@transaction.atomic
def images_labels_assign(*, dataset: Dataset, user, label_ids: Iterable[int], images: QuerySet[Image]) -> int:
    """Add the labels to every image of the queryset in one statement per label. Returns rows added.

    Images already holding a label keep it (no duplicate); undo removes only the rows added here.
    """
    labels = _labels_of(dataset, label_ids)
    # Lock the dataset row for the transaction: changes to one dataset's labels run one at a time,
    # so the counts cached for the version we start from are exactly what this change alters.
    version = Dataset.objects.select_for_update().filter(pk=dataset.pk).values_list("stats_version", flat=True).get()
    ids_sql, ids_params = _image_ids_query(dataset, images).query.sql_with_params()
    names = ", ".join(label.name for label in labels)
    action = _log(dataset=dataset, user=user, kind=LabelingAction.Kind.ASSIGN, description=f"Assign {names}")
    now = timezone.now()
    added_by_label = {}
    table = ImageLabel._meta.db_table
    with connection.cursor() as cursor:
        for label in labels:
            cursor.execute(
                f"INSERT INTO {table} (image_id, label_id, action_id, created_at) "
                f"SELECT s.id, %s, %s, %s FROM ({ids_sql}) s WHERE true "
                "ON CONFLICT (image_id, label_id) DO NOTHING",
                [label.pk, action.pk, now, *ids_params],
            )
            added_by_label[label.pk] = max(cursor.rowcount, 0)
    added = sum(added_by_label.values())
    newly_labeled = images.filter(dataset=dataset, is_labeled=False).update(is_labeled=True)
    if counts.counts_cached(dataset_id=dataset.pk, version=version):
        # Carry the cached counts over instead of recounting. An image that had the label on a box
        # already counted among the label's images.
        newly_using = {
            pk: n - _already_boxed(label_id=pk, action=action) if n else 0 for pk, n in added_by_label.items()
        }
        new_version = Dataset.objects.filter(pk=dataset.pk).values_list("stats_version", flat=True).get()
        transaction.on_commit(
            lambda: counts.counts_follow(
                dataset_id=dataset.pk,
                version=version,
                new_version=new_version,
                labeled=newly_labeled,
                label_images=newly_using,
            )
        )
    action.payload = {"added": added}
    action.description = f"Assign {names} ({added} added)"
    action.save(update_fields=["payload", "description"])
    return added


@transaction.atomic
def images_labels_remove(*, dataset: Dataset, user, label_ids: Iterable[int], images: QuerySet[Image]) -> int:
    """Remove the labels from every image of the queryset. Returns how many assignments were removed."""
    labels = _labels_of(dataset, label_ids)
    rows = ImageLabel.objects.filter(label__in=labels, image_id__in=_image_ids_query(dataset, images))
    pairs = list(rows.values_list("image_id", "label_id"))
    if not pairs:
        return 0
    rows.delete()
    images_labeled_refresh(images={image_id for image_id, _ in pairs})
    names = ", ".join(label.name for label in labels)
    _log(
        dataset=dataset,
        user=user,
        kind=LabelingAction.Kind.UNASSIGN,
        description=f"Remove {names} from {len({p[0] for p in pairs})} images",
        payload={"pairs": pairs},
    )
    return len(pairs)


# --- bounding boxes ------------------------------------------------------------------------


def _box_fit(image: Image, left: float, top: float, width: float, height: float) -> tuple[int, int, int, int]:
    """Keep a box inside the image (in image pixels) and check it is larger than 1×1 px."""
    if not image.width or not image.height:
        raise BoxError(
            "This image has no known size, so it can't take bounding boxes.", code=ErrorCode.ERROR_INVALID_IMAGE
        )
    x0 = max(0, min(round(left), image.width))
    y0 = max(0, min(round(top), image.height))
    x1 = max(0, min(round(left + width), image.width))
    y1 = max(0, min(round(top + height), image.height))
    w, h = x1 - x0, y1 - y0
    if left >= image.width or top >= image.height or left + width <= 0 or top + height <= 0:
        raise BoxError(
            "The bounding box has off frame values: it lies outside the image.",
            code=ErrorCode.ERROR_INVALID_BOUNDING_BOX,
        )
    if w <= 1 or h <= 1:
        raise BoxError(
            "The height and width of the bounding box is too small: it must be larger than 1×1 pixels.",
            code=ErrorCode.ERROR_BOUNDING_BOX_TOO_SMALL,
        )
    return x0, y0, w, h


def _box_payload(box: BoundingBox) -> dict:
    return {
        "id": box.pk,
        "image": box.image_id,
        "label": box.label_id,
        "left": box.left,
        "top": box.top,
        "width": box.width,
        "height": box.height,
    }


@transaction.atomic
def box_add(*, image: Image, label: Label, user, left: float, top: float, width: float, height: float) -> BoundingBox:
    """Draw a box on an image. Raises BoxError (too small, more than 50 boxes, unknown image size)."""
    if label.dataset_id != image.dataset_id:
        raise DatasetError("Choose a label of this dataset.", field="label")
    Image.objects.select_for_update().filter(pk=image.pk).first()
    if image.boxes.count() >= rules.MAX_BOXES_PER_IMAGE:
        raise BoxError(
            f"There are more bounding boxes than the allowed maximum ({rules.MAX_BOXES_PER_IMAGE}).",
            code=ErrorCode.ERROR_TOO_MANY_BOUNDING_BOXES,
        )
    x, y, w, h = _box_fit(image, left, top, width, height)
    box = BoundingBox.objects.create(image=image, label=label, left=x, top=y, width=w, height=h)
    Image.objects.filter(pk=image.pk).update(is_labeled=True)
    _log(
        dataset=image.dataset,
        user=user,
        kind=LabelingAction.Kind.BOX_ADD,
        description=f"Draw a {label.name} box on {image.file_name}",
        payload=_box_payload(box),
    )
    return box


@transaction.atomic
def box_change(
    *, box: BoundingBox, user, left: float, top: float, width: float, height: float, label: Label | None = None
) -> BoundingBox:
    """Move, resize or relabel a box."""
    before = _box_payload(box)
    if label is not None:
        if label.dataset_id != box.image.dataset_id:
            raise DatasetError("Choose a label of this dataset.", field="label")
        box.label = label
    box.left, box.top, box.width, box.height = _box_fit(box.image, left, top, width, height)
    box.save(update_fields=["label", "left", "top", "width", "height"])
    _log(
        dataset=box.image.dataset,
        user=user,
        kind=LabelingAction.Kind.BOX_CHANGE,
        description=f"Change a {box.label.name} box on {box.image.file_name}",
        payload=before,
    )
    return box


@transaction.atomic
def box_delete(*, box: BoundingBox, user) -> None:
    image = box.image
    payload = _box_payload(box)
    box.delete()
    images_labeled_refresh(images=[image.pk])
    _log(
        dataset=image.dataset,
        user=user,
        kind=LabelingAction.Kind.BOX_DELETE,
        description=f"Delete a box on {image.file_name}",
        payload=payload,
    )


# --- undo ----------------------------------------------------------------------------------


@transaction.atomic
def labeling_undo(*, dataset: Dataset, user) -> LabelingAction | None:
    """Reverse the user's last change in the dataset and forget it. Returns it, or None if there is none."""
    action = LabelingAction.objects.select_for_update().filter(dataset=dataset, user=user).order_by("-id").first()
    if action is None:
        return None
    p = action.payload
    kind = LabelingAction.Kind
    dataset_changed(dataset_id=dataset.pk)
    if action.kind == kind.ASSIGN:
        rows = ImageLabel.objects.filter(action=action)
        image_ids = list(rows.values_list("image_id", flat=True))
        rows.delete()
        images_labeled_refresh(images=image_ids)
    elif action.kind == kind.UNASSIGN:
        ImageLabel.objects.bulk_create(
            [ImageLabel(image_id=i, label_id=lb) for i, lb in p["pairs"] if Label.objects.filter(pk=lb).exists()],
            ignore_conflicts=True,
            batch_size=1000,
        )
        images_labeled_refresh(images={i for i, _ in p["pairs"]})
    elif action.kind == kind.BOX_ADD:
        BoundingBox.objects.filter(pk=p["id"]).delete()
        images_labeled_refresh(images=[p["image"]])
    elif action.kind == kind.BOX_CHANGE:
        BoundingBox.objects.filter(pk=p["id"], label__dataset=dataset).update(
            label_id=p["label"], left=p["left"], top=p["top"], width=p["width"], height=p["height"]
        )
    elif action.kind == kind.BOX_DELETE:
        if Label.objects.filter(pk=p["label"]).exists() and Image.objects.filter(pk=p["image"]).exists():
            # Restored under its old id, so undoing the changes made before the delete still finds it.
            BoundingBox.objects.create(
                pk=p["id"],
                image_id=p["image"],
                label_id=p["label"],
                left=p["left"],
                top=p["top"],
                width=p["width"],
                height=p["height"],
            )
            Image.objects.filter(pk=p["image"]).update(is_labeled=True)
    elif action.kind == kind.LABEL_ADD:
        label = Label.objects.filter(pk=p["label"], dataset=dataset).first()
        if label is not None:
            label_remove(label=label)
    elif action.kind == kind.LABEL_RENAME:
        Label.objects.filter(pk=p["label"], dataset=dataset).update(name=p["old"])
    action.delete()
    return action
