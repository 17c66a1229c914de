"""Create test dataset (DistributeDatasetEntries): 20% of a training dataset moves to a new test dataset."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q
from django.utils import timezone

from customlabels.text import counted, was_were

from .. import services
from ..errors import DatasetError, ErrorCode
from ..models import BoundingBox, Dataset, Image, ImageLabel, ImportJob, Label, LabelingAction
from ..operations.common import EXPORT_BATCH, ID_BATCH, QUEUE_DOWN
from ..operations.thumbnails import thumbnails_relocate_queue
from . import jobs

SPLIT_PERCENT = 20
INSUFFICIENT_MESSAGE = "The manifest file doesn't have enough labeled images to distribute the dataset."


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


def dataset_split_refusal(*, dataset: Dataset, into: Dataset | None = None) -> str | None:
    """Why "Create test dataset" is refused for the dataset now, or None when it can be split.

    The rule (the console's is undocumented, spec §9.9): a training dataset, not being created or
    changed, in a project without a test dataset, with images; at least 2 labeled images, and every
    label that is on an image (image-level or as a box) on at least 2 images, so that both datasets
    get one. Labels of the list that no image has don't count. With `into` (DistributeDatasetEntries),
    the images go to that test dataset of the project, which must be empty, instead of a new one.
    """
    if dataset.dataset_type == Dataset.Type.TEST:
        return f"{dataset.name} is a test dataset. Only a training dataset can be split to create a test dataset."
    if dataset.is_in_progress:
        return "The dataset is being created or updated. Wait until it finishes."
    if dataset.never_created:
        return "The dataset could not be created, so it can't be split."
    test = Dataset.objects.filter(
        project_id=dataset.project_id, dataset_type=Dataset.Type.TEST, is_project_dataset=True
    ).first()
    if into is not None:
        if into.is_in_progress:
            return f"The test dataset {into.name} is being created or updated. Wait until it finishes."
        if Image.objects.filter(dataset=into).exists():
            return f"The test dataset {into.name} must be empty: only an empty test dataset takes a distribution."
    elif test is not None:
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
            f"{ErrorCode.ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE}: {INSUFFICIENT_MESSAGE} "
            f"It has {labeled} labeled image{'' if labeled == 1 else 's'}; at least 2 are needed."
        )
    if too_few:
        shown = ", ".join(too_few[:10]) + (f" and {len(too_few) - 10} more" if len(too_few) > 10 else "")
        return (
            f"{ErrorCode.ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE}: {INSUFFICIENT_MESSAGE} "
            f"Each label needs at least 2 images, one for each dataset; only 1 image has {shown}."
        )
    return None


@transaction.atomic
def dataset_split(*, dataset: Dataset, name: str, user) -> Dataset:
    """Create the test dataset `name` in the dataset's project; a worker then moves 20% of the
    training dataset's images into it (dataset_split_run). Both are in progress until it has.

    Atomic. Raises DatasetError (see dataset_split_refusal) or DatasetError(field="name").
    """
    train = Dataset.objects.select_for_update().select_related("project").filter(pk=dataset.pk).first()
    if train is None or train.project.owner_id != user.pk:
        raise DatasetError("Choose one of your datasets to split.")
    refusal = dataset_split_refusal(dataset=train)
    if refusal:
        raise DatasetError(refusal)
    test = jobs.dataset_start(
        project=train.project,
        name=name,
        status_message=f"Moving {SPLIT_PERCENT}% of the images of the training dataset {train.name} here.",
        source=ImportJob.Source.SPLIT,
        parameters={"source_dataset": train.pk, "source_name": train.name},
        message=QUEUE_DOWN,
        dataset_type=Dataset.Type.TEST,
    )
    services.status_set(
        dataset=train,
        status=Dataset.Status.UPDATE_IN_PROGRESS,
        message=f"Moving {SPLIT_PERCENT}% of the images to the test dataset {test.name}.",
    )
    return test


@transaction.atomic
def dataset_distribute(*, train: Dataset, test: Dataset, user) -> ImportJob:
    """DistributeDatasetEntries: a worker moves 20% of the training dataset's images into the
    project's empty test dataset (dataset_split_run, the same move as Create test dataset). Both
    datasets are UPDATE_IN_PROGRESS when this commits. Atomic. Raises DatasetError (see
    dataset_split_refusal; both must be the user's, of one project)."""
    # Lock order as dataset_split_run's: the test dataset, then the training dataset.
    test = Dataset.objects.select_for_update().select_related("project").filter(pk=test.pk).first()
    train = Dataset.objects.select_for_update().select_related("project").filter(pk=train.pk).first()
    if train is None or test is None or {train.project.owner_id, test.project.owner_id} != {user.pk}:
        raise DatasetError("Choose your project's training and test datasets.")
    if train.project_id != test.project_id:
        raise DatasetError("The training and test datasets must belong to the same project.")
    if refusal := dataset_split_refusal(dataset=train, into=test):
        raise DatasetError(refusal)
    services.status_set(
        dataset=test,
        status=Dataset.Status.UPDATE_IN_PROGRESS,
        message=f"Moving {SPLIT_PERCENT}% of the images of the training dataset {train.name} here.",
    )
    job = jobs.job_start(
        dataset=test,
        source=ImportJob.Source.SPLIT,
        parameters={"source_dataset": train.pk, "source_name": train.name},
        message=QUEUE_DOWN,
    )
    services.status_set(
        dataset=train,
        status=Dataset.Status.UPDATE_IN_PROGRESS,
        message=f"Moving {SPLIT_PERCENT}% of the images to the test dataset {test.name}.",
    )
    return job


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
            jobs.job_fail(job_id=job.pk, message="The training dataset was deleted before it could be split.")
            return False
        labels_of = _labels_by_image(dataset_id=train.pk)
        refs = dict(Image.objects.filter(dataset=train).values_list("source_ref", "id").iterator(chunk_size=5000))
        chosen = split_choose(images=((ref, frozenset(labels_of.get(pk, ()))) for ref, pk in refs.items()))
        moved = sorted(refs[ref] for ref in chosen)
        names = sorted({name for pk in moved for name in labels_of.get(pk, ())})
        Label.objects.bulk_create([Label(dataset=test, name=name) for name in names], ignore_conflicts=True)
        _moved_out_count(moved)
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
        jobs.job_succeed(
            job=job,
            message=f"{len(moved):,} of {counted(len(refs), 'image')} moved from {train.name}.",
            created=f"The dataset was successfully created from {SPLIT_PERCENT}% of {train.name}.",
            added=f"{counted(len(moved), 'image')} {was_were(len(moved))} moved here from {train.name}.",
            started_at=job.started_at or timezone.now(),
            found=len(moved),
            listing_done=True,
        )
        services.dataset_updated(
            dataset=train,
            message=f"{len(moved):,} of {counted(len(refs), 'image')} {was_were(len(moved))} moved to the test dataset {test.name}.",
        )
        services.dataset_changed(dataset_id=test.pk)
        thumbnails_relocate_queue(job_id=job.pk)
    return True


def _moved_out_count(moved: list[int]) -> None:
    """Add the moved images to `moved_out` of the imports they came from, so the training dataset's
    import counts still add up (found = imported + moved to the test dataset + ...)."""
    per_job = Counter()
    for i in range(0, len(moved), ID_BATCH):
        rows = Image.objects.filter(pk__in=moved[i : i + ID_BATCH], import_job__isnull=False)
        per_job.update(dict(rows.values("import_job_id").annotate(n=Count("id")).values_list("import_job_id", "n")))
    for job_id, n in per_job.items():
        ImportJob.objects.filter(pk=job_id).update(moved_out=F("moved_out") + n)


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
