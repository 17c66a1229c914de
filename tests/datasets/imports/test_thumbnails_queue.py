"""Queueing a dataset's pending thumbnails, and the periodic sweep: each thumbnail queued once, in
batches, a few batches of a dataset at a time, again only when its task was lost long ago; the
sweep leaves a running import's images to it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from datasets.models import Dataset, Image
from datasets.operations.thumbnail_queue import (
    REQUEUE_AFTER,
    THUMBNAIL_BATCH,
    dataset_thumbnails_queue,
    images_thumbnails_queue,
    thumbnails_sweep,
)
from tests.factories import DatasetFactory, ImageFactory

pytestmark = pytest.mark.django_db


def pending(dataset, n=1, **fields):
    return [ImageFactory(dataset=dataset, needs_thumbnail=True, **fields) for _ in range(n)]


def test_a_datasets_pending_thumbnails_are_queued_once_in_batches(django_capture_on_commit_callbacks):
    dataset = DatasetFactory()
    images = pending(dataset, THUMBNAIL_BATCH + 5)
    ImageFactory(dataset=dataset, thumbnail_key="thumbnails/1/1.jpg")
    ImageFactory(dataset=dataset, error_code="ERROR_INVALID_IMAGE")
    pending(DatasetFactory(), 2)

    with django_capture_on_commit_callbacks() as sends:
        assert dataset_thumbnails_queue(dataset_id=dataset.pk) == len(images)
    assert len(sends) == 2  # one task per THUMBNAIL_BATCH images
    assert not Image.objects.filter(dataset=dataset, needs_thumbnail=True, thumbnail_queued_at=None).exists()

    with django_capture_on_commit_callbacks() as sends:
        assert dataset_thumbnails_queue(dataset_id=dataset.pk) == 0
    assert sends == []


def test_a_thumbnail_queued_long_ago_and_still_not_made_is_queued_again(django_capture_on_commit_callbacks):
    dataset = DatasetFactory()
    now = timezone.now()
    lost = pending(dataset, thumbnail_queued_at=now - REQUEUE_AFTER - timedelta(minutes=1))
    pending(dataset, thumbnail_queued_at=now - REQUEUE_AFTER + timedelta(minutes=5))

    with django_capture_on_commit_callbacks():
        assert dataset_thumbnails_queue(dataset_id=dataset.pk) == 1
    assert Image.objects.get(pk=lost[0].pk).thumbnail_queued_at >= now


def test_the_sweep_queues_every_finished_datasets_pending_thumbnails_and_leaves_running_imports_alone(
    django_capture_on_commit_callbacks,
):
    failed = DatasetFactory(status=Dataset.Status.CREATE_FAILED)
    complete = DatasetFactory(status=Dataset.Status.UPDATE_COMPLETE)
    importing = DatasetFactory(status=Dataset.Status.CREATE_IN_PROGRESS)
    pending(failed, 3), pending(complete, 2), pending(importing, 4)

    with django_capture_on_commit_callbacks() as sends:
        assert thumbnails_sweep() == 5
    assert len(sends) == 2
    assert Image.objects.filter(dataset=importing, thumbnail_queued_at=None).count() == 4

    with django_capture_on_commit_callbacks() as sends:
        assert thumbnails_sweep() == 0
    assert sends == []


def test_a_dataset_has_at_most_its_few_thumbnail_tasks_queued_and_each_made_batch_queues_the_next(
    django_capture_on_commit_callbacks, settings
):
    settings.THUMBNAIL_TASKS_IN_FLIGHT = 2
    large, small = DatasetFactory(), DatasetFactory()
    images = pending(large, 5 * THUMBNAIL_BATCH)
    pending(small, 3)

    with django_capture_on_commit_callbacks() as sends:
        assert images_thumbnails_queue(image_ids=[images[0].pk]) == 2 * THUMBNAIL_BATCH
        # Another user's thumbnails are queued behind those two tasks, not behind the other 300.
        assert dataset_thumbnails_queue(dataset_id=small.pk) == 3
    assert len(sends) == 3
    assert images_thumbnails_queue(image_ids=[images[-1].pk]) == 0  # no room until one is made

    made = Image.objects.filter(dataset=large).exclude(thumbnail_queued_at=None).order_by("id")[:THUMBNAIL_BATCH]
    Image.objects.filter(pk__in=list(made.values_list("pk", flat=True))).update(needs_thumbnail=False)
    with django_capture_on_commit_callbacks() as sends:
        assert images_thumbnails_queue(image_ids=[images[0].pk]) == THUMBNAIL_BATCH
    assert len(sends) == 1
