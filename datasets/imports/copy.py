"""Copy an existing Amazon Rekognition Custom Labels dataset: INSERT … SELECT in a worker."""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from customlabels import s3_names
from customlabels.text import counted
from projects import s3_access
from projects.models import Project
from projects.s3_access import UserS3

from .. import rules, services
from ..errors import DatasetError
from ..models import BoundingBox, Dataset, Image, ImageLabel, ImportJob, Label
from ..operations.common import QUEUE_DOWN, lock_for_reading
from ..operations.thumbnails import thumbnails_relocate_queue
from . import jobs


@transaction.atomic
def dataset_create_copy(*, project: Project, name: str, source: Dataset, user, **fields) -> Dataset:
    """Create a dataset in `project` that a worker fills with a copy of `source` after commit.

    Atomic. Raises DatasetError(field="source") when the source is another user's, is being created
    or changed, or failed to be created; DatasetError(field="name") when the name is taken.
    """
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
    if source.never_created:
        raise DatasetError(f"The dataset {source.name} could not be created, so it can't be copied.", field="source")
    if refused := _refused(reader=UserS3(user.pk), source_id=source.pk):
        raise DatasetError(refused, field="source")
    return jobs.dataset_start(
        project=project,
        name=name,
        status_message=f"Copying the dataset {source.name}.",
        source=ImportJob.Source.COPY,
        parameters={"source_dataset": source.pk, "source_name": source.name},
        message=QUEUE_DOWN,
        **fields,
    )


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
        if not lock_for_reading(source_id):
            jobs.job_fail(job_id=job.pk, message=f"The dataset {source_name} was deleted before it could be copied.")
            return False
        if refused := _refused(reader=jobs.job_s3(job=job), source_id=source_id):
            jobs.job_fail(job_id=job.pk, message=refused)
            return False
        if Image.objects.filter(dataset_id=source_id).count() > settings.IMAGES_PER_DATASET:
            jobs.job_fail(job_id=job.pk, message=rules.too_many_images_message(settings.IMAGES_PER_DATASET))
            return False
        copied = _rows_copy(source_id=source_id, target_id=dataset.pk, job_id=job.pk)
        jobs.job_succeed(
            job=job,
            message=f"{counted(copied, 'image')} copied from {source_name}.",
            created=f"The dataset was successfully copied from {source_name}.",
            started_at=job.started_at or timezone.now(),
            found=copied,
            listing_done=True,
        )
        services.dataset_changed(dataset_id=dataset.pk)
        thumbnails_relocate_queue(job_id=job.pk)
    return True


def _refused(*, reader: UserS3, source_id: int) -> str:
    """Why the user may not copy the dataset: the first of its images they may not import (a grant
    revoked since it was imported), or "" when they may copy all of it. One query."""
    outside = (
        Image.objects.filter(dataset_id=source_id)
        .exclude(reader.importable_refs())
        .order_by("id")
        .values_list("source_ref", flat=True)
        .first()
    )
    if outside is None:
        return ""
    return f"{s3_access.refused_message(*s3_names.split_uri(outside))} The dataset holds that image, so it can't be copied."


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
        # An image keeps showing the source's thumbnail until it has its own copy (needs_thumbnail),
        # which the relocation queued with the copy gives it.
        cursor.execute(
            f"INSERT INTO {image} (dataset_id, source_ref, file_name, import_job_id, format, width, height, size, "
            "etag, phash, thumbnail_key, needs_thumbnail, thumbnail_queued_at, error_code, error_message, problems, "
            "is_labeled, created_at) "
            "SELECT %s, source_ref, file_name, %s, format, width, height, size, etag, phash, thumbnail_key, "
            "(needs_thumbnail OR thumbnail_key <> ''), %s, error_code, error_message, problems, is_labeled, %s "
            f"FROM {image} WHERE dataset_id = %s ORDER BY id ON CONFLICT (dataset_id, source_ref) DO NOTHING",
            [target_id, job_id, now, now, source_id],
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
