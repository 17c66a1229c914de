"""The S3 folder import end to end: the create form, the real Celery worker, moto over HTTP, thumbnails."""

import io

import pytest
from django.db import transaction
from django.urls import reverse
from PIL import Image as PILImage

from customlabels.s3 import parse_location
from datasets.imports import s3_folder
from datasets.models import Dataset, Image, ImageLabel, ImportJob, Label
from datasets.tasks import import_chunk_task, import_list_task
from projects.s3_access import UserS3

from ..support import ALEXA_IMAGES, INVALID, jpeg_bytes, png_bytes, seed, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def create_dataset(client, project, location: str, *, name: str = "alexa-devices", auto_label: bool = True) -> Dataset:
    """Submit the Create dataset form as a person would and return the dataset it made."""
    form = {"name": name, "image_location": "s3", "s3_location": location}
    if auto_label:
        form["auto_label"] = "on"
    response = client.post(reverse("datasets:create", args=[project.pk]), form)
    assert response.status_code == 302, response.content.decode()
    dataset = Dataset.objects.get(project=project, name=name)
    assert response.url == reverse("datasets:detail", args=[dataset.pk])
    return dataset


def settled(dataset: Dataset, *statuses: str) -> Dataset:
    """Wait until the worker brings the dataset to one of `statuses` and every valid image has its thumbnail."""

    def done():
        dataset.refresh_from_db()
        if dataset.status not in statuses:
            return False
        return not Image.objects.filter(dataset=dataset, needs_thumbnail=True).exists()

    wait_until(done, timeout=60, what=f"{dataset.name} to reach {' or '.join(statuses)} with its thumbnails")
    return dataset


def labels_by_file(dataset: Dataset) -> dict[str, set[str]]:
    return {image.file_name: {label.name for label in image.labels.all()} for image in dataset.images.all()}


def source_ref(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def test_importing_the_alexa_devices_folder_labels_measures_and_checks_every_image(
    celery_worker_proc, client_user, console_bucket, project, source_bucket, s3
):
    dataset = create_dataset(client_user, project, f"s3://{source_bucket}/alexa-devices/")
    assert dataset.status == Dataset.Status.CREATE_IN_PROGRESS
    settled(dataset, Dataset.Status.CREATE_COMPLETE)

    assert dataset.status_message == f"The dataset was successfully created from s3://{source_bucket}/alexa-devices/."
    assert dataset.status_message_code == Dataset.StatusMessageCode.SUCCESS

    images = {image.source_ref: image for image in dataset.images.prefetch_related("labels")}
    assert set(images) == {source_ref(source_bucket, key) for key in ALEXA_IMAGES}
    for key, expected in ALEXA_IMAGES.items():
        image = images[source_ref(source_bucket, key)]
        assert image.file_name == key.rsplit("/", 1)[-1]
        assert {lb.name for lb in image.labels.all()} == ({expected.label} if expected.label else set()), key
        assert image.is_labeled is bool(expected.label), key
        assert (image.width, image.height, image.format) == (expected.width, expected.height, expected.format), key
        assert image.size == len(expected.body), key
        assert image.error_code == expected.error_code, key
        assert expected.error_words in image.error_message, key
        if expected.error_code:
            assert image.thumbnail_key == "", key

    truncated = images[source_ref(source_bucket, "alexa-devices/echo/truncated-echo.jpg")]
    assert truncated.error_code == INVALID

    assert not Image.objects.filter(source_ref__contains="alexa-devices-2/").exists()
    assert set(Label.objects.filter(dataset=dataset).values_list("name", flat=True)) == {"echo", "echo-dot"}

    job = ImportJob.objects.get(dataset=dataset)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.found, job.skipped, job.already_present) == (len(ALEXA_IMAGES), 1, 0)
    assert job.chunks_done == job.chunks_total == 1
    assert list(job.report_items.values_list("key", "reason")) == [
        ("alexa-devices/notes.txt", "Not a .jpg, .jpeg or .png file")
    ]
    assert job.message == f"{len(ALEXA_IMAGES)} imported, 1 skipped (not images)."
    assert job.thumbnails_error == ""


def test_valid_images_get_a_thumbnail_of_at_most_256_pixels_in_the_console_bucket(
    celery_worker_proc, client_user, console_bucket, project, source_bucket, s3
):
    dataset = settled(
        create_dataset(client_user, project, f"s3://{source_bucket}/alexa-devices"), Dataset.Status.CREATE_COMPLETE
    )

    valid = [key for key, expected in ALEXA_IMAGES.items() if not expected.error_code]
    thumbnails = dict(Image.objects.filter(dataset=dataset, error_code="").values_list("source_ref", "thumbnail_key"))
    assert set(thumbnails) == {source_ref(source_bucket, key) for key in valid}
    for key in valid:
        width, height = ALEXA_IMAGES[key].width, ALEXA_IMAGES[key].height
        thumbnail_key = thumbnails[source_ref(source_bucket, key)]
        assert thumbnail_key
        head = s3.head_object(Bucket=console_bucket.name, Key=thumbnail_key)
        assert head["ContentType"] == "image/jpeg"
        body = s3.get_object(Bucket=console_bucket.name, Key=thumbnail_key)["Body"].read()
        with PILImage.open(io.BytesIO(body)) as thumb:
            assert thumb.format == "JPEG"
            assert max(thumb.size) <= 256, key
            if max(width, height) > 256:
                assert max(thumb.size) == 256, key
                assert thumb.size[0] / thumb.size[1] == pytest.approx(width / height, rel=0.02), key
            else:
                assert thumb.size == (width, height), key


def test_without_automatic_labeling_every_image_is_imported_unlabeled(
    celery_worker_proc, client_user, console_bucket, project, source_bucket
):
    dataset = settled(
        create_dataset(client_user, project, f"s3://{source_bucket}/alexa-devices/", auto_label=False),
        Dataset.Status.CREATE_COMPLETE,
    )

    assert dataset.images.count() == len(ALEXA_IMAGES)
    assert not dataset.labels.exists()
    assert not ImageLabel.objects.filter(image__dataset=dataset).exists()
    assert not dataset.images.filter(is_labeled=True).exists()


def test_a_deeper_location_labels_by_its_own_child_folders_and_leaves_the_rest_out(
    celery_worker_proc, client_user, console_bucket, project, source_bucket
):
    dataset = settled(
        create_dataset(client_user, project, f"s3://{source_bucket}/alexa-devices/echo-dot"),
        Dataset.Status.CREATE_COMPLETE,
    )

    assert labels_by_file(dataset) == {
        "white-echo-dot-image-1.png": {"white-echo-dot"},
        "white-echo-dot-image-2.jpeg": {"white-echo-dot"},
        "echo-dot-image-1.png": set(),
        "echo-dot-image-2.JPG": set(),
        "banner.png": set(),
    }
    assert set(dataset.labels.values_list("name", flat=True)) == {"white-echo-dot"}
    assert (
        dataset.status_message
        == f"The dataset was successfully created from s3://{source_bucket}/alexa-devices/echo-dot/."
    )


def test_adding_images_from_s3_imports_only_the_keys_the_dataset_does_not_hold(
    celery_worker_proc, client_user, console_bucket, project, source_bucket, s3
):
    location = f"s3://{source_bucket}/alexa-devices/"
    dataset = settled(create_dataset(client_user, project, location), Dataset.Status.CREATE_COMPLETE)
    first_ids = set(dataset.images.values_list("id", flat=True))
    seed(
        s3,
        source_bucket,
        {
            "alexa-devices/echo/echo-image-3.png": png_bytes(320, 240),
            "alexa-devices/echo-show/echo-show-image-1.png": png_bytes(500, 400),
        },
    )

    response = client_user.post(
        reverse("datasets:add_images", args=[dataset.pk]), {"s3_location": location, "auto_label": "on"}
    )
    assert response.status_code == 302, response.content.decode()
    assert response.url == reverse("datasets:detail", args=[dataset.pk])
    dataset.refresh_from_db()
    assert dataset.status in (Dataset.Status.UPDATE_IN_PROGRESS, Dataset.Status.UPDATE_COMPLETE)
    settled(dataset, Dataset.Status.UPDATE_COMPLETE)

    assert dataset.status_message == f"2 images were successfully added from {location}."
    assert dataset.status_message_code == Dataset.StatusMessageCode.SUCCESS
    assert dataset.images.count() == len(ALEXA_IMAGES) + 2
    assert set(dataset.images.values_list("id", flat=True)) >= first_ids
    new = dataset.images.exclude(id__in=first_ids).prefetch_related("labels")
    assert {image.file_name: {lb.name for lb in image.labels.all()} for image in new} == {
        "echo-image-3.png": {"echo"},
        "echo-show-image-1.png": {"echo-show"},
    }
    assert all(image.thumbnail_key for image in new)
    assert sorted(dataset.labels.values_list("name", flat=True)) == ["echo", "echo-dot", "echo-show"]
    assert Label.objects.get(dataset=dataset, name="echo").images.count() == 6

    job = dataset.import_jobs.order_by("-id").first()
    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.found, job.already_present, job.skipped, job.images.count()) == (
        len(ALEXA_IMAGES) + 2,
        len(ALEXA_IMAGES),
        1,
        2,
    )


def test_keys_with_spaces_accents_and_url_characters_are_read_labeled_and_thumbnailed(
    celery_worker_proc, client_user, console_bucket, project, s3, make_bucket
):
    bucket = make_bucket("accents")
    seed(
        s3,
        bucket,
        {
            "appareils/échos dorés/image 1.png": png_bytes(300, 300),
            "appareils/échos dorés/nuit/ümlaut+plus%20 #2.JPEG": jpeg_bytes(400, 300),
            "appareils/boîte/日本語.jpg": jpeg_bytes(200, 100),
        },
    )

    dataset = settled(create_dataset(client_user, project, f"s3://{bucket}/appareils"), Dataset.Status.CREATE_COMPLETE)

    assert labels_by_file(dataset) == {
        "image 1.png": {"échos dorés"},
        "ümlaut+plus%20 #2.JPEG": {"échos dorés"},
        "日本語.jpg": {"boîte"},
    }
    assert set(dataset.images.values_list("source_ref", flat=True)) == {
        f"s3://{bucket}/appareils/échos dorés/image 1.png",
        f"s3://{bucket}/appareils/échos dorés/nuit/ümlaut+plus%20 #2.JPEG",
        f"s3://{bucket}/appareils/boîte/日本語.jpg",
    }
    assert set(dataset.images.values_list("width", "height", "error_code")) == {
        (300, 300, ""),
        (400, 300, ""),
        (200, 100, ""),
    }
    for thumbnail_key in dataset.images.values_list("thumbnail_key", flat=True):
        assert s3.head_object(Bucket=console_bucket.name, Key=thumbnail_key)["ContentLength"] > 0


def snapshot(dataset: Dataset, job: ImportJob) -> dict:
    job.refresh_from_db()
    return {
        "images": sorted(dataset.images.values_list("source_ref", flat=True)),
        "image_labels": ImageLabel.objects.filter(image__dataset=dataset).count(),
        "labels": sorted(dataset.labels.values_list("name", flat=True)),
        "chunks": list(job.chunks.values_list("seq", "done")),
        "report": list(job.report_items.values_list("key", flat=True)),
        "counts": (job.found, job.skipped, job.already_present, job.chunks_total, job.chunks_done, job.status),
    }


def test_running_an_import_step_again_creates_no_duplicates(
    celery_worker_proc, client_user, console_bucket, project, source_bucket
):
    dataset = settled(
        create_dataset(client_user, project, f"s3://{source_bucket}/alexa-devices/"), Dataset.Status.CREATE_COMPLETE
    )
    job = dataset.import_jobs.get()
    before = snapshot(dataset, job)

    for chunk in job.chunks.all():
        assert s3_folder.import_chunk(chunk_id=chunk.pk) == []
        import_chunk_task.apply(args=[chunk.pk]).get()
    s3_folder.import_list(job_id=job.pk)
    import_list_task.apply(args=[job.pk]).get()

    assert snapshot(dataset, job) == before
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_COMPLETE


def test_a_bucket_deleted_before_the_worker_lists_it_fails_the_dataset_naming_the_bucket(
    celery_worker_proc, console_bucket, project, source_bucket, s3
):
    location = parse_location(f"s3://{source_bucket}/alexa-devices/")
    s3_folder.s3_folder_check(location=location, reader=UserS3(project.owner_id))
    with transaction.atomic():
        # The import is queued when this commits, so the bucket is gone before the worker can list it.
        dataset = s3_folder.dataset_create_from_s3(project=project, name="gone", location=location, auto_label=True)
        keys = [obj["Key"] for obj in s3.list_objects_v2(Bucket=source_bucket)["Contents"]]
        s3.delete_objects(Bucket=source_bucket, Delete={"Objects": [{"Key": key} for key in keys]})
        s3.delete_bucket(Bucket=source_bucket)

    settled(dataset, Dataset.Status.CREATE_FAILED)
    assert dataset.status_message == f"The bucket “{source_bucket}” does not exist."
    assert dataset.status_message_code == Dataset.StatusMessageCode.CLIENT_ERROR
    job = dataset.import_jobs.get()
    assert job.status == ImportJob.Status.FAILED
    assert source_bucket in job.message
    assert not dataset.images.exists()
