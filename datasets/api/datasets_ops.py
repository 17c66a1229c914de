"""CreateDataset, DescribeDataset, DeleteDataset, DistributeDatasetEntries: the imports and services
of the Create dataset, dataset and Create test dataset pages."""

from __future__ import annotations

import re

from django.db import transaction

from customlabels import s3_names
from projects.s3_access import UserS3

from .. import imports, services
from ..errors import DatasetError
from ..imports import copy, manifest, split, upload
from ..models import Dataset
from . import arns
from . import params as checks
from .protocol import ApiError

S3_BUCKET = re.compile(r"[0-9A-Za-z\.\-_]*")
DATASET_TYPES = (Dataset.Type.TRAIN, Dataset.Type.TEST)


def _dataset_type(params: dict) -> str:
    value = params.get("DatasetType")
    if value not in DATASET_TYPES:
        raise checks.invalid("DatasetType must be TRAIN or TEST.")
    return value


def _source(*, user, params: dict) -> tuple[str, manifest.ManifestLocation | None, Dataset | None]:
    """The image source of DatasetSource: ("manifest", location, None), ("copy", None, dataset) or
    ("upload", None, None) for an empty dataset."""
    source = params.get("DatasetSource")
    if source is None:
        return imports.UPLOAD, None, None
    if not isinstance(source, dict):
        raise checks.invalid("DatasetSource must be a structure.")
    ground_truth, copied = source.get("GroundTruthManifest"), source.get("DatasetArn")
    if (ground_truth is None) == (copied is None):
        raise checks.invalid(
            "You need to specify a value for DatasetArn or GroundTruthManifest in DatasetSource, but not both."
        )
    if copied is not None:
        return imports.COPY, None, arns.dataset_arn_param(user=user, params=source)
    s3_object = ground_truth.get("S3Object") if isinstance(ground_truth, dict) else None
    if not isinstance(s3_object, dict):
        raise checks.invalid("GroundTruthManifest needs an S3Object with a Bucket and a Name.")
    bucket = checks.string(s3_object, "Bucket", required=True, min_len=3, max_len=255, pattern=S3_BUCKET)
    key = checks.string(s3_object, "Name", required=True, max_len=1024)
    if s3_object.get("Version") is not None:
        raise checks.invalid("The console reads the current version of a manifest: leave S3Object.Version out.")
    try:
        return imports.MANIFEST, manifest.manifest_location_parse(f"s3://{bucket}/{key}"), None
    except DatasetError as exc:
        raise ApiError("InvalidS3ObjectException", str(exc)) from exc


def _name_free(project, dataset_type: str) -> str:
    """The console name of a dataset the API creates: "train" or "test", numbered when taken."""
    base = dataset_type.lower()
    taken = set(Dataset.objects.filter(project=project, name__startswith=base).values_list("name", flat=True))
    n = 1
    name = base
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def create_dataset(*, user, params: dict) -> dict:
    """A TRAIN or TEST dataset of the project, empty, from a Ground Truth manifest (checked as the
    console checks it, S3 access rules included) or copied from another of the user's datasets.
    CREATE_IN_PROGRESS (an empty one CREATE_COMPLETE) when the answer is sent."""
    dataset_type = _dataset_type(params)
    project_arn = checks.string(params, "ProjectArn", required=True, min_len=20, max_len=2048)
    tags = checks.tags(params)
    arns.project_of(user=user, arn=project_arn)
    source, location, copied = _source(user=user, params=params)
    if source == imports.MANIFEST:
        _manifest_check(location=location, user=user)
    if copied is not None and copied.is_in_progress:
        raise ApiError("ResourceInUseException", f"The dataset {copied.arn} is being created or updated.")
    with transaction.atomic():
        project = arns.project_of(user=user, arn=project_arn, lock=True)
        if services.project_dataset_exists(project_id=project.pk, dataset_type=dataset_type):
            kind = "training" if dataset_type == Dataset.Type.TRAIN else "test"
            raise ApiError("ResourceAlreadyExistsException", f"The project already has a {kind} dataset.")
        fields = {
            "project": project,
            "name": _name_free(project, dataset_type),
            "dataset_type": dataset_type,
            "is_project_dataset": True,
            "tags": tags,
        }
        try:
            if source == imports.MANIFEST:
                dataset = manifest.dataset_create_from_manifest(location=location, **fields)
            elif source == imports.COPY:
                dataset = copy.dataset_create_copy(source=copied, user=user, **fields)
            else:
                dataset = upload.dataset_create_empty(**fields)
        except DatasetError as exc:
            raise checks.invalid(str(exc)) from exc
    return {"DatasetArn": dataset.arn}


def _manifest_check(*, location: manifest.ManifestLocation, user) -> None:
    try:
        manifest.manifest_check(location=location, reader=UserS3(user.pk))
    except (s3_names.S3AccessRefused, s3_names.S3AccessDenied) as exc:
        raise ApiError("AccessDeniedException", str(exc)) from exc
    except (s3_names.S3BucketNotFound, s3_names.S3ObjectNotFound, s3_names.S3LocationInvalid, DatasetError) as exc:
        raise ApiError("InvalidS3ObjectException", str(exc)) from exc


def describe_dataset(*, user, params: dict) -> dict:
    dataset = arns.dataset_arn_param(user=user, params=params)
    return {"DatasetDescription": arns.dataset_description(dataset)}


def delete_dataset(*, user, params: dict) -> dict:
    """Delete the dataset as the console's Delete dataset does: refused while it is being created or updated."""
    dataset = arns.dataset_arn_param(user=user, params=params)
    try:
        services.dataset_delete(dataset=dataset)
    except DatasetError as exc:
        raise ApiError("ResourceInUseException", str(exc)) from exc
    return {}


def distribute_dataset_entries(*, user, params: dict) -> dict:
    """The console's split into the project's empty test dataset; both datasets UPDATE_IN_PROGRESS on return."""
    listed = params.get("Datasets")
    if not isinstance(listed, list) or len(listed) != 2 or not all(isinstance(d, dict) for d in listed):
        raise checks.invalid('Datasets must list 2 datasets, {"Arn": …} each: the training and the test dataset.')
    found = [arns.dataset_arn_param(user=user, params=d, name="Arn") for d in listed]
    by_type = {d.dataset_type: d for d in found}
    if set(by_type) != set(DATASET_TYPES):
        raise checks.invalid("Datasets must be a training (TRAIN) and a test (TEST) dataset.")
    train, test = by_type[Dataset.Type.TRAIN], by_type[Dataset.Type.TEST]
    if train.project_id != test.project_id:
        raise checks.invalid("The training and test datasets must belong to the same project.")
    if train.is_in_progress or test.is_in_progress:
        raise ApiError("ResourceNotReadyException", "A dataset is being created or updated. Wait until it finishes.")
    try:
        split.dataset_distribute(train=train, test=test, user=user)
    except DatasetError as exc:
        raise checks.invalid(str(exc)) from exc
    return {}
