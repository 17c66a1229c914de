import secrets
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from customlabels import s3

from .errors import ProjectError
from .models import ConsoleBucket, Project


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

    busy = project.datasets.filter(status__in=Dataset.IN_PROGRESS).exists()
    if busy:
        raise ProjectError("This project has a dataset that is being created or updated. Wait until it finishes.")
    project.delete()
