"""The user's projects and datasets by ARN, and how the API describes them.

An ARN of another account (user), another region, or of nothing the user owns is answered
ResourceNotFoundException, exactly as for an ARN that never existed: nobody learns what others have.
"""

from __future__ import annotations

import re

from django.conf import settings

from projects.models import Project

from .. import counts
from ..models import Dataset
from . import params as checks
from .protocol import ApiError

PROJECT_ARN = re.compile(
    r"arn:[a-z\d-]+:rekognition:(?P<region>[a-z\d-]+):(?P<account>\d{12}):project/(?P<name>[a-zA-Z0-9_.\-]{1,255})/(?P<suffix>[0-9]+)"
)
DATASET_ARN = re.compile(
    r"arn:[a-z\d-]+:rekognition:(?P<region>[a-z\d-]+):(?P<account>\d{12}):project/(?P<name>[a-zA-Z0-9_.\-]{1,255})"
    r"/dataset/(?P<type>train|test)/(?P<suffix>[0-9]+)"
)


def _not_found(kind: str, arn: str) -> ApiError:
    return ApiError("ResourceNotFoundException", f"The {kind} {arn} was not found.")


def _yours(match: re.Match, user) -> bool:
    return match["region"] == settings.AWS_DEFAULT_REGION and match["account"] == f"{user.pk:012d}"


def project_of(*, user, arn: str, lock: bool = False) -> Project:
    match = PROJECT_ARN.fullmatch(arn)
    if match is None:
        raise checks.invalid(f"“{arn[:300]}” is not a project ARN.")
    projects = Project.objects.filter(owner=user, name=match["name"], arn_suffix=int(match["suffix"][:18]))
    project = (projects.select_for_update() if lock else projects).first() if _yours(match, user) else None
    if project is None:
        raise _not_found("project", arn)
    return project


def dataset_of(*, user, arn: str) -> Dataset:
    match = DATASET_ARN.fullmatch(arn)
    if match is None:
        raise checks.invalid(f"“{arn[:300]}” is not a dataset ARN.")
    dataset = None
    if _yours(match, user):
        dataset = (
            Dataset.objects.select_related("project")
            .filter(
                project__owner=user,
                project__name=match["name"],
                dataset_type=match["type"].upper(),
                arn_suffix=int(match["suffix"][:18]),
            )
            .first()
        )
    if dataset is None:
        raise _not_found("dataset", arn)
    return dataset


def dataset_arn_param(*, user, params: dict, name: str = "DatasetArn") -> Dataset:
    arn = checks.string(params, name, required=True, min_len=20, max_len=2048)
    return dataset_of(user=user, arn=arn)


def timestamp(moment) -> float:
    """Epoch seconds, as botocore's JSON protocol reads a timestamp."""
    return round(moment.timestamp(), 3)


def dataset_metadata(dataset: Dataset) -> dict:
    """DescribeProjects' DatasetMetadata: every member, always."""
    return {
        "CreationTimestamp": timestamp(dataset.created_at),
        "DatasetType": dataset.dataset_type,
        "DatasetArn": dataset.arn,
        "Status": dataset.status,
        "StatusMessage": dataset.status_message,
        "StatusMessageCode": dataset.status_message_code or Dataset.StatusMessageCode.SUCCESS,
    }


def dataset_description(dataset: Dataset) -> dict:
    """DescribeDataset's DatasetDescription: every member, always; the statistics the gallery shows."""
    stats = counts.dataset_stats(dataset=dataset)
    return {
        "CreationTimestamp": timestamp(dataset.created_at),
        "LastUpdatedTimestamp": timestamp(dataset.updated_at),
        "Status": dataset.status,
        "StatusMessage": dataset.status_message,
        "StatusMessageCode": dataset.status_message_code or Dataset.StatusMessageCode.SUCCESS,
        "DatasetStats": {
            "LabeledEntries": stats.labeled,
            "TotalEntries": stats.total,
            "TotalLabels": stats.labels,
            "ErrorEntries": stats.errors,
        },
    }
