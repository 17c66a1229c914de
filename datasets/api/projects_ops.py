"""CreateProject, DescribeProjects, DeleteProject: the services of the project pages."""

from __future__ import annotations

from django.db import transaction

from projects import selectors as project_selectors
from projects import services as project_services
from projects.errors import ProjectError
from projects.models import Project

from ..models import Dataset
from . import arns
from . import params as checks
from .protocol import ApiError

FEATURES = ("CONTENT_MODERATION", "CUSTOM_LABELS")


def create_project(*, user, params: dict) -> dict:
    name = checks.string(params, "ProjectName", required=True, max_len=255, pattern=checks.PROJECT_NAME)
    feature = params.get("Feature")
    if feature is not None and feature not in FEATURES:
        raise checks.invalid(f"Feature must be one of {', '.join(FEATURES)}.")
    if feature == "CONTENT_MODERATION":
        raise checks.invalid("This console makes Custom Labels projects only: leave Feature out or use CUSTOM_LABELS.")
    if params.get("AutoUpdate") not in (None, "DISABLED"):
        raise checks.invalid("AutoUpdate is for content moderation projects; Custom Labels projects take DISABLED.")
    tags = checks.tags(params)
    with transaction.atomic():
        try:
            project = project_services.project_create(owner=user, name=name)
        except ProjectError as exc:
            raise ApiError("ResourceInUseException", str(exc)) from exc
        if tags:
            Project.objects.filter(pk=project.pk).update(tags=tags)
    return {"ProjectArn": project.arn}


def describe_projects(*, user, params: dict) -> dict:
    """The user's projects, oldest first (as AWS sorts them), each with its training and test dataset."""
    limit = checks.integer(params, "MaxResults", low=1, high=100, default=100)
    names = checks.string_list(
        params, "ProjectNames", min_items=1, max_items=10, max_len=255, pattern=checks.PROJECT_NAME
    )
    features = params.get("Features")
    if features is not None and (
        not isinstance(features, list) or not 1 <= len(features) <= 2 or set(features) - set(FEATURES)
    ):
        raise checks.invalid(f"Features must be a list of 1 or 2 of {', '.join(FEATURES)}.")
    page = checks.page_token(params, scope=f"projects:{user.pk}")
    projects = project_selectors.project_list(user=user).order_by("created_at", "id")
    if names:
        projects = projects.filter(name__in=names)
    if features is not None and "CUSTOM_LABELS" not in features:
        projects = projects.none()
    if page is not None:
        projects = projects.filter(pk__gt=page["after"])
    found = list(projects.order_by("id")[: limit + 1])
    datasets: dict[int, list[Dataset]] = {}
    for dataset in Dataset.objects.filter(project__in=found[:limit], is_project_dataset=True).select_related("project"):
        datasets.setdefault(dataset.project_id, []).append(dataset)
    answer = {
        "ProjectDescriptions": [
            {
                "ProjectArn": project.arn,
                "CreationTimestamp": arns.timestamp(project.created_at),
                "Status": project.status,
                "Datasets": [
                    arns.dataset_metadata(d)
                    for d in sorted(datasets.get(project.pk, []), key=lambda d: d.dataset_type != "TRAIN")
                ],
                "Feature": "CUSTOM_LABELS",
                "AutoUpdate": "DISABLED",
            }
            for project in found[:limit]
        ]
    }
    if len(found) > limit:
        answer["NextToken"] = checks.page_token_make({"after": found[limit - 1].pk}, scope=f"projects:{user.pk}")
    return answer


def delete_project(*, user, params: dict) -> dict:
    """Delete the project with its datasets, as the console's Delete project does; refused
    (ResourceInUseException) while one of its datasets is being created or updated."""
    arn = checks.string(params, "ProjectArn", required=True, min_len=20, max_len=2048)
    project = arns.project_of(user=user, arn=arn)
    try:
        project_services.project_delete(project=project)
    except ProjectError as exc:
        raise ApiError("ResourceInUseException", str(exc)) from exc
    return {"Status": Project.Status.DELETING}
