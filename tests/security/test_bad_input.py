"""Bad input, each with a clear message where the user is, no 500, nothing made or touched.

S3 locations are refused at the Create dataset form's field; bad images end up in the dataset
under "Errors" with a message naming the problem (as the console's non-terminal errors do); names
holding HTML show as text everywhere. Manifests and uploads have their own sweeps
(tests/datasets/test_manifest_import.py, tests/datasets/test_upload.py).
"""

import pytest
from django.urls import reverse

from datasets.models import Dataset, Image
from tests.datasets.dom import parse
from tests.datasets.support import jpeg_bytes, png_bytes, png_declaring, seed, truncated_jpeg_bytes, wait_until
from tests.factories import DatasetFactory, ImageFactory, ImageLabelFactory, LabelFactory, ProjectFactory


@pytest.fixture
def project(user):
    return ProjectFactory(owner=user, name="bad-input")


def create(client, project, location: str):
    form = {"name": "photos", "image_location": "s3", "s3_location": location, "auto_label": "on"}
    return client.post(reverse("datasets:create", args=[project.pk]), form)


def field_error(response, field: str) -> str:
    assert response.status_code == 200, response.status_code
    control = parse(response.content.decode()).by_id(f"id_{field}")
    assert control is not None
    box = control.parent
    errors = [p.text() for p in box.find_all("p", cls="error")]
    assert errors, f"no error at {field}"
    return " ".join(errors)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("", "Enter the S3 folder location"),
        ("   ", "Enter the S3 folder location"),
        ("s3://", "bucket"),
        ("s3://my bucket/photos/", "not a valid bucket name"),
        ("s3://bucket/../photos/", "“..”"),
        ("../../etc/", "“..”"),
        ("s3://bucket/" + "p" * 1990, "too long"),
        ("s3://bücket/fotos/", "not a valid bucket name"),
        ("s3://no-such-bucket-5e1d/fotos-été/", "does not exist"),
    ],
)
def test_a_bad_s3_location_is_refused_at_the_field_and_creates_nothing(
    client_user, console_bucket, project, location, words
):
    response = create(client_user, project, location)

    assert words in field_error(response, "s3_location")
    assert not Dataset.objects.exists()


@pytest.mark.django_db
def test_a_bucket_that_answers_access_denied_is_refused_naming_the_permissions(
    client_user, console_bucket, project, denied_bucket
):
    response = create(client_user, project, f"s3://{denied_bucket}/alexa-devices/")

    error = field_error(response, "s3_location")
    assert "s3:ListBucket" in error and "s3:GetObject" in error
    assert not Dataset.objects.exists()


# The bad images of the issue, and what the gallery must say about each.
BAD_IMAGES = {
    "truncated.jpg": (truncated_jpeg_bytes(300, 200), "truncated or corrupt"),
    "text.jpg": (b"Quarterly figures, not a photo.\n" * 10, "not a PNG or JPEG image"),
    "bomb.png": (png_declaring(30_000, 30_000), "it is 30000×30000 pixels; each side must be 64 to 4096 pixels"),
    "huge.jpg": (jpeg_bytes(200, 200) + b"\0" * (16 * 1024 * 1024), "the file is 16.0 MB; the maximum is 15 MB"),
    "dot.png": (png_bytes(1, 1), "it is 1×1 pixels; each side must be 64 to 4096 pixels"),
    "strip.png": (png_declaring(5000, 10), "it is 5000×10 pixels"),
    "empty.png": (b"", "the file is empty"),
}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_bad_images_are_imported_under_errors_with_a_message_naming_the_problem(
    celery_worker_proc, client_user, console_bucket, project, s3, make_bucket
):
    bucket = make_bucket("bad-images")
    objects = {f"photos/things/{name}": body for name, (body, _) in BAD_IMAGES.items()}
    objects["photos/things/png-named.jpg"] = png_bytes(120, 80)
    objects["photos/things/fine.jpg"] = jpeg_bytes(120, 80)
    seed(s3, bucket, objects)

    assert create(client_user, project, f"s3://{bucket}/photos/").status_code == 302
    dataset = Dataset.objects.get(project=project)

    def settled():
        dataset.refresh_from_db()
        return (
            dataset.status == Dataset.Status.CREATE_COMPLETE
            and not dataset.images.filter(needs_thumbnail=True).exists()
        )

    wait_until(settled, timeout=90, what="the import and its thumbnails")
    images = {image.file_name: image for image in Image.objects.filter(dataset=dataset)}
    assert set(images) == {*BAD_IMAGES, "png-named.jpg", "fine.jpg"}
    for name, (_, words) in BAD_IMAGES.items():
        assert images[name].error_code == "ERROR_INVALID_IMAGE", name
        assert words in images[name].error_message, (name, images[name].error_message)
        assert not images[name].thumbnail_key, f"{name} must never be decoded into a thumbnail"
    assert (images["png-named.jpg"].format, images["png-named.jpg"].error_code) == ("PNG", "")
    assert images["png-named.jpg"].thumbnail_key and images["fine.jpg"].thumbnail_key

    errors = parse(client_user.get(reverse("datasets:detail", args=[dataset.pk]) + "?show=errors").content.decode())
    shown = errors.text()
    for name in BAD_IMAGES:
        assert name in shown
    assert "fine.jpg" not in shown
    detail = client_user.get(reverse("datasets:image_detail", args=[images["bomb.png"].pk]))
    assert "each side must be 64 to 4096 pixels" in detail.content.decode()


HTML_NAME = '<img src=x onerror="alert(1)"><b>bold</b>'


@pytest.mark.django_db
def test_names_holding_html_show_as_text_on_every_page(client_user, console_bucket, user):
    dataset = DatasetFactory(project__owner=user)
    label = LabelFactory(dataset=dataset, name=HTML_NAME)
    image = ImageFactory(dataset=dataset, file_name=HTML_NAME + ".png", source_ref="s3://b/" + HTML_NAME + ".png")
    ImageLabelFactory(image=image, label=label)
    pages = [
        reverse("datasets:detail", args=[dataset.pk]),
        reverse("datasets:detail", args=[dataset.pk]) + "?mode=label",
        reverse("datasets:detail", args=[dataset.pk]) + f"?label={label.pk}",
        reverse("datasets:image_detail", args=[image.pk]),
        reverse("datasets:label_remove", args=[label.pk]),
        reverse("datasets:box_editor", args=[dataset.pk]) + f"?images={image.pk}",
    ]
    for url in pages:
        response = client_user.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "<b>bold</b>" not in html, url
        assert 'onerror="alert(1)"' not in html, url
        assert "&lt;b&gt;bold&lt;/b&gt;" in html or "\\u003Cb\\u003Ebold" in html, url
