import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from customlabels import s3

from .errors import ProjectError
from .models import ConsoleBucket, Project, S3AccessGrant


def console_bucket_get_or_propose(*, region: str | None = None) -> ConsoleBucket:
    """The region's console bucket row, proposing a fresh random name the first time.

    Idempotent: the name, once proposed, stays the same until the bucket is created.
    """
    region = region or settings.AWS_DEFAULT_REGION
    bucket = ConsoleBucket.objects.filter(region=region).first()
    if bucket:
        return bucket
    name = f"custom-labels-console-{region}-{secrets.randbelow(10**10):010d}"
    try:
        with transaction.atomic():
            return ConsoleBucket.objects.create(region=region, name=name)
    except IntegrityError:
        return ConsoleBucket.objects.get(region=region)


def console_bucket_create(*, region: str | None = None) -> ConsoleBucket:
    """Create the console bucket on S3 and record it. Raises s3.S3Error with a readable message."""
    bucket = console_bucket_get_or_propose(region=region)
    if bucket.is_created:
        return bucket
    s3.create_bucket(bucket.name)
    ConsoleBucket.objects.filter(pk=bucket.pk, created_at__isnull=True).update(created_at=timezone.now())
    bucket.refresh_from_db()
    return bucket


def project_create(*, owner, name: str) -> Project:
    """Create a project. Raises ProjectError(field="name") if the owner already has one of that name."""
    name = name.strip()
    project = Project(owner=owner, name=name, arn_suffix=int(time.time() * 1000))
    project.full_clean(exclude=["owner", "arn_suffix"], validate_constraints=False)
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError as exc:
        raise ProjectError(f"A project named “{name}” already exists.", field="name") from exc
    return project


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Delete a project with its datasets, images and labels.

    Refused while one of its datasets is being imported, so no worker writes into a deleted dataset.
    """
    from datasets.models import Dataset
    from datasets.services import dataset_storage_release_queue

    busy = project.datasets.filter(status__in=Dataset.IN_PROGRESS).exists()
    if busy:
        raise ProjectError("This project has a dataset that is being created or updated. Wait until it finishes.")
    # What its datasets keep in the owner's console storage goes with them.
    for dataset in project.datasets.all():
        dataset_storage_release_queue(dataset=dataset)
    project.delete()


@dataclass(frozen=True)
class GrantChange:
    """What s3_access_grant_set did: "granted", "write added", "write removed", "revoked" or "unchanged"."""

    outcome: str
    grant: S3AccessGrant | None


def s3_access_location(value: str) -> s3.S3Location:
    """A grant's location, `s3://bucket[/prefix]`, its prefix a folder ending in "/".

    Raises ProjectError for a malformed location or the console bucket (each user's console storage
    is theirs alone, so the bucket is never granted).
    """
    try:
        location = s3.parse_location(value)
    except s3.S3LocationInvalid as exc:
        raise ProjectError(str(exc), field="location") from exc
    bucket = ConsoleBucket.objects.filter(name=location.bucket).first()
    if bucket is not None:
        raise ProjectError(
            f"{location.bucket} is the console bucket: each user's console storage is theirs alone and is "
            "never granted.",
            field="location",
        )
    return location


@transaction.atomic
def s3_access_grant_set(
    *, location: str, user=None, group=None, write: bool = False, revoke: bool = False
) -> GrantChange:
    """Grant the user or group reading (with `write`, also writing) of the location, or with `revoke`
    take the grant back (with `write` too, only its writing). Idempotent. Raises ProjectError for
    the location (see s3_access_location)."""
    where = s3_access_location(location)
    grantee = {"user": user} if user is not None else {"group": group}
    grant = (
        S3AccessGrant.objects.select_for_update().filter(**grantee, bucket=where.bucket, prefix=where.prefix).first()
    )
    if revoke:
        if grant is None:
            return GrantChange("unchanged", None)
        if write:
            if not grant.can_write:
                return GrantChange("unchanged", grant)
            grant.can_write = False
            grant.save(update_fields=["can_write"])
            return GrantChange("write removed", grant)
        grant.delete()
        return GrantChange("revoked", None)
    if grant is None:
        grant = S3AccessGrant.objects.create(**grantee, bucket=where.bucket, prefix=where.prefix, can_write=write)
        return GrantChange("granted", grant)
    if write and not grant.can_write:
        grant.can_write = True
        grant.save(update_fields=["can_write"])
        return GrantChange("write added", grant)
    return GrantChange("unchanged", grant)
