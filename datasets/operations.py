"""Writes for what is done to a whole dataset besides importing: copy it, "Download manifest", "Create test dataset".

Each runs in a worker once its request has committed:
  dataset_create_copy    → dataset_copy              INSERT … SELECT of images, labels, image labels and boxes
  dataset_split          → dataset_split_run         20% of a training dataset's images move to a new test dataset
  manifest_export_start  → manifest_export_write     the dataset's manifest streamed to the console bucket
A copy or a split leaves images showing another dataset's thumbnails (keys hold the dataset id, and
deleting a dataset removes its prefix); images_thumbnails_relocate then gives them their own.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, CharField, ExpressionWrapper, Q, TextField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from customlabels import s3
from projects.models import Project

from . import manifest, services
from .errors import DatasetError
from .models import BoundingBox, Dataset, Image, ImageLabel, ImportJob, Label, LabelingAction, ManifestExport

log = logging.getLogger(__name__)

SPLIT_PERCENT = 20
ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE = "ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE"
INSUFFICIENT_MESSAGE = "The manifest file doesn't have enough labeled images to distribute the dataset."
EXPORT_BATCH = 2000
THUMBNAIL_COPY_BATCH = 500
ID_BATCH = 1000
QUEUE_DOWN = "The task queue is unreachable, so the work could not start. Try again when it is back."


def _send_after_commit(task, arg: int, *, on_error: Callable[[], None], queue: str | None = None) -> None:
    """Queue a task once the transaction commits; if the broker is down, `on_error` records it visibly."""

    def send():
        try:
            task.apply_async((arg,), queue=queue)
        except Exception:  # kombu raises several classes for an unreachable broker
            log.exception("Could not queue %s", task.name)
            on_error()

    transaction.on_commit(send)


def _dataset_new(*, project: Project, name: str, **fields) -> Dataset:
    try:
        with transaction.atomic():
            return Dataset.objects.create(project=project, name=name, arn_suffix=int(time.time() * 1000), **fields)
    except IntegrityError as exc:
        raise DatasetError(f"A dataset named “{name}” already exists in this project.", field="name") from exc


def _lock_for_reading(dataset_id: int) -> bool:
    """Hold the dataset row FOR SHARE until commit; False if it is gone.

    Every change to a dataset's images, labels or boxes updates its row (dataset_changed), so
    while we hold this no change commits and our statements all read the same content.
    """
    if connection.vendor != "postgresql":  # SQLite runs one writer at a time and reads a snapshot
        return Dataset.objects.filter(pk=dataset_id).exists()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {Dataset._meta.db_table} WHERE id = %s FOR SHARE", [dataset_id])
        return cursor.fetchone() is not None


# --- copy ----------------------------------------------------------------------------------


@transaction.atomic
def dataset_create_copy(*, project: Project, name: str, source: Dataset, user) -> Dataset:
    """Create a dataset in `project` that a worker fills with a copy of `source` after commit.

    Atomic. Raises DatasetError(field="source") when the source is another user's, is being created
    or changed, or failed to be created; DatasetError(field="name") when the name is taken.
    """
    from .tasks import dataset_copy_task

    if project.owner_id != user.pk:
        raise DatasetError("You can only create datasets in your own projects.")
    source = Dataset.objects.select_related("project").filter(pk=source.pk, project__owner=user).first()
    if source is None:
        raise DatasetError("Choose one of your datasets to copy.", field="source")
    if source.is_in_progress:
        raise DatasetError(
            f"The dataset {source.name} is being created or changed. Wait until it finishes, then copy it.",
            field="source",
        )
    if source.status == Dataset.Status.CREATE_FAILED:
        raise DatasetError(f"The dataset {source.name} could not be created, so it can't be copied.", field="source")
    dataset = _dataset_new(
        project=project,
        name=name,
        status=Dataset.Status.CREATE_IN_PROGRESS,
        status_message=f"Copying the dataset {source.name}.",
    )
    job = ImportJob.objects.create(
        dataset=dataset,
        source=ImportJob.Source.COPY,
        parameters={"source_dataset": source.pk, "source_name": source.name},
    )
    _send_after_commit(
        dataset_copy_task,
        job.pk,
        on_error=lambda: services.import_fail(
            job_id=job.pk, message=QUEUE_DOWN, code=Dataset.StatusMessageCode.SERVICE_ERROR
        ),
    )
    return dataset


def dataset_copy(*, job_id: int) -> bool:
    """Copy the source's label list, images (same source-ref, header fields, errors, problems),
    image-level labels (by label name) and boxes into the job's dataset and complete it.

    One transaction of four INSERT … SELECT statements, whatever the size. Idempotent: a finished
    job returns False, and a second run inserts nothing twice. A source deleted in the meantime
    fails the job with a message. Returns whether this call copied.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.is_finished:
            return False
        dataset = Dataset.objects.select_for_update().get(pk=job.dataset_id)
        source_id, source_name = job.parameters["source_dataset"], job.parameters.get("source_name", "")
        if not _lock_for_reading(source_id):
            services.import_fail(
                job_id=job.pk, message=f"The dataset {source_name} was deleted before it could be copied."
            )
            return False
        copied = _rows_copy(source_id=source_id, target_id=dataset.pk, job_id=job.pk)
        now = timezone.now()
        job.status = ImportJob.Status.SUCCEEDED
        job.started_at = job.started_at or now
        job.finished_at = now
        job.found = copied
        job.listing_done = True
        job.message = f"{copied} images copied from {source_name}."
        job.save(update_fields=["status", "started_at", "finished_at", "found", "listing_done", "message"])
        dataset.status = Dataset.Status.CREATE_COMPLETE
        dataset.status_message = f"The dataset was successfully copied from {source_name}."
        dataset.status_message_code = Dataset.StatusMessageCode.SUCCESS
        dataset.save(update_fields=["status", "status_message", "status_message_code", "updated_at"])
        services.dataset_changed(dataset_id=dataset.pk)
        _thumbnails_relocate_queue(job_id=job.pk)
    return True


def _rows_copy(*, source_id: int, target_id: int, job_id: int) -> int:
    """The four INSERT … SELECT of a copy; images are matched to their copies by source-ref. Returns images copied."""
    image, label = Image._meta.db_table, Label._meta.db_table
    image_label, box = ImageLabel._meta.db_table, BoundingBox._meta.db_table
    left = connection.ops.quote_name("left")
    now = timezone.now()
    # The new image and label of each old one: same dataset-unique source-ref, same label name.
    matched = (
        f"JOIN {image} oi ON oi.id = x.image_id "
        f"JOIN {image} ni ON ni.dataset_id = %s AND ni.source_ref = oi.source_ref "
        f"JOIN {label} ol ON ol.id = x.label_id "
        f"JOIN {label} nl ON nl.dataset_id = %s AND nl.name = ol.name "
        "WHERE oi.dataset_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {label} (dataset_id, name, created_at) SELECT %s, name, %s FROM {label} "
            "WHERE dataset_id = %s ORDER BY id ON CONFLICT (dataset_id, name) DO NOTHING",
            [target_id, now, source_id],
        )
        # An image keeps showing the source's thumbnail until it has its own copy (needs_thumbnail).
        cursor.execute(
            f"INSERT INTO {image} (dataset_id, source_ref, file_name, import_job_id, format, width, height, size, "
            "etag, thumbnail_key, needs_thumbnail, error_code, error_message, problems, is_labeled, created_at) "
            "SELECT %s, source_ref, file_name, %s, format, width, height, size, etag, thumbnail_key, "
            "(needs_thumbnail OR thumbnail_key <> ''), error_code, error_message, problems, is_labeled, %s "
            f"FROM {image} WHERE dataset_id = %s ORDER BY id ON CONFLICT (dataset_id, source_ref) DO NOTHING",
            [target_id, job_id, now, source_id],
        )
        copied = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {image_label} (image_id, label_id, action_id, created_at) "
            f"SELECT ni.id, nl.id, NULL, x.created_at FROM {image_label} x {matched} "
            "ON CONFLICT (image_id, label_id) DO NOTHING",
            [target_id, target_id, source_id],
        )
        # Boxes in their old order, so an annotation's problem ("box": n) still points at it.
        cursor.execute(
            f"INSERT INTO {box} (image_id, label_id, {left}, top, width, height, created_at) "
            f"SELECT ni.id, nl.id, x.{left}, x.top, x.width, x.height, x.created_at FROM {box} x {matched} "
            "ORDER BY x.id",
            [target_id, target_id, source_id],
        )
    return copied


# --- thumbnails of copied and moved images ---------------------------------------------------


def _thumbnails_relocate_queue(*, job_id: int) -> None:
    from .tasks import images_thumbnails_relocate_task

    _send_after_commit(
        images_thumbnails_relocate_task,
        job_id,
        on_error=lambda: import_thumbnails_failed(job_id=job_id, message="the task queue is unreachable."),
        # With the thumbnail tasks, so a copy or split never waits behind them, nor an import behind it.
        queue="thumbnails",
    )


def _own_thumbnail_key(*, dataset_id: int, image_id: int) -> str:
    return f"thumbnails/{dataset_id}/{image_id}.jpg"


def images_thumbnails_relocate(*, job_id: int) -> int:
    """Give each image of the job that still needs a thumbnail one under its own dataset's prefix.

    An image showing another dataset's thumbnail gets a server-side copy (CopyObject: a request of
    a few hundred bytes, where making it again would read the whole image and decode it); after a
    split the old object is deleted, since the training dataset no longer holds the image. Images
    with no thumbnail to copy (never made, or already deleted with their dataset) are queued for
    the thumbnail tasks. Idempotent. Returns how many were copied. Raises S3Unreachable to be retried.
    """
    from .tasks import image_thumbnails_task

    job = ImportJob.objects.filter(pk=job_id).only("source").first()
    if job is None:
        return 0
    console = services.console_bucket_name()
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
        own = {pk: _own_thumbnail_key(dataset_id=ds, image_id=pk) for pk, ds, _ in batch}
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
                thumbnail_key=Concat(
                    Value("thumbnails/"),
                    Cast("dataset_id", CharField()),
                    Value("/"),
                    Cast("id", CharField()),
                    Value(".jpg"),
                ),
                needs_thumbnail=False,
            )
            Image.objects.filter(pk__in=to_make).update(thumbnail_key="")
            for i in range(0, len(to_make), services.THUMBNAIL_BATCH):
                services._enqueue(image_thumbnails_task, to_make[i : i + services.THUMBNAIL_BATCH])
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


def import_thumbnails_failed(*, job_id: int, message: str) -> None:
    """Record on the job why its images' thumbnails could not be given to them."""
    ImportJob.objects.filter(pk=job_id).update(thumbnails_error=f"Thumbnails could not be made: {message}")


# --- "Create test dataset" (DistributeDatasetEntries) ----------------------------------------


def _share(n: int) -> int:
    """20% of n, rounded half up (0.2·n is never exactly half an integer)."""
    return (n * SPLIT_PERCENT * 2 + 100) // 200


def split_choose(*, images: Iterable[tuple[str, frozenset[str]]]) -> set[str]:
    """The source-refs of the images that move to the test dataset. Pure and reproducible.

    `images` are (source-ref, labels) with every label of the image (image-level or on a box); each
    label must be on at least 2 images. Images are visited in the order of a hash of their
    source-ref, so the same content always splits the same way, whatever the ids or the order given.
      1. Rarest label first, each label gets 20% of its images (rounded, at least 1) into the test
         dataset; an image that would leave one of its labels without a training image is passed
         over, and images whose other labels already have their share are taken last.
      2. If the labeled images taken fall short of 20% of all labeled images (images with several
         labels count for several), more are taken, in hash order, keeping a training image per label.
      3. 20% of the unlabeled images.
    """
    ordered = sorted(images, key=lambda item: hashlib.sha256(item[0].encode()).digest())
    labeled = [(ref, labels) for ref, labels in ordered if labels]
    unlabeled = [ref for ref, labels in ordered if not labels]
    total = Counter(label for _, labels in labeled for label in labels)
    target = {label: min(n - 1, max(1, _share(n))) for label, n in total.items()}
    taken_per_label: Counter[str] = Counter()
    chosen: set[str] = set()

    def keeps_training_images(labels: frozenset[str]) -> bool:
        return all(taken_per_label[label] < total[label] - 1 for label in labels)

    def take(ref: str, labels: frozenset[str]) -> None:
        chosen.add(ref)
        taken_per_label.update(labels)

    by_label: dict[str, list[tuple[str, frozenset[str]]]] = defaultdict(list)
    for ref, labels in labeled:
        for label in labels:
            by_label[label].append((ref, labels))
    for label in sorted(total, key=lambda name: (total[name], name)):
        for others_first in (True, False):
            for ref, labels in by_label[label]:
                if taken_per_label[label] >= target[label]:
                    break
                if ref in chosen or not keeps_training_images(labels):
                    continue
                if others_first and any(taken_per_label[o] >= target[o] for o in labels if o != label):
                    continue
                take(ref, labels)
    for ref, labels in labeled:
        if len(chosen) >= _share(len(labeled)):
            break
        if ref not in chosen and keeps_training_images(labels):
            take(ref, labels)
    chosen.update(unlabeled[: _share(len(unlabeled))])
    return chosen


def _labels_by_image(*, dataset_id: int) -> dict[int, set[str]]:
    """Every image's labels, image-level or on a box (two queries, no per-image one)."""
    found: dict[int, set[str]] = defaultdict(set)
    for model in (ImageLabel, BoundingBox):
        pairs = model.objects.filter(image__dataset_id=dataset_id).values_list("image_id", "label__name")
        for image_id, name in pairs.iterator(chunk_size=EXPORT_BATCH):
            found[image_id].add(name)
    return found


def dataset_split_refusal(*, dataset: Dataset) -> str | None:
    """Why "Create test dataset" is refused for the dataset now, or None when it can be split.

    The rule (the console's is undocumented, spec §9.9): a training dataset, not being created or
    changed, in a project without a test dataset, with images; at least 2 labeled images, and every
    label that is on an image (image-level or as a box) on at least 2 images, so that both datasets
    get one. Labels of the list that no image has don't count.
    """
    if dataset.dataset_type == Dataset.Type.TEST:
        return f"{dataset.name} is a test dataset. Only a training dataset can be split to create a test dataset."
    if dataset.is_in_progress:
        return "The dataset is being created or updated. Wait until it finishes."
    if dataset.status == Dataset.Status.CREATE_FAILED:
        return "The dataset could not be created, so it can't be split."
    test = Dataset.objects.filter(project_id=dataset.project_id, dataset_type=Dataset.Type.TEST).first()
    if test is not None:
        return f"The project already has a test dataset, {test.name}. Delete it first to create another one."
    if not Image.objects.filter(dataset=dataset).exists():
        return "The dataset has no images to split."
    image, image_label, box = Image._meta.db_table, ImageLabel._meta.db_table, BoundingBox._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.name, COUNT(*) FROM ("
            f"SELECT x.image_id, x.label_id FROM {image_label} x JOIN {image} i ON i.id = x.image_id "
            "WHERE i.dataset_id = %s UNION "
            f"SELECT x.image_id, x.label_id FROM {box} x JOIN {image} i ON i.id = x.image_id WHERE i.dataset_id = %s"
            f") pairs JOIN {Label._meta.db_table} l ON l.id = pairs.label_id GROUP BY l.name",
            [dataset.pk, dataset.pk],
        )
        counts = dict(cursor.fetchall())
    labeled = Image.objects.filter(dataset=dataset, is_labeled=True).count()
    too_few = sorted(name for name, n in counts.items() if n < 2)
    if labeled < 2 or not counts:
        return (
            f"{ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE}: {INSUFFICIENT_MESSAGE} "
            f"It has {labeled} labeled image{'' if labeled == 1 else 's'}; at least 2 are needed."
        )
    if too_few:
        shown = ", ".join(too_few[:10]) + (f" and {len(too_few) - 10} more" if len(too_few) > 10 else "")
        return (
            f"{ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE}: {INSUFFICIENT_MESSAGE} "
            f"Each label needs at least 2 images, one for each dataset; only 1 image has {shown}."
        )
    return None


@transaction.atomic
def dataset_split(*, dataset: Dataset, name: str, user) -> Dataset:
    """Create the test dataset `name` in the dataset's project; a worker then moves 20% of the
    training dataset's images into it (dataset_split_run). Both are in progress until it has.

    Atomic. Raises DatasetError (see dataset_split_refusal) or DatasetError(field="name").
    """
    from .tasks import dataset_split_task

    train = Dataset.objects.select_for_update().select_related("project").filter(pk=dataset.pk).first()
    if train is None or train.project.owner_id != user.pk:
        raise DatasetError("Choose one of your datasets to split.")
    refusal = dataset_split_refusal(dataset=train)
    if refusal:
        raise DatasetError(refusal)
    test = _dataset_new(
        project=train.project,
        name=name,
        dataset_type=Dataset.Type.TEST,
        status=Dataset.Status.CREATE_IN_PROGRESS,
        status_message=f"Moving {SPLIT_PERCENT}% of the images of the training dataset {train.name} here.",
    )
    train.status = Dataset.Status.UPDATE_IN_PROGRESS
    train.status_message = f"Moving {SPLIT_PERCENT}% of the images to the test dataset {test.name}."
    train.status_message_code = ""
    train.save(update_fields=["status", "status_message", "status_message_code", "updated_at"])
    job = ImportJob.objects.create(
        dataset=test,
        source=ImportJob.Source.SPLIT,
        parameters={"source_dataset": train.pk, "source_name": train.name},
    )
    _send_after_commit(
        dataset_split_task,
        job.pk,
        on_error=lambda: dataset_split_fail(
            job_id=job.pk, message=QUEUE_DOWN, code=Dataset.StatusMessageCode.SERVICE_ERROR
        ),
    )
    return test


def dataset_split_run(*, job_id: int) -> bool:
    """Move the images split_choose picks from the training dataset to the job's test dataset.

    One transaction: the images change dataset (and import job), the labels they use are made in
    the test dataset by name, and their image labels and boxes point at those. The training
    dataset's Undo history is cleared, since its entries may concern images that left. Both datasets
    complete. Idempotent: a finished job returns False. Returns whether this call split.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.is_finished:
            return False
        test = Dataset.objects.select_for_update().get(pk=job.dataset_id)
        train = Dataset.objects.select_for_update().filter(pk=job.parameters["source_dataset"]).first()
        if train is None:
            services.import_fail(job_id=job.pk, message="The training dataset was deleted before it could be split.")
            return False
        labels_of = _labels_by_image(dataset_id=train.pk)
        refs = dict(Image.objects.filter(dataset=train).values_list("source_ref", "id").iterator(chunk_size=5000))
        chosen = split_choose(images=((ref, frozenset(labels_of.get(pk, ()))) for ref, pk in refs.items()))
        moved = sorted(refs[ref] for ref in chosen)
        names = sorted({name for pk in moved for name in labels_of.get(pk, ())})
        Label.objects.bulk_create([Label(dataset=test, name=name) for name in names], ignore_conflicts=True)
        for i in range(0, len(moved), ID_BATCH):
            Image.objects.filter(pk__in=moved[i : i + ID_BATCH]).update(
                dataset=test,
                import_job=job,
                needs_thumbnail=ExpressionWrapper(
                    Q(needs_thumbnail=True) | ~Q(thumbnail_key=""), output_field=BooleanField()
                ),
            )
        _labels_remap(train_id=train.pk, test_id=test.pk)
        LabelingAction.objects.filter(dataset=train).delete()
        now = timezone.now()
        job.status = ImportJob.Status.SUCCEEDED
        job.started_at = job.started_at or now
        job.finished_at = now
        job.found = len(moved)
        job.listing_done = True
        job.message = f"{len(moved)} of {len(refs)} images moved from {train.name}."
        job.save(update_fields=["status", "started_at", "finished_at", "found", "listing_done", "message"])
        test.status = Dataset.Status.CREATE_COMPLETE
        test.status_message = f"The dataset was successfully created from {SPLIT_PERCENT}% of {train.name}."
        test.status_message_code = Dataset.StatusMessageCode.SUCCESS
        test.save(update_fields=["status", "status_message", "status_message_code", "updated_at"])
        train.status = Dataset.Status.UPDATE_COMPLETE
        train.status_message = f"{len(moved)} of {len(refs)} images were moved to the test dataset {test.name}."
        train.status_message_code = Dataset.StatusMessageCode.SUCCESS
        train.save(update_fields=["status", "status_message", "status_message_code", "updated_at"])
        services.dataset_changed(dataset_id=train.pk)
        services.dataset_changed(dataset_id=test.pk)
        _thumbnails_relocate_queue(job_id=job.pk)
    return True


def _labels_remap(*, train_id: int, test_id: int) -> None:
    """Point the moved images' image labels and boxes at the test dataset's labels of the same name."""
    image, label = Image._meta.db_table, Label._meta.db_table

    def new_label(table: str) -> str:
        return (
            f"(SELECT nl.id FROM {label} nl JOIN {label} ol ON ol.name = nl.name "
            f"WHERE ol.id = {table}.label_id AND nl.dataset_id = %s)"
        )

    moved = f"image_id IN (SELECT id FROM {image} WHERE dataset_id = %s)"
    image_label, box = ImageLabel._meta.db_table, BoundingBox._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {image_label} SET label_id = {new_label(image_label)}, action_id = NULL WHERE {moved}",
            [test_id, test_id],
        )
        cursor.execute(f"UPDATE {box} SET label_id = {new_label(box)} WHERE {moved}", [test_id, test_id])


def dataset_split_fail(*, job_id: int, message: str, code: str = Dataset.StatusMessageCode.SERVICE_ERROR) -> None:
    """Fail the split's job and test dataset (CREATE_FAILED), and its training dataset (UPDATE_FAILED)."""
    services.import_fail(job_id=job_id, message=message, code=code)
    dataset_split_source_release(job_id=job_id)


def dataset_split_source_release(*, job_id: int) -> None:
    """After a split's job failed, its training dataset, still UPDATE_IN_PROGRESS, becomes UPDATE_FAILED
    with the job's message. Nothing moved: the split is one transaction. Idempotent."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != ImportJob.Status.FAILED:
            return
        test = Dataset.objects.select_for_update().filter(pk=job.dataset_id).first()
        train = Dataset.objects.select_for_update().filter(pk=job.parameters.get("source_dataset")).first()
        if train is None or train.status != Dataset.Status.UPDATE_IN_PROGRESS:
            return
        train.status = Dataset.Status.UPDATE_FAILED
        train.status_message = test.status_message if test else job.message
        train.status_message_code = test.status_message_code if test else Dataset.StatusMessageCode.SERVICE_ERROR
        train.save(update_fields=["status", "status_message", "status_message_code", "updated_at"])


# --- "Download manifest" ---------------------------------------------------------------------

_EXPORT_RUNNING = (ManifestExport.Status.QUEUED, ManifestExport.Status.IN_PROGRESS)


@transaction.atomic
def manifest_export_start(*, dataset: Dataset, user) -> ManifestExport:
    """Start writing the dataset's manifest, or return the export that holds (or is writing) the
    dataset as it is now (same stats_version). Atomic; the worker starts after commit.
    Raises DatasetError while the dataset is being created or changed.
    """
    from .tasks import manifest_export_task

    locked = Dataset.objects.select_for_update().select_related("project").filter(pk=dataset.pk).first()
    if locked is None or locked.project.owner_id != user.pk:
        raise DatasetError("Choose one of your datasets.")
    if locked.is_in_progress:
        raise DatasetError(
            "The dataset is being created or updated. Wait until it finishes, then download its manifest."
        )
    stalled_before = timezone.now() - timedelta(seconds=settings.IMPORT_STALL_SECONDS)
    same = locked.manifest_exports.filter(stats_version=locked.stats_version).order_by("-id")
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
    _send_after_commit(
        manifest_export_task, export.pk, on_error=lambda: manifest_export_fail(export_id=export.pk, message=QUEUE_DOWN)
    )
    return export


def manifest_export_key(*, dataset: Dataset, moment) -> str:
    return f"exports/{dataset.pk}/{moment.strftime('%Y%m%dT%H%M%SZ')}-{dataset.name}.manifest"


def manifest_export_write(*, export_id: int) -> ManifestExport:
    """Write the dataset's manifest to the console bucket (manifest_export_key): one line per image
    with its image-level labels, its boxes with the image size, cl-metadata and its errors.

    Streams: images 2,000 at a time with their labels and boxes in one query each, into a multipart
    upload of 8 MB parts, so memory stays flat whatever the size. Every line comes from one snapshot
    of the dataset, whose stats_version the export records. Idempotent: a finished export is
    returned as it is. Raises s3.S3Error (S3Unreachable is worth a retry) or DatasetError.
    """
    export = ManifestExport.objects.select_related("dataset").get(pk=export_id)
    if export.is_finished:
        return export
    ManifestExport.objects.filter(pk=export.pk).update(status=ManifestExport.Status.IN_PROGRESS)
    console = services.console_bucket_name()
    dataset = export.dataset
    key = manifest_export_key(dataset=dataset, moment=timezone.now())
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if snapshot:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        version = Dataset.objects.filter(pk=dataset.pk).values_list("stats_version", flat=True).get()
        lines = 0
        with s3.MultipartWriter(console, key, content_type="application/jsonlines") as writer:
            for batch in _manifest_batches(dataset_id=dataset.pk):
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
    box_errors: dict[int, list[manifest.EntryError]] = defaultdict(list)
    image_errors = []
    for problem in errors:
        error = manifest.EntryError(problem["code"], problem.get("message", ""))
        n = problem.get("box")
        (box_errors[n] if isinstance(n, int) and 0 <= n < len(boxes) else image_errors).append(error)
    manifest_boxes = [
        manifest.ManifestBox(names[label_id], left, top, w, h, tuple(box_errors.get(n, ())))
        for n, (label_id, left, top, w, h, _) in enumerate(boxes)
    ]
    if boxes and not (width and height):
        # Boxes are drawn on measured images only; should one not be, its extent stands in for the size.
        width = max(left + w for _, left, _, w, _, _ in boxes)
        height = max(top + h for _, _, top, _, h, _ in boxes)
    moments = [created, *(c for _, c in labels), *(box[-1] for box in boxes)]
    return manifest.write_line(
        source_ref=source_ref,
        labels=[name for name, _ in labels],
        boxes=manifest_boxes,
        image_size=(width, height) if boxes else None,
        errors=image_errors,
        creation_date=max(moments),
    )
