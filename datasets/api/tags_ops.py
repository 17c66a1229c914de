"""TagResource, UntagResource, ListTagsForResource on the user's projects and datasets."""

from __future__ import annotations

from django.db import transaction

from projects.models import Project

from ..models import Dataset
from . import arns
from . import params as checks

MAX_TAGS = 200


def _resource(*, user, params: dict, lock: bool = False) -> Project | Dataset:
    arn = checks.string(params, "ResourceArn", required=True, min_len=20, max_len=2048)
    if arns.DATASET_ARN.fullmatch(arn):
        dataset = arns.dataset_of(user=user, arn=arn)
        return Dataset.objects.select_for_update().get(pk=dataset.pk) if lock else dataset
    return arns.project_of(user=user, arn=arn, lock=lock)


def tag_resource(*, user, params: dict) -> dict:
    """Add or replace tags; a resource holds at most 200."""
    if "Tags" not in params:
        raise checks.invalid("Tags is required.")
    tags = checks.tags(params)
    with transaction.atomic():
        resource = _resource(user=user, params=params, lock=True)
        merged = {**resource.tags, **tags}
        if len(merged) > MAX_TAGS:
            raise checks.invalid(f"A resource can have at most {MAX_TAGS} tags; it would have {len(merged)}.")
        type(resource).objects.filter(pk=resource.pk).update(tags=merged)
    return {}


def untag_resource(*, user, params: dict) -> dict:
    keys = params.get("TagKeys")
    if not isinstance(keys, list) or len(keys) > MAX_TAGS:
        raise checks.invalid(f"TagKeys must be a list of at most {MAX_TAGS} tag keys.")
    removed = {checks.tag_key(key) for key in keys}
    with transaction.atomic():
        resource = _resource(user=user, params=params, lock=True)
        kept = {key: value for key, value in resource.tags.items() if key not in removed}
        type(resource).objects.filter(pk=resource.pk).update(tags=kept)
    return {}


def list_tags_for_resource(*, user, params: dict) -> dict:
    return {"Tags": dict(_resource(user=user, params=params).tags)}
