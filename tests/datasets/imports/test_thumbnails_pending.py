"""Thumbnails nobody queued: those of a failed import's images, made when a later import of the
dataset finishes, and any image left pending, picked up by the periodic sweep (Celery beat)."""

import pytest
from django.conf import settings
from django.urls import reverse

from datasets import tasks
from datasets.models import Dataset, Image, ImportJob
from tests.factories import ImageFactory, ImportJobFactory

from ..support import jpeg_bytes, seed, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FOLDER = {f"retry/{label}/{label}-{i}.jpg": jpeg_bytes(320, 240) for label in ("cat", "dog") for i in range(3)}


def failed_attempt(project, bucket: str, keys: list[str]) -> Dataset:
    """A dataset whose import failed after inserting the images of `keys`, as S3 stopping mid-import leaves it."""
    dataset = project.datasets.create(
        name="retried",
        arn_suffix=1,
        status=Dataset.Status.CREATE_FAILED,
        status_message="S3 could not be reached, so the import stopped.",
        status_message_code=Dataset.StatusMessageCode.SERVICE_ERROR,
    )
    job = ImportJobFactory(
        dataset=dataset,
        status=ImportJob.Status.FAILED,
        parameters={"bucket": bucket, "prefix": "retry/", "auto_label": True},
    )
    for key in keys:
        ImageFactory(
            dataset=dataset,
            import_job=job,
            source_ref=f"s3://{bucket}/{key}",
            file_name=key.rsplit("/", 1)[-1],
            width=320,
            height=240,
            needs_thumbnail=True,
        )
    return dataset


def thumbnails_made(dataset: Dataset, *, count: int, timeout: float = 60) -> None:
    def made():
        images = Image.objects.filter(dataset=dataset)
        return images.count() == count and not images.filter(thumbnail_key="").exists()

    wait_until(made, timeout=timeout, what=f"{count} images of {dataset.name} with a thumbnail each")
    assert not Image.objects.filter(dataset=dataset, needs_thumbnail=True).exists()


def test_the_images_a_failed_import_inserted_get_thumbnails_when_retry_import_finishes(
    celery_worker_proc, client_user, console_bucket, project, source_bucket, s3
):
    seed(s3, source_bucket, FOLDER)
    dataset = failed_attempt(project, source_bucket, sorted(FOLDER)[:2])

    response = client_user.post(reverse("datasets:import_retry", args=[dataset.pk]))
    assert response.status_code == 302

    thumbnails_made(dataset, count=len(FOLDER))
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_COMPLETE
    earlier = Image.objects.filter(dataset=dataset, import_job__status=ImportJob.Status.FAILED)
    assert earlier.count() == 2
    for key in earlier.values_list("thumbnail_key", flat=True):
        assert s3.head_object(Bucket=console_bucket.name, Key=key)["ContentType"] == "image/jpeg"


def test_the_sweep_makes_thumbnails_for_images_left_pending(
    celery_worker_proc, console_bucket, project, source_bucket, s3
):
    seed(s3, source_bucket, FOLDER)
    dataset = failed_attempt(project, source_bucket, sorted(FOLDER))

    tasks.thumbnails_sweep_task.delay()

    thumbnails_made(dataset, count=len(FOLDER))


def test_celery_beat_runs_the_thumbnail_sweep_every_thumbnail_sweep_seconds():
    entries = [
        entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == tasks.thumbnails_sweep_task.name
    ]
    assert [entry["schedule"] for entry in entries] == [settings.THUMBNAIL_SWEEP_SECONDS]
