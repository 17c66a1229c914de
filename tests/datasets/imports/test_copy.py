"""Copy an existing dataset: the service, the real worker where its task runs, moto over HTTP."""

import pytest

from datasets import labeling, services
from datasets.errors import DatasetError
from datasets.imports import copy as copy_import
from datasets.models import BoundingBox, Dataset, Image, ImportJob, Label
from projects.console_storage import thumbnail_key
from tests.factories import DatasetFactory

from ..support import (
    content,
    flowers,
    keys_under,
    png_bytes,
    put_thumbnail,
    settled,
    wait_until,
)

INSUFFICIENT = "ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE"


# --- copy -------------------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_copy_holds_the_same_entries_changes_on_its_own_and_outlives_its_source(
    celery_worker_proc, s3, make_bucket, console_bucket, user, project, grant
):
    grant("flowers-bucket")  # where its unusable image was imported from
    source = DatasetFactory(project=project, name="flowers")
    images = flowers(source)
    Label.objects.create(dataset=source, name="daisy")  # on the label list, on no image
    bucket = make_bucket("flowers")
    for key, image in images.items():
        if not image.error_code:
            s3.put_object(Bucket=bucket, Key=key, Body=png_bytes(120, 90))
            Image.objects.filter(pk=image.pk).update(source_ref=f"s3://{bucket}/{key}")
    put_thumbnail(s3, console_bucket, images["roses/rose-1.jpg"])
    put_thumbnail(s3, console_bucket, images["roses/rose-2.jpg"])
    # A thumbnail made but since lost, and one never made: both are made again for the copy.
    Image.objects.filter(pk=images["tulips/tulip-1.jpg"].pk).update(
        thumbnail_key=f"users/{user.pk}/thumbnails/{source.pk}/gone.jpg"
    )
    Image.objects.filter(pk=images["meadow.jpg"].pk).update(needs_thumbnail=True)
    before = content(source)

    copy = copy_import.dataset_create_copy(project=project, name="flowers-copy", source=source, user=user)
    assert copy.status == Dataset.Status.CREATE_IN_PROGRESS
    settled(copy, Dataset.Status.CREATE_COMPLETE)

    assert content(copy) == before
    assert sorted(copy.labels.values_list("name", flat=True)) == ["daisy", "red", "rose", "tulip"]
    assert copy.status_message == "The dataset was successfully copied from flowers."
    job = copy.import_jobs.get()
    assert (job.source, job.status, job.found, job.images.count()) == (ImportJob.Source.COPY, "SUCCEEDED", 5, 5)
    assert job.parameters == {"source_dataset": source.pk, "source_name": "flowers"}
    thumbnails = dict(copy.images.values_list("file_name", "thumbnail_key"))
    assert thumbnails.pop("tiny.png") == ""
    assert thumbnails == {
        name: thumbnail_key(user.pk, copy.pk, pk)
        for name, pk in copy.images.values_list("file_name", "id")
        if name in thumbnails
    }
    assert set(thumbnails.values()) == keys_under(s3, console_bucket.name, f"users/{user.pk}/thumbnails/{copy.pk}/")

    rose = copy.labels.get(name="rose")
    labeling.label_rename(label=rose, user=user, name="rosa")
    labeling.images_labels_assign(
        dataset=copy, user=user, label_ids=[copy.labels.get(name="daisy").pk], images=copy.images.all()
    )
    labeling.box_delete(box=BoundingBox.objects.filter(image__dataset=copy).first(), user=user)
    assert content(source) == before
    assert source.labels.filter(name="rose").exists()

    copied = content(copy)
    services.dataset_delete(dataset=source)
    wait_until(
        lambda: not keys_under(s3, console_bucket.name, f"users/{user.pk}/thumbnails/{source.pk}/"),
        what="the deleted source's thumbnails to leave the console bucket",
    )
    assert content(copy) == copied
    assert set(thumbnails.values()) == keys_under(s3, console_bucket.name, f"users/{user.pk}/thumbnails/{copy.pk}/")


def test_copying_is_refused_for_another_users_dataset(user, other_user, project):
    theirs = DatasetFactory(project__owner=other_user)
    with pytest.raises(DatasetError) as refused:
        copy_import.dataset_create_copy(project=project, name="stolen", source=theirs, user=user)
    assert refused.value.field == "source"
    assert not Dataset.objects.filter(name="stolen").exists()


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "CREATE_FAILED"])
def test_copying_a_dataset_being_made_or_failed_is_refused(user, project, status):
    source = DatasetFactory(project=project, name="flowers", status=status)
    with pytest.raises(DatasetError) as refused:
        copy_import.dataset_create_copy(project=project, name="flowers-copy", source=source, user=user)
    assert refused.value.field == "source"
    assert not Dataset.objects.filter(name="flowers-copy").exists()


def test_a_copy_needs_a_name_the_project_does_not_use(user, project):
    source = DatasetFactory(project=project, name="flowers")
    DatasetFactory(project=project, name="taken")
    with pytest.raises(DatasetError) as refused:
        copy_import.dataset_create_copy(project=project, name="taken", source=source, user=user)
    assert refused.value.field == "name"
    assert "already exists" in str(refused.value)
    assert not ImportJob.objects.exists()


def test_a_copy_of_a_dataset_deleted_before_the_worker_ran_fails_with_the_reason(user, project):
    source = DatasetFactory(project=project, name="flowers")
    copy = copy_import.dataset_create_copy(project=project, name="flowers-copy", source=source, user=user)
    source.delete()

    assert copy_import.dataset_copy(job_id=copy.import_jobs.get().pk) is False

    copy.refresh_from_db()
    assert copy.status == Dataset.Status.CREATE_FAILED
    assert copy.status_message == "The dataset flowers was deleted before it could be copied."
