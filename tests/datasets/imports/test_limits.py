"""The limits of fair use: images per dataset (IMAGES_PER_DATASET, spec §4's 250,000, lowered here)
for every way images come in, and the non-image keys an import lists in its report.

The import steps run in this process (the worker is another process, whose settings a test can't
lower), a listing page of 4 keys at a time.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.utils import override_settings

from customlabels import s3 as s3_module
from customlabels.s3 import parse_location
from datasets.errors import DatasetError
from datasets.imports import copy as copy_import
from datasets.imports import manifest as manifest_import
from datasets.imports import s3_folder
from datasets.imports import upload as uploads
from datasets.models import Dataset, ImportJob
from tests.factories import DatasetFactory, ImageFactory

from ..support import png_bytes, seed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("console_bucket")]


def too_many(limit: int) -> str:
    return f"The dataset would have too many images: a dataset holds a maximum of {limit} images."


TOO_MANY = too_many(6)


@pytest.fixture(autouse=True)
def small_pages(monkeypatch):
    monkeypatch.setattr(s3_module, "LIST_PAGE_SIZE", 4)


@pytest.fixture
def twenty_images(s3, make_bucket) -> str:
    bucket = make_bucket("many")
    seed(s3, bucket, {f"photos/{n:02}.png": png_bytes(64, 64) for n in range(20)})
    return bucket


def start_import(project, bucket: str, *, dataset: Dataset | None = None) -> ImportJob:
    location = parse_location(f"s3://{bucket}/photos/")
    if dataset is not None:
        return s3_folder.dataset_add_images_from_s3(dataset=dataset, location=location, auto_label=False)
    dataset = s3_folder.dataset_create_from_s3(project=project, name="photos", location=location, auto_label=False)
    return dataset.import_jobs.get()


@override_settings(IMAGES_PER_DATASET=6)
def test_the_listing_stops_and_the_import_fails_when_the_dataset_would_hold_too_many_images(project, twenty_images):
    job = start_import(project, twenty_images)

    assert s3_folder.import_list(job_id=job.pk) is False

    job.refresh_from_db()
    job.dataset.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert (job.dataset.status, job.dataset.status_message_code) == (
        Dataset.Status.CREATE_FAILED,
        Dataset.StatusMessageCode.CLIENT_ERROR,
    )
    assert job.dataset.status_message.startswith(TOO_MANY)
    # Two pages of four crossed the limit of six: the other three pages were never listed.
    assert (job.chunks_total, job.found, job.listing_done) == (2, 8, False)
    # The chunks queued before the end find their import finished and insert nothing.
    for chunk in job.chunks.all():
        assert s3_folder.import_chunk(chunk_id=chunk.pk) == []
    assert not job.dataset.images.exists()


@override_settings(IMAGES_PER_DATASET=24)
def test_images_the_dataset_holds_count_toward_the_limit_and_those_it_finds_again_do_not(project, twenty_images):
    dataset = DatasetFactory(project=project)
    ImageFactory.create_batch(4, dataset=dataset)
    for n in range(10):  # half the folder is in the dataset already
        ImageFactory(dataset=dataset, source_ref=f"s3://{twenty_images}/photos/{n:02}.png")
    job = start_import(project, twenty_images, dataset=dataset)

    s3_folder.import_list(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.IN_PROGRESS and job.listing_done  # 14 + 10 new = 24


@override_settings(IMAGES_PER_DATASET=23)
def test_one_image_more_fails_adding_images_and_keeps_the_dataset(project, twenty_images):
    dataset = DatasetFactory(project=project)
    ImageFactory.create_batch(4, dataset=dataset)
    for n in range(10):
        ImageFactory(dataset=dataset, source_ref=f"s3://{twenty_images}/photos/{n:02}.png")
    job = start_import(project, twenty_images, dataset=dataset)

    s3_folder.import_list(job_id=job.pk)

    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.UPDATE_FAILED
    assert dataset.status_message.startswith(too_many(23))
    assert dataset.images.count() == 14


@override_settings(IMAGES_PER_DATASET=6)
def test_a_manifest_with_more_images_than_the_dataset_may_hold_fails_before_importing_any(project, make_bucket, s3):
    from .test_manifest_import import classification, put_manifest

    bucket = make_bucket("images")
    seed(s3, bucket, {f"gt/{n}.png": png_bytes(64, 64) for n in range(7)})
    location = put_manifest(s3, bucket, [classification(f"s3://{bucket}/gt/{n}.png", "a") for n in range(7)])
    dataset = manifest_import.dataset_create_from_manifest(project=project, name="gt", location=location)
    job = dataset.import_jobs.get()

    assert manifest_import.manifest_read(job_id=job.pk) is False

    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_FAILED
    assert dataset.status_message == f"{TOO_MANY} No image was imported."
    assert not job.chunks.exists() and not dataset.images.exists()


@override_settings(IMAGES_PER_DATASET=3)
def test_an_upload_that_would_cross_the_limit_is_refused_and_stores_nothing(user, project):
    dataset = DatasetFactory(project=project)
    ImageFactory.create_batch(2, dataset=dataset)
    files = [SimpleUploadedFile(f"{n}.png", png_bytes(64, 64), content_type="image/png") for n in range(2)]

    with pytest.raises(DatasetError, match="a maximum of 3 images"):
        uploads.images_upload(dataset=dataset, user=user, files=files)

    assert dataset.images.count() == 2
    assert uploads.images_upload(dataset=dataset, user=user, files=files[:1]).added == 1


@override_settings(IMAGES_PER_DATASET=2)
def test_a_copy_of_a_dataset_larger_than_the_limit_fails(user, project):
    source = DatasetFactory(project=project, name="big")
    ImageFactory.create_batch(3, dataset=source)
    copy = copy_import.dataset_create_copy(project=project, name="big-copy", source=source, user=user)

    assert copy_import.dataset_copy(job_id=copy.import_jobs.get().pk) is False

    copy.refresh_from_db()
    assert (copy.status, copy.status_message) == (
        Dataset.Status.CREATE_FAILED,
        too_many(2),
    )
    assert not copy.images.exists()


@override_settings(IMPORT_SKIPPED_LISTED=5)
def test_non_image_keys_past_the_cap_are_counted_but_not_listed(project, s3, make_bucket):
    bucket = make_bucket("mixed")
    seed(s3, bucket, {f"photos/notes-{n:02}.txt": b"notes" for n in range(12)})
    seed(s3, bucket, {"photos/image.png": png_bytes(64, 64)})
    job = start_import(project, bucket)

    s3_folder.import_list(job_id=job.pk)
    for chunk in job.chunks.filter(done=False):
        s3_folder.import_chunk(chunk_id=chunk.pk)
    assert s3_folder.import_finish_if_done(job_id=job.pk) is True

    job.refresh_from_db()
    assert (job.found, job.skipped) == (1, 12)
    assert list(job.report_items.order_by("key").values_list("key", flat=True)) == [
        f"photos/notes-{n:02}.txt" for n in range(5)
    ]
    assert job.message == "1 imported, 12 skipped (not images); the first 5 are listed in the report."


@override_settings(IMPORT_SKIPPED_LISTED=5)
def test_a_replayed_listing_lists_no_more_non_image_keys_than_the_cap(project, s3, make_bucket):
    bucket = make_bucket("mixed")
    seed(s3, bucket, {f"photos/notes-{n:02}.txt": b"notes" for n in range(12)})
    job = start_import(project, bucket)
    s3_folder.import_list(job_id=job.pk)
    ImportJob.objects.filter(pk=job.pk).update(listing_done=False)

    s3_folder.import_list(job_id=job.pk)

    job.refresh_from_db()
    assert (job.skipped, job.report_items.count()) == (12, 5)
