"""The Create dataset page's four image locations (spec §2.3), through Django's test client: each
creates its kind of dataset, and each refuses what it can't use at its own field, creating nothing."""

import json

import pytest
from django.urls import reverse

from datasets.models import BoundingBox, Dataset, Image, ImportJob
from tests.factories import BoundingBoxFactory, DatasetFactory, ImageFactory, ImageLabelFactory, LabelFactory

from ..dom import control_for, parse
from ..support import png_bytes, seed

pytestmark = pytest.mark.django_db

SOURCES = {
    "s3": "Import images from S3 bucket",
    "upload": "Upload images from your computer",
    "manifest": "Import images labeled by SageMaker Ground Truth",
    "copy": "Copy an existing Amazon Rekognition Custom Labels dataset",
}


def create_url(project) -> str:
    return reverse("datasets:create", args=[project.pk])


def post(client, project, **fields):
    return client.post(create_url(project), {"name": "photos", **fields})


def errors_at(response, field: str) -> str:
    assert response.status_code == 200, response.status_code
    control = parse(response.content.decode()).by_id(f"id_{field}")
    assert control is not None, field
    return " ".join(p.text() for p in control.parent.find_all("p", cls="error"))


def test_the_page_offers_the_four_image_locations_each_with_its_fields(client_user, console_bucket, project):
    form = parse(client_user.get(create_url(project)).content.decode())

    for value, text in SOURCES.items():
        radio = control_for(form, text)
        assert (radio.attrs["type"], radio.attrs["name"], radio.attrs["value"]) == ("radio", "image_location", value)
    assert control_for(form, ".manifest file location").attrs["name"] == "manifest_location"
    assert control_for(form, "S3 folder location").attrs["name"] == "s3_location"
    assert "You can upload up to 30 images at a time." in form.text()
    assert "You have no dataset to copy yet." in form.text()


def test_upload_creates_an_empty_dataset_and_opens_it_in_labeling_mode_ready_to_add_images(
    client_user, console_bucket, project
):
    response = post(client_user, project, image_location="upload")

    dataset = Dataset.objects.get(project=project, name="photos")
    assert response.status_code == 302
    assert response.url == reverse("datasets:detail", args=[dataset.pk]) + "?mode=label&add_images=1"
    assert dataset.status == Dataset.Status.CREATE_COMPLETE
    assert not dataset.images.exists()
    gallery = client_user.get(response.url).content.decode()
    assert "Add images" in gallery


def test_the_chosen_location_alone_is_required(client_user, console_bucket, project):
    manifest = post(client_user, project, image_location="manifest", s3_location="")
    copy = post(client_user, project, image_location="copy")
    s3 = post(client_user, project, image_location="s3", manifest_location="s3://b/x.manifest")

    assert errors_at(manifest, "manifest_location")
    assert "Choose the dataset to copy." in errors_at(copy, "source_dataset")
    assert "Enter the S3 folder location" in errors_at(s3, "s3_location")
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("", "manifest"),
        ("http://example.com/x.manifest", "s3://"),
        ("s3://no-such-bucket-77a1/out/output.manifest", "does not exist"),
    ],
)
def test_a_bad_manifest_location_is_refused_at_its_field_and_creates_nothing(
    client_user, console_bucket, project, location, words, grant
):
    grant("no-such-bucket-77a1")  # inside a granted location, the console's own messages
    response = post(client_user, project, image_location="manifest", manifest_location=location)

    assert words in errors_at(response, "manifest_location")
    assert not Dataset.objects.exists()


def test_a_manifest_that_is_not_in_the_bucket_is_refused_with_the_consoles_message(
    client_user, console_bucket, project, s3, make_bucket
):
    bucket = make_bucket("gt")
    response = post(
        client_user, project, image_location="manifest", manifest_location=f"s3://{bucket}/out/missing.manifest"
    )

    assert "The manifest file extension or contents are invalid." in errors_at(response, "manifest_location")
    assert not Dataset.objects.exists()


def test_a_manifest_location_creates_the_dataset_and_queues_its_import(
    client_user, console_bucket, project, s3, make_bucket, django_capture_on_commit_callbacks
):
    bucket = make_bucket("gt")
    seed(s3, bucket, {"img/a.png": png_bytes(100, 100)})
    line = {"source-ref": f"s3://{bucket}/img/a.png", "cat": 1, "cat-metadata": {"class-name": "cat", "confidence": 1, "type": "groundtruth/image-classification", "job-name": "j", "human-annotated": "yes", "creation-date": "2026-11-25T00:00:00.000Z"}}  # fmt: skip
    seed(s3, bucket, {"out/output.manifest": (json.dumps(line) + "\n").encode()})

    with django_capture_on_commit_callbacks() as callbacks:
        response = post(
            client_user, project, image_location="manifest", manifest_location=f"s3://{bucket}/out/output.manifest"
        )

    dataset = Dataset.objects.get(project=project)
    assert response.status_code == 302 and response.url == reverse("datasets:detail", args=[dataset.pk])
    assert dataset.status == Dataset.Status.CREATE_IN_PROGRESS
    job = dataset.import_jobs.get()
    assert (job.source, job.parameters["bucket"], job.parameters["key"]) == (
        ImportJob.Source.MANIFEST,
        bucket,
        "out/output.manifest",
    )
    assert len(callbacks) == 1


def test_copy_offers_only_the_users_own_settled_datasets(client_user, console_bucket, project, user, other_user):
    mine = DatasetFactory(project=project, name="mine")
    DatasetFactory(project=project, name="importing", status=Dataset.Status.CREATE_IN_PROGRESS)
    DatasetFactory(project__owner=other_user, name="theirs")

    form = parse(client_user.get(create_url(project)).content.decode())
    options = [o.text() for o in control_for(form, "Dataset").find_all("option")]

    assert options == ["Choose a dataset", f"mine (project {project.name})"]
    refused = post(client_user, project, image_location="copy", source_dataset=str(mine.pk + 999))
    assert errors_at(refused, "source_dataset")
    assert Dataset.objects.count() == 3


def test_copy_creates_the_dataset_from_the_chosen_one(
    client_user, console_bucket, project, django_capture_on_commit_callbacks
):
    source = DatasetFactory(project=project, name="source")
    label = LabelFactory(dataset=source, name="cat")
    image = ImageFactory(dataset=source, is_labeled=True)
    ImageLabelFactory(image=image, label=label)
    BoundingBoxFactory(image=image, label=label)

    with django_capture_on_commit_callbacks(execute=False):
        response = post(client_user, project, image_location="copy", source_dataset=str(source.pk))

    copy = Dataset.objects.get(project=project, name="photos")
    assert response.status_code == 302 and response.url == reverse("datasets:detail", args=[copy.pk])
    assert copy.import_jobs.get().source == ImportJob.Source.COPY
    assert Image.objects.filter(dataset=source).count() == 1 and BoundingBox.objects.count() == 1
