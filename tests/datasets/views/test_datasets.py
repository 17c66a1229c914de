"""The dataset pages through Django's test client: the create form's S3 checks, add images, the image page,
progress, access. The gallery's own tests are in test_gallery.py."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError
from django.urls import reverse

from customlabels import s3 as s3_module
from datasets.models import Dataset, Image, ImportJob, ImportReportItem
from tests.factories import DatasetFactory, ImageFactory, ImportJobFactory

from ..dom import control_for, parse
from ..support import HTMX_GALLERY, detail_url, gallery_of, numbers, page, page_html, png_bytes, seed

pytestmark = pytest.mark.django_db


def field_errors(response, field_id: str) -> list[str]:
    """The error messages shown inside the form field whose input has this id."""
    node = page(response).by_id(field_id)
    assert node is not None, f"No form control with id {field_id} on the page"
    while node is not None and "field" not in node.classes:
        node = node.parent
    assert node is not None, f"The control {field_id} is not inside a form field"
    return [p.text() for p in node.find_all("p", cls="error")]


def create_url(project) -> str:
    return reverse("datasets:create", args=[project.pk])


def post_create(client, project, location: str, *, name: str = "alexa-devices"):
    form = {"name": name, "image_location": "s3", "s3_location": location, "auto_label": "on"}
    return client.post(create_url(project), form)


# --- The Create dataset form -------------------------------------------------------------------


def test_the_create_form_shows_the_console_fields_with_their_labels(client_user, console_bucket, project):
    form = page(client_user.get(create_url(project)))

    assert control_for(form, "Dataset name").attrs["name"] == "name"
    source = control_for(form, "Import images from S3 bucket")
    assert (source.attrs["type"], source.attrs["name"], source.attrs["value"]) == ("radio", "image_location", "s3")
    assert "checked" in source.attrs
    location = control_for(form, "S3 folder location")
    assert location.attrs["name"] == "s3_location"
    # The example names a bucket the user may import from (the project owner's grant), not the console bucket.
    assert location.attrs["placeholder"] == "s3://source-bucket/alexa-devices/"
    auto = control_for(form, "Automatically attach a label to my images based on the folder they're stored in")
    assert (auto.attrs["type"], auto.attrs["name"]) == ("checkbox", "auto_label")
    assert form.find("main").find("button", type="submit").text() == "Submit"


def test_a_valid_submission_creates_the_dataset_and_queues_its_import(
    client_user, console_bucket, project, source_bucket, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_create(client_user, project, f"s3://{source_bucket}/alexa-devices")

    dataset = Dataset.objects.get(project=project)
    assert response.status_code == 302
    assert response.url == detail_url(dataset)
    assert (dataset.name, dataset.status) == ("alexa-devices", Dataset.Status.CREATE_IN_PROGRESS)
    job = dataset.import_jobs.get()
    assert job.parameters == {"bucket": source_bucket, "prefix": "alexa-devices/", "auto_label": True}
    assert job.status == ImportJob.Status.QUEUED
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("http://x/y", "The S3 folder location must start with s3:// or a bucket name."),
        ("s3://bucket/../x", "The S3 folder location must not contain empty, “.” or “..” folders."),
        ("", "Enter the S3 folder location of your images."),
        ("s3://Not_A_Bucket/x", "“Not_A_Bucket” is not a valid bucket name"),
    ],
)
def test_a_malformed_location_is_refused_at_the_field(client_user, console_bucket, project, location, message):
    response = post_create(client_user, project, location)

    assert any(message in error for error in field_errors(response, "id_s3_location"))
    assert not Dataset.objects.exists()


def test_a_missing_bucket_is_refused_at_the_field(client_user, console_bucket, project, grant):
    grant("no-such-bucket-4f1c")  # granted, so the console's own message: it does not exist
    response = post_create(client_user, project, "s3://no-such-bucket-4f1c/alexa-devices/")

    assert field_errors(response, "id_s3_location") == ["The bucket “no-such-bucket-4f1c” does not exist."]
    assert not Dataset.objects.exists()
    assert not ImportJob.objects.exists()


def test_a_folder_with_no_images_is_refused_at_the_field(client_user, console_bucket, project, s3, make_bucket):
    bucket = make_bucket("notes")
    seed(
        s3,
        bucket,
        {"alexa-devices/notes.txt": b"notes", "alexa-devices/echo/readme.md": b"# echo", "alexa-devices/": b""},
    )

    response = post_create(client_user, project, f"s3://{bucket}/alexa-devices/")

    assert field_errors(response, "id_s3_location") == [
        f"The folder s3://{bucket}/alexa-devices/ holds no images. The console imports .jpg, .jpeg and .png files."
    ]
    assert not Dataset.objects.exists()


def test_an_empty_folder_is_refused_at_the_field(client_user, console_bucket, project, source_bucket):
    response = post_create(client_user, project, f"s3://{source_bucket}/no-such-folder")

    assert field_errors(response, "id_s3_location") == [
        f"The folder s3://{source_bucket}/no-such-folder/ is empty or does not exist."
    ]
    assert not Dataset.objects.exists()


def test_a_folder_is_not_matched_by_a_sibling_folder_that_starts_with_its_name(
    client_user, console_bucket, project, s3, make_bucket
):
    bucket = make_bucket("siblings")
    seed(s3, bucket, {"alexa-devices-2/echo/echo-image-1.png": png_bytes(100, 100)})

    response = post_create(client_user, project, f"s3://{bucket}/alexa-devices")

    assert field_errors(response, "id_s3_location") == [
        f"The folder s3://{bucket}/alexa-devices/ is empty or does not exist."
    ]
    assert not Dataset.objects.exists()


def test_a_duplicate_dataset_name_is_refused_at_the_field(client_user, console_bucket, project, source_bucket):
    DatasetFactory(project=project, name="alexa-devices")

    response = post_create(client_user, project, f"s3://{source_bucket}/alexa-devices/")

    assert field_errors(response, "id_name") == ["A dataset named “alexa-devices” already exists in this project."]
    assert Dataset.objects.count() == 1
    assert not ImportJob.objects.exists()


def test_an_invalid_dataset_name_is_refused_at_the_field(client_user, console_bucket, project, source_bucket):
    response = post_create(client_user, project, f"s3://{source_bucket}/alexa-devices/", name="my dataset")

    assert field_errors(response, "id_name") == [
        "Use 1–255 characters: letters, digits, underscores (_), periods (.) and hyphens (-). No spaces."
    ]
    assert not Dataset.objects.exists()


def test_a_bucket_the_console_may_not_list_is_refused_naming_the_permissions(
    client_user, console_bucket, project, denied_bucket
):
    response = post_create(client_user, project, f"s3://{denied_bucket}/alexa-devices/")

    assert field_errors(response, "id_s3_location") == [
        f"Access to the bucket “{denied_bucket}” was denied. The console needs the s3:ListBucket and "
        "s3:GetObject permissions on it."
    ]
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(("code", "status"), [("AccessDenied", 403), ("403", 403), ("AllAccessDisabled", 403)])
def test_an_s3_access_denied_answer_becomes_a_message_naming_the_permissions(code, status):
    error = ClientError(
        {"Error": {"Code": code, "Message": "Access Denied"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "ListObjectsV2",
    )

    translated = s3_module._translate(error, bucket="photos")

    assert isinstance(translated, s3_module.S3AccessDenied)
    assert "“photos”" in str(translated)
    assert "s3:ListBucket" in str(translated)
    assert "s3:GetObject" in str(translated)


def test_another_users_project_has_no_create_form(client_other_user, console_bucket, project, source_bucket):
    assert client_other_user.get(create_url(project)).status_code == 404
    assert post_create(client_other_user, project, f"s3://{source_bucket}/alexa-devices/").status_code == 404
    assert not Dataset.objects.exists()


# --- Add images from S3 ----------------------------------------------------------------------


def test_adding_images_to_a_dataset_still_importing_is_refused(client_user, console_bucket, project, source_bucket):
    dataset = DatasetFactory(project=project, status=Dataset.Status.CREATE_IN_PROGRESS)

    response = client_user.post(
        reverse("datasets:add_images", args=[dataset.pk]), {"s3_location": f"s3://{source_bucket}/alexa-devices/"}
    )

    assert "The dataset is being created or updated. Wait until it finishes." in page_html(response)
    assert not ImportJob.objects.exists()


def test_adding_images_checks_the_folder_at_the_field(client_user, console_bucket, project, grant):
    grant("no-such-bucket-4f1c")
    dataset = DatasetFactory(project=project)

    response = client_user.post(
        reverse("datasets:add_images", args=[dataset.pk]), {"s3_location": "s3://no-such-bucket-4f1c/x/"}
    )

    assert field_errors(response, "id_s3_location") == ["The bucket “no-such-bucket-4f1c” does not exist."]
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_COMPLETE


# --- Image details --------------------------------------------------------------------------


def test_the_image_page_shows_labels_size_dimensions_source_and_the_image(client_user, console_bucket, gallery):
    _, _, images = gallery
    image = images["both.png"]

    response = client_user.get(reverse("datasets:image_detail", args=[image.pk]))

    text = page_html(response)
    labels = text.split("<dt>Labels</dt>")[1].split("</dd>")[0]
    assert re.findall(r'<span class="label-name">([^<]+)</span>', labels) == ["echo", "echo-dot"]
    assert "(123,456 bytes)" in text
    assert "<dt>Dimensions</dt><dd>1024 × 768 pixels</dd>" in text
    assert "<dt>Format</dt><dd>PNG</dd>" in text
    assert image.source_ref in [code.text() for code in page(response).find_all("code")]
    url = urlsplit(page(response).find("img", alt="both.png").attrs["src"])
    bucket, key = s3_module.split_uri(image.source_ref)
    assert url.path == f"/{bucket}/{key}"
    query = parse_qs(url.query)
    assert "X-Amz-Signature" in query
    assert 0 < int(query["X-Amz-Expires"][0]) <= 900


def test_the_image_page_shows_the_error(client_user, console_bucket, gallery):
    _, _, images = gallery

    tiny = page_html(client_user.get(reverse("datasets:image_detail", args=[images["tiny.png"].pk])))
    notes = page_html(client_user.get(reverse("datasets:image_detail", args=[images["notes.png"].pk])))

    assert "ERROR_INVALID_IMAGE" in tiny
    assert "it is 32×32 pixels; each side must be 64 to 4096 pixels." in tiny
    assert "the file is not a PNG or JPEG image" in notes
    assert "This file can't be shown as an image." in notes
    assert "<dt>Labels</dt><dd>Unlabeled</dd>" in notes


def test_the_image_page_links_back_to_the_filtered_gallery(client_user, console_bucket, gallery):
    dataset, _, images = gallery

    listing = client_user.get(f"{detail_url(dataset)}?show=errors")
    link = gallery_of(listing).find("a", cls="thumb").attrs["href"]
    breadcrumbs = page(client_user.get(link)).find("nav", cls="breadcrumbs")

    assert breadcrumbs.find("a", href=f"{detail_url(dataset)}?show=errors").text() == dataset.name


# --- Import progress ------------------------------------------------------------------------


@pytest.fixture
def importing(project):
    """A dataset whose import has listed 10 images and 1 other object, and stored 3 of the images
    (which its chunks counted on the job as they went)."""
    dataset = DatasetFactory(project=project, status=Dataset.Status.CREATE_IN_PROGRESS, status_message_code="")
    job = ImportJobFactory(
        dataset=dataset,
        status=ImportJob.Status.IN_PROGRESS,
        listing_done=False,
        found=10,
        skipped=1,
        inserted=3,
        inserted_with_errors=1,
    )
    ImportReportItem.objects.create(job=job, key="alexa-devices/notes.txt", reason="Not a .jpg, .jpeg or .png file")
    ImageFactory(dataset=dataset, import_job=job)
    ImageFactory(dataset=dataset, import_job=job)
    ImageFactory(dataset=dataset, import_job=job, error_code="ERROR_INVALID_IMAGE", error_message="bad")
    return dataset, job


def progress_url(dataset, phase: str) -> str:
    return f"{reverse('datasets:progress', args=[dataset.pk])}?phase={phase}"


def test_a_dataset_being_imported_shows_progress_and_no_gallery_yet(client_user, console_bucket, importing):
    dataset, _ = importing

    text = page_html(client_user.get(detail_url(dataset)))

    assert "Importing images" in text
    assert f'hx-get="{progress_url(dataset, "import")}"' in text
    assert 'id="gallery"' not in text


def test_the_progress_partial_renders_the_counts_while_the_phase_is_unchanged(client_user, console_bucket, importing):
    dataset, _ = importing

    response = client_user.get(progress_url(dataset, "import"), headers={"HX-Request": "true"})

    text = page_html(response)
    assert "HX-Refresh" not in response.headers
    assert "<html" not in text
    top = [node for node in parse(text).children if not isinstance(node, str)]
    assert [(node.tag, node.attrs.get("id")) for node in top] == [("section", "import-progress")]
    # Thumbnails are made once the import ends.
    assert numbers(response, "data-count") == {"found": 10, "imported": 3, "skipped": 1, "errors": 1, "thumbnails": 0}
    assert "alexa-devices/notes.txt" in parse(text).text()
    assert 'aria-valuenow="30"' in text


def test_the_progress_partial_reloads_the_page_when_the_phase_changes(client_user, console_bucket, importing):
    dataset, job = importing

    response = client_user.get(progress_url(dataset, "thumbnails"), headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Refresh"] == "true"

    job.status = ImportJob.Status.SUCCEEDED
    job.save()
    Image.objects.filter(dataset=dataset).update(thumbnail_key=f"users/{dataset.project.owner_id}/thumbnails/x.jpg")
    Dataset.objects.filter(pk=dataset.pk).update(status=Dataset.Status.CREATE_COMPLETE)

    response = client_user.get(progress_url(dataset, "import"), headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Refresh"] == "true"
    finished = client_user.get(progress_url(dataset, "done"), headers={"HX-Request": "true"})
    assert finished.status_code == 200
    assert "hx-trigger" not in page_html(finished)


# --- Other users --------------------------------------------------------------------------


def test_another_users_dataset_pages_are_not_found(client_other_user, console_bucket, gallery, source_bucket):
    dataset, _, images = gallery
    job = ImportJobFactory(dataset=dataset)

    urls = [
        detail_url(dataset),
        f"{detail_url(dataset)}?show=errors",
        reverse("datasets:image_detail", args=[images["both.png"].pk]),
        progress_url(dataset, "import"),
        reverse("datasets:add_images", args=[dataset.pk]),
    ]
    for url in urls:
        assert client_other_user.get(url).status_code == 404, url
        assert client_other_user.get(url, headers=HTMX_GALLERY).status_code == 404, url
    response = client_other_user.post(
        reverse("datasets:add_images", args=[dataset.pk]), {"s3_location": f"s3://{source_bucket}/alexa-devices/"}
    )
    assert response.status_code == 404
    assert list(ImportJob.objects.all()) == [job]
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_COMPLETE


def test_signed_out_visitors_are_sent_to_sign_in(client, console_bucket, gallery):
    dataset, _, _ = gallery

    response = client.get(detail_url(dataset))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_page_read_while_a_worker_finishes_keeps_polling_until_the_dataset_agrees(
    client_user, console_bucket, project
):
    # The dataset row is read before its job: a worker finishing in between leaves a finished job on a
    # dataset still shown in progress. The page must keep polling, or that stale status stays forever.
    dataset = DatasetFactory(project=project, status=Dataset.Status.CREATE_IN_PROGRESS)
    ImportJobFactory(dataset=dataset, status=ImportJob.Status.SUCCEEDED)

    html = page_html(client_user.get(detail_url(dataset)))
    progress = parse(html).by_id("import-progress")

    assert progress is not None and progress.attrs.get("hx-trigger") == "every 2s"
