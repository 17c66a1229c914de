"""Create test dataset (the 20% split): the service, the real worker where its task runs, moto over HTTP."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from datasets import services
from datasets.errors import DatasetError
from datasets.imports import jobs, split
from datasets.models import BoundingBox, Dataset, Image, ImageLabel, ImportJob
from datasets.operations.thumbnail_queue import thumbnails_sweep
from projects.console_storage import thumbnail_key
from tests.factories import DatasetFactory, ImportJobFactory

from ..support import (
    build_images,
    content,
    keys_under,
    pets,
    put_thumbnail,
    settled,
    wait_until,
)

INSUFFICIENT = "ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE"


# --- the split --------------------------------------------------------------------------------


def labels_on_images(dataset: Dataset) -> Counter:
    """How many images of the dataset have each label (image-level or on a box)."""
    pairs = set(ImageLabel.objects.filter(image__dataset=dataset).values_list("image_id", "label__name"))
    pairs |= set(BoundingBox.objects.filter(image__dataset=dataset).values_list("image_id", "label__name"))
    return Counter(name for _, name in pairs)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_create_test_dataset_moves_20_percent_of_each_label_with_labels_boxes_and_thumbnails(
    celery_worker_proc, s3, console_bucket, user, project
):
    train = DatasetFactory(project=project, name="pets")
    images = pets(train)
    old_thumbnails = {put_thumbnail(s3, console_bucket, image) for image in images.values()}
    before = content(train)

    test = split.dataset_split(dataset=train, name="pets-test", user=user)
    train.refresh_from_db()
    assert (test.dataset_type, test.status) == (Dataset.Type.TEST, Dataset.Status.CREATE_IN_PROGRESS)
    assert train.status == Dataset.Status.UPDATE_IN_PROGRESS
    settled(test, Dataset.Status.CREATE_COMPLETE)
    train.refresh_from_db()

    assert train.status == Dataset.Status.UPDATE_COMPLETE
    assert train.status_message == "10 of 50 images were moved to the test dataset pets-test."
    assert test.status_message == "The dataset was successfully created from 20% of pets."
    assert (test.images.count(), train.images.count()) == (10, 40)
    assert labels_on_images(test) == {"cat": 2, "dog": 4, "bird": 1}
    assert labels_on_images(train) == {"cat": 8, "dog": 16, "bird": 4}
    assert test.images.filter(is_labeled=False).count() == 3
    assert {**content(train), **content(test)} == before
    assert sorted(test.labels.values_list("name", flat=True)) == ["bird", "cat", "dog"]
    assert not ImageLabel.objects.filter(image__dataset=test).exclude(label__dataset=test).exists()
    assert not BoundingBox.objects.filter(image__dataset=test).exclude(label__dataset=test).exists()
    job = test.import_jobs.get()
    assert (job.source, job.status, job.found, job.images.count()) == (ImportJob.Source.SPLIT, "SUCCEEDED", 10, 10)

    moved = dict(test.images.values_list("id", "thumbnail_key"))
    assert moved == {pk: thumbnail_key(user.pk, test.pk, pk) for pk in moved}
    assert keys_under(s3, console_bucket.name, f"users/{user.pk}/thumbnails/{test.pk}/") == set(moved.values())
    assert keys_under(s3, console_bucket.name, f"users/{user.pk}/thumbnails/{train.pk}/") == old_thumbnails - {
        thumbnail_key(user.pk, train.pk, pk) for pk in moved
    }

    services.dataset_delete(dataset=train)
    wait_until(
        lambda: not keys_under(s3, console_bucket.name, f"users/{user.pk}/thumbnails/{train.pk}/"),
        what="the training dataset's thumbnails to leave the console bucket",
    )
    assert keys_under(s3, console_bucket.name, f"users/{user.pk}/thumbnails/{test.pk}/") == set(moved.values())


@pytest.mark.django_db
def test_the_imports_of_a_split_training_dataset_count_the_images_moved_to_the_test_dataset(user, project):
    train = DatasetFactory(project=project, name="pets")
    first = ImportJobFactory(dataset=train, status=ImportJob.Status.SUCCEEDED, found=30)
    second = ImportJobFactory(dataset=train, status=ImportJob.Status.SUCCEEDED, found=20)
    images = pets(train)
    for i, image in enumerate(images.values()):
        Image.objects.filter(pk=image.pk).update(import_job=first if i < 30 else second)

    test = split_now(train, user, "pets-test")

    first.refresh_from_db()
    second.refresh_from_db()
    moved = test.images.values_list("pk", flat=True)
    assert first.moved_out + second.moved_out == len(moved) == 10
    assert first.images.count() + first.moved_out == 30
    assert second.images.count() + second.moved_out == 20


def split_now(dataset: Dataset, user, name: str) -> Dataset:
    """The split, with the worker's step run here (on_commit never fires inside a test's transaction)."""
    test = split.dataset_split(dataset=dataset, name=name, user=user)
    assert split.dataset_split_run(job_id=test.import_jobs.get().pk) is True
    return test


@pytest.mark.django_db
def test_two_datasets_with_the_same_content_split_the_same_way(user):
    first, second = DatasetFactory(project__owner=user), DatasetFactory(project__owner=user)
    pets(first)
    pets(second, reverse=True)  # other ids, other order
    assert sorted(first.images.values_list("source_ref", flat=True)) == sorted(
        second.images.values_list("source_ref", flat=True)
    )

    moved_first = set(split_now(first, user, "first-test").images.values_list("source_ref", flat=True))
    moved_second = set(split_now(second, user, "second-test").images.values_list("source_ref", flat=True))

    assert len(moved_first) == 10
    assert moved_first == moved_second


@pytest.mark.django_db
def test_images_with_several_labels_leave_every_label_on_both_sides(user):
    train = DatasetFactory(project__owner=user)
    build_images(
        train,
        [{"key": f"a-{i}.jpg", "labels": ["a"]} for i in range(6)]
        + [{"key": f"ab-{i}.jpg", "labels": ["a"], "boxes": [("b", 1, 1, 20, 20)]} for i in range(4)]
        + [{"key": f"b-{i}.jpg", "labels": ["b"]} for i in range(3)]
        + [{"key": f"bc-{i}.jpg", "labels": ["b", "c"]} for i in range(2)]
        + [{"key": f"c-{i}.jpg", "labels": ["c"]} for i in range(1)]
        + [{"key": f"none-{i}.jpg"} for i in range(4)],
    )
    total = labels_on_images(train)

    test = split_now(train, user, "mixed-test")

    in_test, in_train = labels_on_images(test), labels_on_images(train)
    assert set(in_test) == set(in_train) == {"a", "b", "c"}
    assert in_test + in_train == total
    assert 3 <= test.images.count() <= 6  # 20% of 20 images, give or take what several labels add
    assert test.images.filter(is_labeled=False).count() == 1


def test_split_choose_keeps_an_image_of_every_label_on_each_side_and_ignores_the_order_given():
    images = [(f"s3://b/{i}.jpg", frozenset({"x", "y"} if i < 2 else {"y"})) for i in range(6)]
    images += [(f"s3://b/u{i}.jpg", frozenset()) for i in range(10)]

    chosen = split.split_choose(images=images)

    assert chosen == split.split_choose(images=images[::-1])
    labels_chosen = Counter(label for ref, labels in images if ref in chosen for label in labels)
    assert labels_chosen["x"] == 1 and 1 <= labels_chosen["y"] <= 5
    assert len([ref for ref in chosen if "/u" in ref]) == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "specs, words",
    [
        ([{"key": "a.jpg", "labels": ["cat"]}, {"key": "b.jpg", "labels": ["cat", "lynx"]}], "only 1 image has lynx"),
        ([{"key": "a.jpg", "labels": ["cat"]}, {"key": "b.jpg"}, {"key": "c.jpg"}], "It has 1 labeled image"),
        ([{"key": "a.jpg"}, {"key": "b.jpg"}], "It has 0 labeled images"),
    ],
    ids=["a label on one image", "one labeled image", "no labeled image"],
)
def test_too_few_labeled_images_refuse_the_split_with_the_consoles_error(user, specs, words):
    train = DatasetFactory(project__owner=user)
    build_images(train, specs)

    with pytest.raises(DatasetError) as refused:
        split.dataset_split(dataset=train, name="refused-test", user=user)

    message = str(refused.value)
    assert message.startswith(f"{INSUFFICIENT}: {split.INSUFFICIENT_MESSAGE}")
    assert words in message
    train.refresh_from_db()
    assert train.status == Dataset.Status.CREATE_COMPLETE
    assert not Dataset.objects.filter(name="refused-test").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields, words",
    [
        ({"dataset_type": "TEST"}, "Only a training dataset can be split"),
        ({"status": "UPDATE_IN_PROGRESS"}, "being created or updated"),
        ({"status": "CREATE_FAILED"}, "could not be created"),
    ],
)
def test_a_test_dataset_or_one_in_progress_is_not_split(user, fields, words):
    dataset = DatasetFactory(project__owner=user, **fields)
    pets(dataset)
    with pytest.raises(DatasetError, match=words):
        split.dataset_split(dataset=dataset, name="refused-test", user=user)
    assert not Dataset.objects.filter(name="refused-test").exists()


@pytest.mark.django_db
def test_an_empty_dataset_and_a_project_with_a_test_dataset_are_not_split(user):
    empty = DatasetFactory(project__owner=user)
    with pytest.raises(DatasetError, match="no images to split"):
        split.dataset_split(dataset=empty, name="empty-test", user=user)

    train = DatasetFactory(project__owner=user)
    pets(train)
    DatasetFactory(project=train.project, name="existing-test", dataset_type=Dataset.Type.TEST)
    with pytest.raises(DatasetError, match="already has a test dataset, existing-test"):
        split.dataset_split(dataset=train, name="second-test", user=user)


@pytest.mark.django_db
def test_a_failed_split_fails_both_datasets_and_moves_nothing(user):
    train = DatasetFactory(project__owner=user, name="pets")
    pets(train)
    test = split.dataset_split(dataset=train, name="pets-test", user=user)

    jobs.job_fail(
        job_id=test.import_jobs.get().pk, message="The split failed.", code=Dataset.StatusMessageCode.SERVICE_ERROR
    )

    train.refresh_from_db()
    test.refresh_from_db()
    assert (train.status, test.status) == (Dataset.Status.UPDATE_FAILED, Dataset.Status.CREATE_FAILED)
    assert train.status_message == test.status_message == "The split failed."
    assert train.images.count() == 50


def test_the_sweep_leaves_the_moved_images_to_the_thumbnail_relocation_of_the_split(
    user, project, django_capture_on_commit_callbacks
):
    train = DatasetFactory(project=project, name="pets")
    pets(train)
    # Thumbnails made long ago, queued long before that: the sweep would take such a queue time as lost.
    Image.objects.filter(dataset=train).update(
        thumbnail_key=f"users/{project.owner_id}/thumbnails/old.jpg",
        needs_thumbnail=False,
        thumbnail_queued_at=timezone.now() - timedelta(days=1),
    )

    with django_capture_on_commit_callbacks():
        test = split_now(train, user, "pets-test")
    assert test.images.filter(needs_thumbnail=True).count() == 10

    with django_capture_on_commit_callbacks() as sends:
        assert thumbnails_sweep() == 0
    assert sends == []
