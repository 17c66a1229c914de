"""What is left of dataset writes once the imports and operations have their own modules: a new
dataset, its status, the mark that its content changed, deleting it."""

from __future__ import annotations

import time

from django.db import IntegrityError, transaction
from django.db.models import F

from customlabels.celery import send_after_commit
from projects import console_storage
from projects.models import Project
from projects.selectors import console_bucket

from .errors import DatasetError
from .models import Dataset, Image


def dataset_changed(*, dataset_id: int) -> None:
    """Record that the dataset's images, labels or boxes changed, in the caller's transaction."""
    Dataset.objects.filter(pk=dataset_id).update(stats_version=F("stats_version") + 1)


def dataset_new(*, project: Project, name: str, **fields) -> Dataset:
    """A new dataset of the project, or DatasetError on the name when the project has one so named.

    Of `dataset_type` TRAIN unless given. Unless `is_project_dataset` is given, it becomes the project's
    training (test) dataset when the project has none yet; given True, DatasetError(field="dataset_type")
    when the project has one of that type already (ResourceAlreadyExistsException in the API).
    """
    fields.setdefault("dataset_type", Dataset.Type.TRAIN)
    chosen = "is_project_dataset" in fields
    if not chosen:
        fields["is_project_dataset"] = not project_dataset_exists(
            project_id=project.pk, dataset_type=fields["dataset_type"]
        )
    fields["arn_suffix"] = _arn_suffix(project_id=project.pk)
    try:
        with transaction.atomic():
            return Dataset.objects.create(project=project, name=name, **fields)
    except IntegrityError as exc:
        if Dataset.objects.filter(project=project, name=name).exists():
            raise DatasetError(f"A dataset named “{name}” already exists in this project.", field="name") from exc
        if chosen:
            raise DatasetError(_project_dataset_taken(fields["dataset_type"]), field="dataset_type") from exc
        # Another dataset of this type became the project's meanwhile: this one stays a console dataset.
        fields["is_project_dataset"] = False
        with transaction.atomic():
            return Dataset.objects.create(project=project, name=name, **fields)


def _arn_suffix(*, project_id: int) -> int:
    """Epoch milliseconds now, or one past the project's latest when that is later: two datasets of a
    project created in the same millisecond still have ARNs of their own."""
    latest = Dataset.objects.filter(project_id=project_id).order_by("-arn_suffix").values_list("arn_suffix", flat=True)
    return max(int(time.time() * 1000), (latest.first() or 0) + 1)


def _project_dataset_taken(dataset_type: str) -> str:
    kind = "training" if dataset_type == Dataset.Type.TRAIN else "test"
    return f"The project already has a {kind} dataset. Delete it first, or create this one in the console."


def project_dataset_exists(*, project_id: int, dataset_type: str) -> bool:
    return Dataset.objects.filter(project_id=project_id, dataset_type=dataset_type, is_project_dataset=True).exists()


@transaction.atomic
def dataset_use_as(*, dataset: Dataset, dataset_type: str) -> Dataset:
    """Make the dataset the project's training (TRAIN) or test (TEST) dataset, as the older console
    asked at training time. The project's former dataset of that type stays in the console as a
    named dataset; the dataset's type, and so its ARN, become `dataset_type`. Atomic; the project's
    row is locked, so two changes apply one after the other. Raises DatasetError while the dataset
    is being created or updated."""
    Project.objects.select_for_update().filter(pk=dataset.project_id).values_list("pk", flat=True).get()
    locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if locked.is_in_progress:
        raise DatasetError("The dataset is being created or updated. Wait until it finishes.")
    Dataset.objects.filter(project_id=locked.project_id, dataset_type=dataset_type, is_project_dataset=True).exclude(
        pk=locked.pk
    ).update(is_project_dataset=False)
    locked.dataset_type = dataset_type
    locked.is_project_dataset = True
    locked.save(update_fields=["dataset_type", "is_project_dataset", "updated_at"])
    return locked


NOT_CREATED_NO_IMAGES = (
    "The dataset could not be created, so images can't be added to it. Retry the import or delete the dataset."
)


def dataset_update_refusal(*, dataset: Dataset) -> str | None:
    """Why images can't be added to the dataset now, or None."""
    if dataset.is_in_progress:
        return "The dataset is being created or updated. Wait until it finishes."
    if dataset.never_created:
        return NOT_CREATED_NO_IMAGES
    return None


def dataset_update_begin(*, dataset: Dataset, message: str) -> Dataset:
    """Lock the dataset and mark it UPDATE_IN_PROGRESS, in the caller's transaction; DatasetError
    (dataset_update_refusal) while it is being created or updated already, or was never created."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if refusal := dataset_update_refusal(dataset=dataset):
        raise DatasetError(refusal)
    status_set(dataset=dataset, status=Dataset.Status.UPDATE_IN_PROGRESS, message=message)
    return dataset


def status_set(*, dataset: Dataset, status: str, message: str, code: str = "") -> None:
    """Write the dataset's status, its message and the message's code (DescribeDataset's Status,
    StatusMessage, StatusMessageCode), in the caller's transaction, on a row the caller holds locked."""
    dataset.status = status
    dataset.status_message = message
    dataset.status_message_code = code
    dataset.save(update_fields=["status", "status_message", "status_message_code", "updated_at"])


def dataset_updated(*, dataset: Dataset, message: str) -> None:
    """Mark the locked dataset UPDATE_COMPLETE (SUCCESS) with `message` after a change to its images."""
    status_set(
        dataset=dataset, status=Dataset.Status.UPDATE_COMPLETE, message=message, code=Dataset.StatusMessageCode.SUCCESS
    )
    dataset_changed(dataset_id=dataset.pk)


@transaction.atomic
def dataset_delete(*, dataset: Dataset) -> None:
    """Delete a dataset with its images, labels and boxes; after the commit its thumbnails, prepared
    manifests and the uploaded images no other dataset shows leave the owner's console storage.
    Refused while the dataset is being created or updated (spec §7 DeleteDataset)."""
    locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if locked.is_in_progress:
        raise DatasetError("You can't delete a dataset while it is being created or updated. Wait until it finishes.")
    dataset_storage_release_queue(dataset=locked)
    locked.delete()


def dataset_storage_release_queue(*, dataset: Dataset) -> None:
    """Queue, for after the commit that deletes the dataset, the removal of what it keeps in its
    owner's console storage (operations.thumbnails.dataset_storage_release). Call before deleting:
    it reads which datasets' uploads the dataset's images show."""
    owner_id = Project.objects.filter(pk=dataset.project_id).values_list("owner_id", flat=True).get()
    asset_datasets: set[int] = set()
    bucket = console_bucket()
    if bucket is not None:
        # An index range scan of (dataset, source_ref): only the uploaded images are read.
        root = f"s3://{bucket.name}/"
        uploads = Image.objects.filter(
            dataset_id=dataset.pk, source_ref__startswith=root + console_storage.assets_prefix(owner_id)
        ).values_list("source_ref", flat=True)
        for ref in uploads.iterator(chunk_size=2000):
            asset_dataset = console_storage.asset_dataset_id(owner_id, ref[len(root) :])
            if asset_dataset is not None:
                asset_datasets.add(asset_dataset)
    send_after_commit(
        "datasets.tasks.dataset_storage_release_task", dataset.pk, owner_id, sorted(asset_datasets - {dataset.pk})
    )
