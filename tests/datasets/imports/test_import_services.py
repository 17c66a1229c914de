"""The import's steps run in this process against moto, for what the worker cannot be made to do on cue:
a listing replayed after a crash, an object deleted between listing and reading, S3 refusing mid-import."""

import pytest

from customlabels import s3 as s3_module
from customlabels.s3 import parse_location
from datasets import imports
from datasets.errors import DatasetError
from datasets.imports import jobs, s3_folder
from datasets.models import Dataset, Image, ImageLabel, ImportJob
from datasets.tasks import import_list_task
from tests.factories import DatasetFactory

from ..support import ALEXA_IMAGES, png_bytes, seed

pytestmark = pytest.mark.django_db


def start_import(project, bucket: str, folder: str = "alexa-devices/") -> tuple[Dataset, ImportJob]:
    """Create the dataset as the form does; the queued task never runs (the test transaction never commits)."""
    dataset = s3_folder.dataset_create_from_s3(
        project=project, name="alexa-devices", location=parse_location(f"s3://{bucket}/{folder}"), auto_label=True
    )
    return dataset, dataset.import_jobs.get()


def run_chunks(job: ImportJob) -> list[int]:
    image_ids = []
    for chunk in job.chunks.order_by("seq"):
        image_ids += s3_folder.import_chunk(chunk_id=chunk.pk)
    return image_ids


def test_a_listing_replayed_after_a_crash_stores_and_counts_each_page_once(
    console_bucket, project, source_bucket, monkeypatch
):
    monkeypatch.setattr(s3_module, "LIST_PAGE_SIZE", 4)
    dataset, job = start_import(project, source_bucket)

    s3_folder.import_list(job_id=job.pk)
    job.refresh_from_db()
    first = (job.found, job.skipped, job.chunks_total, job.chunks.count())
    assert first == (len(ALEXA_IMAGES), 1, 4, 4)
    s3_folder.import_chunk(chunk_id=job.chunks.get(seq=1).pk)
    # The worker died after storing the pages but before recording that the listing was done.
    ImportJob.objects.filter(pk=job.pk).update(listing_done=False)
    s3_folder.import_list(job_id=job.pk)
    run_chunks(job)
    run_chunks(job)

    job.refresh_from_db()
    assert (job.found, job.skipped, job.chunks_total, job.chunks.count()) == first
    assert job.report_items.count() == 1
    assert dataset.images.count() == len(ALEXA_IMAGES)
    assert ImageLabel.objects.filter(image__dataset=dataset).count() == sum(
        1 for obj in ALEXA_IMAGES.values() if obj.label
    )
    assert s3_folder.import_finish_if_done(job_id=job.pk) is True
    assert s3_folder.import_finish_if_done(job_id=job.pk) is False
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_COMPLETE


def test_an_image_deleted_between_listing_and_reading_is_an_invalid_image(console_bucket, project, source_bucket, s3):
    _, job = start_import(project, source_bucket)
    s3_folder.import_list(job_id=job.pk)
    s3.delete_object(Bucket=source_bucket, Key="alexa-devices/echo/echo-image-1.png")

    run_chunks(job)

    image = Image.objects.get(source_ref=f"s3://{source_bucket}/alexa-devices/echo/echo-image-1.png")
    assert image.error_code == "ERROR_INVALID_IMAGE"
    assert image.error_message == "The image is invalid: the object no longer exists in S3."


def test_a_bucket_deleted_before_listing_fails_the_dataset_through_the_task(console_bucket, project, source_bucket, s3):
    dataset, job = start_import(project, source_bucket)
    keys = [obj["Key"] for obj in s3.list_objects_v2(Bucket=source_bucket)["Contents"]]
    s3.delete_objects(Bucket=source_bucket, Delete={"Objects": [{"Key": key} for key in keys]})
    s3.delete_bucket(Bucket=source_bucket)

    result = import_list_task.apply(args=[job.pk])

    assert isinstance(result.result, s3_module.S3BucketNotFound)
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_FAILED
    assert dataset.status_message == f"The bucket “{source_bucket}” does not exist."
    assert dataset.status_message_code == Dataset.StatusMessageCode.CLIENT_ERROR


def test_access_denied_while_listing_fails_the_dataset_naming_the_permissions(console_bucket, project, denied_bucket):
    # The form check passed earlier; the bucket policy changed before the worker listed the folder.
    dataset, job = start_import(project, denied_bucket)

    import_list_task.apply(args=[job.pk])

    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_FAILED
    assert dataset.status_message == (
        f"Access to the bucket “{denied_bucket}” was denied. The console needs the s3:ListBucket and "
        "s3:GetObject permissions on it."
    )
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED


def test_adding_images_while_none_are_new_completes_the_update_with_nothing_added(
    console_bucket, project, source_bucket, s3
):
    dataset, job = start_import(project, source_bucket)
    s3_folder.import_list(job_id=job.pk)
    run_chunks(job)
    s3_folder.import_finish_if_done(job_id=job.pk)
    seed(s3, source_bucket, {"alexa-devices/more-notes.txt": b"still not an image"})

    again = s3_folder.dataset_add_images_from_s3(
        dataset=dataset, location=parse_location(f"s3://{source_bucket}/alexa-devices"), auto_label=True
    )
    s3_folder.import_list(job_id=again.pk)

    dataset.refresh_from_db()
    again.refresh_from_db()
    assert dataset.status == Dataset.Status.UPDATE_COMPLETE
    assert dataset.status_message == f"0 images were successfully added from s3://{source_bucket}/alexa-devices/."
    assert (again.found, again.already_present, again.skipped) == (len(ALEXA_IMAGES), len(ALEXA_IMAGES), 2)
    assert dataset.images.count() == len(ALEXA_IMAGES)


def test_a_folder_name_too_long_for_a_label_flags_its_images_and_the_import_goes_on(
    console_bucket, project, s3, make_bucket
):
    bucket = make_bucket("long")
    long_name = "a" * 300
    seed(
        s3,
        bucket,
        {
            f"alexa-devices/{long_name}/echo-image-1.png": png_bytes(100, 100),
            "alexa-devices/echo/echo-image-2.png": png_bytes(100, 100),
        },
    )
    dataset, job = start_import(project, bucket)

    s3_folder.import_list(job_id=job.pk)
    run_chunks(job)
    s3_folder.import_finish_if_done(job_id=job.pk)

    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_COMPLETE
    flagged = dataset.images.get(file_name="echo-image-1.png")
    assert flagged.error_code == "ERROR_INVALID_LABEL_NAME_LENGTH"
    assert not flagged.labels.exists()
    assert [label.name for label in dataset.images.get(file_name="echo-image-2.png").labels.all()] == ["echo"]


def test_a_large_import_refreshes_the_planner_statistics_and_a_small_one_does_not(project):
    from django.db import connection

    from datasets.models import ImportJob
    from tests.factories import DatasetFactory

    dataset = DatasetFactory(project=project)
    small = ImportJob.objects.create(dataset=dataset, source=ImportJob.Source.S3_FOLDER)
    large = ImportJob.objects.create(dataset=dataset, source=ImportJob.Source.S3_FOLDER)
    Image.objects.bulk_create(
        [
            Image(dataset=dataset, import_job=large, source_ref=f"s3://b/{i}.jpg", file_name=f"{i}.jpg")
            for i in range(5000)
        ]
        + [
            Image(dataset=dataset, import_job=small, source_ref=f"s3://b/s{i}.jpg", file_name=f"s{i}.jpg")
            for i in range(10)
        ]
    )

    def planner_rows() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [Image._meta.db_table])
            return cursor.fetchone()[0]

    assert jobs.import_statistics_refresh(job_id=small.pk) is False
    assert planner_rows() < 5000
    assert jobs.import_statistics_refresh(job_id=large.pk) is True
    assert planner_rows() == 5010


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "words"),
    [
        (Dataset.Status.UPDATE_IN_PROGRESS, "being created or updated"),
        (Dataset.Status.CREATE_FAILED, "could not be created"),
    ],
)
def test_adding_images_to_a_dataset_that_cannot_take_them_is_refused_before_s3_is_asked(s3, user, status, words):
    dataset = DatasetFactory(project__owner=user, status=status)
    missing = s3_module.parse_location("s3://no-such-bucket-for-this-test/photos/")

    for source, where in ((imports.S3, {"s3_location": missing}), (imports.MANIFEST, {"manifest_location": None})):
        with pytest.raises(DatasetError, match=words):
            imports.images_add(dataset=dataset, user=user, source=source, **where)
    assert dataset.import_jobs.count() == 0
