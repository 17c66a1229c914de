"""Upload images from your computer, through Django's test client against moto over HTTP.

Requests are built as raw multipart bodies, so a file name reaches the server exactly as a
browser (or an attacker) sends it.
"""

import json
import re
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from datasets.errors import DatasetError
from datasets.imports import upload as uploads
from datasets.models import Dataset, Image, ImportJob
from projects.console_storage import thumbnail_key
from tests.factories import DatasetFactory, ImageFactory, ProjectFactory

from ..dom import control_for, parse
from ..support import HTML, jpeg_bytes, png_bytes, post_files, truncated_jpeg_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user, console_bucket):
    return DatasetFactory(project__owner=user, project__name="devices-project", name="devices")


def results(response) -> dict[str, dict]:
    return {f["name"]: f for f in response.json()["files"]}


def prefix_of(dataset) -> str:
    """Where the dataset's uploads are kept in its owner's console storage."""
    return f"users/{dataset.project.owner_id}/assets/{dataset.pk}/"


def stored_key(dataset, name: str) -> str:
    """The key of the uploaded image `name` of the dataset (each upload has a folder of its own)."""
    return Image.objects.get(dataset=dataset, file_name=name).source_ref.split("/", 3)[3]


def stored_names(s3, bucket: str, dataset) -> list[str]:
    """The file names uploaded into the dataset's assets, each under a random folder of its own."""
    prefix = prefix_of(dataset)
    found = keys(s3, bucket, prefix)
    assert all(re.fullmatch(re.escape(prefix) + r"[0-9a-f]{32}/[^/]+", key) for key in found), found
    return sorted(key.rsplit("/", 1)[1] for key in found)


def keys(s3, bucket: str, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def big_png(megabytes: int) -> bytes:
    """A valid 100×100 PNG padded to the given size with a text chunk."""
    return png_bytes(100, 100, text="x" * (megabytes * 1024 * 1024))


# --- accepted files -------------------------------------------------------------------------


def test_thirty_images_are_stored_in_the_console_bucket_under_assets(client_user, dataset, console_bucket, s3):
    files = {}
    for i in range(30):
        width, height = 64 + i * 10, 80 + i * 5
        if i % 2:
            files[f"photo-{i:02}.jpg"] = jpeg_bytes(width, height)
        else:
            files[f"shot-{i:02}.PNG"] = png_bytes(width, height)

    response = post_files(client_user, dataset, list(files.items()))

    assert response.status_code == 200
    body = response.json()
    assert body["added"] == 30 and body["refused"] == 0
    assert all(f["ok"] and f["image_id"] for f in body["files"])
    assert stored_names(s3, console_bucket.name, dataset) == sorted(files)
    assert keys(s3, console_bucket.name, "users/") == sorted(
        [stored_key(dataset, name) for name in files]
        + [thumbnail_key(dataset.project.owner_id, dataset.pk, f["image_id"]) for f in body["files"]]
    )
    for name, data in files.items():
        stored = s3.get_object(Bucket=console_bucket.name, Key=stored_key(dataset, name))
        assert stored["Body"].read() == data
        assert stored["ContentType"] == ("image/png" if name.endswith(".PNG") else "image/jpeg")
    for image in Image.objects.filter(dataset=dataset).order_by("file_name"):
        assert image.source_ref == f"s3://{console_bucket.name}/{stored_key(dataset, image.file_name)}"
        assert stored_key(dataset, image.file_name).startswith(prefix_of(dataset))
        assert image.import_job.source == ImportJob.Source.UPLOAD
        assert image.size == len(files[image.file_name])
        assert image.etag and not image.error_code and not image.problems and not image.is_labeled
        number = int(image.file_name.split("-")[1][:2])
        assert (image.width, image.height) == (64 + number * 10, 80 + number * 5)
        assert image.format == ("JPEG" if image.file_name.endswith(".jpg") else "PNG")
        # The thumbnail is made in the request, so the gallery shows it at once.
        assert not image.needs_thumbnail
        assert image.thumbnail_key == thumbnail_key(dataset.project.owner_id, dataset.pk, image.pk)
        s3.head_object(Bucket=console_bucket.name, Key=image.thumbnail_key)
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.UPDATE_COMPLETE
    assert dataset.status_message == "30 images were added from your computer."
    assert dataset.status_message_code == Dataset.StatusMessageCode.SUCCESS
    job = ImportJob.objects.get(dataset=dataset)
    assert (job.status, job.found, job.skipped) == (ImportJob.Status.SUCCEEDED, 30, 0)
    assert not job.report_items.exists()


def test_the_gallery_shows_uploaded_images_with_their_thumbnails(client_user, dataset):
    post_files(client_user, dataset, [("cat.png", png_bytes(200, 100)), ("dog.jpg", jpeg_bytes(120, 90))])

    page = parse(client_user.get(reverse("datasets:detail", args=[dataset.pk])).content.decode())

    cards = page.by_id("gallery").find_all("li", cls="card")
    assert sorted(card.find(cls="name").text() for card in cards) == ["cat.png", "dog.jpg"]
    assert all(card.find("img") is not None for card in cards)
    assert page.by_id("status-message").text() == "2 images were added from your computer."
    assert page.by_id("status-message-code").text() == "SUCCESS"


def test_a_png_named_jpg_is_added_as_a_png(client_user, dataset, console_bucket, s3):
    response = post_files(client_user, dataset, [("really-a-png.jpg", png_bytes(300, 200))])

    assert results(response)["really-a-png.jpg"]["ok"]
    image = Image.objects.get(dataset=dataset)
    assert (image.format, image.width, image.height) == ("PNG", 300, 200)
    stored = s3.get_object(Bucket=console_bucket.name, Key=stored_key(dataset, "really-a-png.jpg"))
    assert stored["ContentType"] == "image/png"


# --- refused files --------------------------------------------------------------------------

BAD_FILES = [
    ("empty.jpg", b"", "ERROR_INVALID_IMAGE", "The image is invalid: the file is empty."),
    (
        "notes.jpg",
        b"These are meeting notes saved with the wrong extension.\n" * 4,
        "ERROR_INVALID_IMAGE",
        "The image is invalid: the file is not a PNG or JPEG image.",
    ),
    (
        "truncated.jpg",
        truncated_jpeg_bytes(300, 200),
        "ERROR_INVALID_IMAGE",
        "The image is invalid: the file is truncated or corrupt and cannot be decoded.",
    ),
    (
        "dot.png",
        png_bytes(1, 1),
        "ERROR_INVALID_IMAGE",
        "The image is invalid: it is 1×1 pixels; each side must be 64 to 4096 pixels.",
    ),
    (
        "banner.png",
        png_bytes(5000, 10),
        "ERROR_INVALID_IMAGE",
        "The image is invalid: it is 5000×10 pixels; each side must be 64 to 4096 pixels.",
    ),
    (
        "ribbon.png",
        png_bytes(1344, 64),
        "ERROR_INVALID_IMAGE",
        "The image is invalid: its aspect ratio is 21.0:1; the maximum is 20:1.",
    ),
    (
        "huge.png",
        big_png(16),
        "ERROR_INVALID_IMAGE",
        "The image is invalid: the file is 16.0 MB; the maximum is 15 MB.",
    ),
    ("photo.gif", png_bytes(100, 100), "FILE_NAME_INVALID", "Only .jpg, .jpeg and .png files can be added."),
]


@pytest.mark.parametrize(("name", "data", "code", "message"), BAD_FILES, ids=[f[0] for f in BAD_FILES])
def test_a_bad_file_is_refused_with_its_reason_and_not_stored(
    client_user, dataset, console_bucket, s3, name, data, code, message
):
    response = post_files(client_user, dataset, [(name, data)])

    assert response.status_code == 200
    assert response.json()["files"] == [{"name": name, "ok": False, "message": message, "image_id": None}]
    assert keys(s3, console_bucket.name) == []
    assert not Image.objects.exists()
    job = ImportJob.objects.get(dataset=dataset)
    assert (job.source, job.status, job.found, job.skipped) == (ImportJob.Source.UPLOAD, ImportJob.Status.FAILED, 1, 1)
    assert list(job.report_items.values_list("key", "code", "reason")) == [(name, code, message)]
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_COMPLETE, "nothing was added, so the dataset is as it was"


def test_good_files_survive_bad_ones_in_the_same_request(client_user, dataset, console_bucket, s3):
    files = [
        ("good-1.png", png_bytes(100, 100)),
        ("empty.jpg", b""),
        ("good-2.jpg", jpeg_bytes(640, 480)),
        ("notes.jpg", b"not an image at all"),
        ("truncated.jpg", truncated_jpeg_bytes(300, 200)),
        ("good-3.jpeg", jpeg_bytes(64, 64)),
    ]

    response = post_files(client_user, dataset, files)

    outcome = {name: r["ok"] for name, r in results(response).items()}
    assert outcome == {
        "good-1.png": True,
        "empty.jpg": False,
        "good-2.jpg": True,
        "notes.jpg": False,
        "truncated.jpg": False,
        "good-3.jpeg": True,
    }
    assert response.json()["message"] == "3 images added, 3 refused."
    assert stored_names(s3, console_bucket.name, dataset) == ["good-1.png", "good-2.jpg", "good-3.jpeg"]
    assert sorted(Image.objects.filter(dataset=dataset).values_list("file_name", flat=True)) == [
        "good-1.png",
        "good-2.jpg",
        "good-3.jpeg",
    ]
    job = ImportJob.objects.get(dataset=dataset)
    assert (job.status, job.found, job.skipped) == (ImportJob.Status.SUCCEEDED, 6, 3)
    assert job.message == "3 added from your computer, 3 refused."
    assert sorted(job.report_items.values_list("key", flat=True)) == ["empty.jpg", "notes.jpg", "truncated.jpg"]
    dataset.refresh_from_db()
    assert (dataset.status, dataset.status_message) == (
        Dataset.Status.UPDATE_COMPLETE,
        "3 images were added from your computer.",
    )


def test_thirty_one_files_are_refused_with_the_limit_and_nothing_is_stored(client_user, dataset, console_bucket, s3):
    files = [(f"img-{i:02}.png", png_bytes(64, 64)) for i in range(31)]

    response = post_files(client_user, dataset, files)

    assert response.status_code == 400
    assert response.json()["message"] == "You can upload up to 30 images at a time."
    assert keys(s3, console_bucket.name) == []
    assert not Image.objects.exists() and not ImportJob.objects.exists()


def test_thirty_one_files_from_a_form_without_javascript_come_back_as_a_message(
    client_user, dataset, console_bucket, s3
):
    files = [(f"img-{i:02}.png", png_bytes(64, 64)) for i in range(31)]

    response = post_files(client_user, dataset, files, headers=HTML, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("datasets:detail", args=[dataset.pk]) + "?add_images=1"
    page = parse(response.content.decode())
    assert [n.text() for n in page.by_id("messages").find_all(cls="flash-error")] == [
        "You can upload up to 30 images at a time."
    ]
    assert "open" in page.by_id("add-images-dialog").attrs, "the dialog is open again to choose fewer files"
    assert keys(s3, console_bucket.name) == []
    assert not Image.objects.exists() and not ImportJob.objects.exists()


def test_the_service_refuses_thirty_one_files_whatever_django_lets_through(user, dataset, console_bucket, s3):
    files = [SimpleUploadedFile(f"img-{i:02}.png", png_bytes(64, 64)) for i in range(31)]

    with pytest.raises(DatasetError, match="You can upload up to 30 images at a time."):
        uploads.images_upload(dataset=dataset, user=user, files=files)

    assert keys(s3, console_bucket.name) == []
    assert not Image.objects.exists() and not ImportJob.objects.exists()


def test_a_request_with_no_files_says_to_choose_some(client_user, dataset):
    response = post_files(client_user, dataset, [])

    assert response.status_code == 400
    assert response.json()["message"] == "Choose one or more .jpg, .jpeg or .png files to upload."
    assert not ImportJob.objects.exists()


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "clean"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("..\\..\\windows\\evil.png", "evil.png"),
        ("/absolute/path/x.jpg", "x.jpg"),
        ("  spaced out.png  ", "spaced out.png"),
        ("tab\tnew\nline\x00.png", "tabnewline.png"),
        ("right-to-left\u202egnp.jpg", "right-to-leftgnp.jpg"),
        ("cafe\u0301.png", "café.png"),
        ("..", ""),
        ("folder/", ""),
    ],
)
def test_a_file_name_keeps_only_its_base_name_without_control_characters(sent, clean):
    assert uploads.file_name_clean(sent) == clean


def test_a_path_in_the_sent_file_name_is_dropped(client_user, dataset, console_bucket, s3):
    response = post_files(client_user, dataset, [("../../etc/passwd.png", png_bytes(80, 80))])

    assert results(response)["passwd.png"]["ok"]
    assert stored_names(s3, console_bucket.name, dataset) == ["passwd.png"]
    own = f"users/{dataset.project.owner_id}/"
    assert [k for k in keys(s3, console_bucket.name) if not k.startswith((own + "assets/", own + "thumbnails/"))] == []
    assert Image.objects.get(dataset=dataset).file_name == "passwd.png"


def test_a_windows_path_given_to_the_service_is_dropped(user, dataset, console_bucket, s3):
    result = uploads.images_upload(
        dataset=dataset, user=user, files=[SimpleUploadedFile("..\\..\\evil.png", png_bytes(80, 80))]
    )

    assert [(f.name, f.ok) for f in result.files] == [("evil.png", True)]
    assert stored_names(s3, console_bucket.name, dataset) == ["evil.png"]


def test_html_in_a_file_name_is_shown_as_text_on_the_gallery(client_user, dataset):
    name = "<img src=x onerror=alert(1)>.png"
    # Django keeps only what follows the last "/" of a sent name: "<b>x</b>.png" arrives as "b>.png".
    response = post_files(client_user, dataset, [(name, png_bytes(70, 70)), ("<b>x</b>.png", png_bytes(70, 70))])

    assert sorted(results(response)) == sorted([name, "b>.png"])
    html = client_user.get(reverse("datasets:detail", args=[dataset.pk])).content.decode()
    assert "<img src=x onerror" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in html
    assert "b&gt;.png" in html
    names = [card.find(cls="name").text() for card in parse(html).by_id("gallery").find_all("li", cls="card")]
    assert sorted(names) == sorted([name, "b>.png"])


def test_a_name_already_in_the_dataset_is_refused_and_its_image_kept(client_user, dataset, console_bucket, s3):
    first = png_bytes(100, 100, color="red")
    post_files(client_user, dataset, [("echo.png", first)])

    response = post_files(
        client_user, dataset, [("echo.png", png_bytes(200, 200, color="green")), ("other.png", png_bytes(90, 90))]
    )

    assert results(response)["echo.png"] == {
        "name": "echo.png",
        "ok": False,
        "message": "An image named echo.png is already in this dataset.",
        "image_id": None,
    }
    assert results(response)["other.png"]["ok"]
    stored = s3.get_object(Bucket=console_bucket.name, Key=stored_key(dataset, "echo.png"))["Body"].read()
    assert stored == first, "the refused file did not overwrite the image's file"
    assert Image.objects.get(dataset=dataset, file_name="echo.png").width == 100
    job = ImportJob.objects.filter(dataset=dataset).first()  # the latest
    assert list(job.report_items.values_list("key", "code")) == [("echo.png", "FILE_NAME_DUPLICATE")]


def test_the_same_name_twice_in_one_request_adds_the_first(client_user, dataset):
    response = post_files(client_user, dataset, [("twin.png", png_bytes(100, 100)), ("twin.png", png_bytes(90, 90))])

    assert [f["ok"] for f in response.json()["files"]] == [True, False]
    assert Image.objects.get(dataset=dataset).width == 100


def test_an_image_of_the_same_name_elsewhere_in_s3_is_no_duplicate(client_user, dataset):
    ImageFactory(dataset=dataset, file_name="echo.png", source_ref="s3://source-bucket/alexa/echo.png")

    response = post_files(client_user, dataset, [("echo.png", png_bytes(100, 100))])

    assert results(response)["echo.png"]["ok"]
    assert Image.objects.filter(dataset=dataset, file_name="echo.png").count() == 2


# --- batches, state, access -----------------------------------------------------------------


def test_the_requests_of_one_batch_make_one_import_of_at_most_thirty(client_user, dataset):
    batch = {"batch": uuid.uuid4().hex}
    for i in range(30):
        response = post_files(client_user, dataset, [(f"img-{i:02}.png", png_bytes(64, 64))], fields=batch)
        assert response.status_code == 200

    response = post_files(client_user, dataset, [("img-30.png", png_bytes(64, 64))], fields=batch)

    assert response.status_code == 400
    assert response.json()["message"] == "You can upload up to 30 images at a time."
    job = ImportJob.objects.get(dataset=dataset)
    assert (job.found, job.skipped, job.images.count()) == (30, 0, 30)
    dataset.refresh_from_db()
    assert dataset.status_message == "30 images were added from your computer."

    # A new batch is a new import.
    post_files(client_user, dataset, [("img-30.png", png_bytes(64, 64))], fields={"batch": uuid.uuid4().hex})
    assert ImportJob.objects.filter(dataset=dataset).count() == 2
    dataset.refresh_from_db()
    assert dataset.status_message == "1 image was added from your computer."


@pytest.mark.parametrize("status", [Dataset.Status.CREATE_IN_PROGRESS, Dataset.Status.UPDATE_IN_PROGRESS])
def test_uploading_while_the_dataset_is_in_progress_is_refused(client_user, dataset, console_bucket, s3, status):
    Dataset.objects.filter(pk=dataset.pk).update(status=status)

    response = post_files(client_user, dataset, [("echo.png", png_bytes(100, 100))])

    assert response.status_code == 400
    assert response.json()["message"] == (
        "You can't add images while the dataset is being created or updated. Wait until it finishes."
    )
    assert keys(s3, console_bucket.name) == []
    assert not Image.objects.exists() and not ImportJob.objects.exists()


def test_another_users_dataset_is_not_found_and_nothing_is_stored(client_other_user, dataset, console_bucket, s3):
    response = post_files(client_other_user, dataset, [("echo.png", png_bytes(100, 100))])

    assert response.status_code == 404
    assert keys(s3, console_bucket.name) == []
    assert not Image.objects.exists() and not ImportJob.objects.exists()


def test_an_upload_without_the_csrf_token_is_refused(user, dataset, console_bucket, s3):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = post_files(client, dataset, [("echo.png", png_bytes(100, 100))])

    assert response.status_code == 403
    assert keys(s3, console_bucket.name) == []
    assert not Image.objects.exists()


def test_a_file_that_cannot_be_stored_is_reported_and_leaves_no_image(client_user, dataset, console_bucket, s3):
    s3.delete_bucket(Bucket=console_bucket.name)  # S3 refuses every write from now on

    response = post_files(client_user, dataset, [("echo.png", png_bytes(100, 100))])

    assert results(response)["echo.png"]["message"] == "The image could not be stored in the console bucket. Try again."
    assert not Image.objects.exists()
    job = ImportJob.objects.get(dataset=dataset)
    assert (job.status, job.skipped) == (ImportJob.Status.FAILED, 1)
    assert list(job.report_items.values_list("code", flat=True)) == ["STORE_FAILED"]


def test_a_form_post_without_javascript_returns_to_the_gallery_with_a_message_per_file(client_user, dataset):
    files = [("good.png", png_bytes(100, 100)), ("empty.jpg", b"")]

    response = post_files(client_user, dataset, files, headers=HTML, query="?mode=label", follow=True)

    assert response.redirect_chain[-1][0] == reverse("datasets:detail", args=[dataset.pk]) + "?mode=label"
    page = parse(response.content.decode())
    flashes = [n.text() for n in page.by_id("messages").find_all(cls="flash")]
    assert flashes == ["1 image added, 1 refused.", "empty.jpg: The image is invalid: the file is empty."]
    assert [c.find(cls="name").text() for c in page.by_id("gallery").find_all("li", cls="card")] == ["good.png"]


# --- the dialog and the empty dataset -------------------------------------------------------


def test_the_dataset_page_offers_the_add_images_dialog(client_user, dataset):
    page = parse(client_user.get(reverse("datasets:detail", args=[dataset.pk])).content.decode())

    link = next(a for a in page.find_all("a") if a.text() == "+ Add images")
    assert link.attrs["href"] == "?add_images=1"
    dialog = page.by_id("add-images-dialog")
    assert dialog.tag == "dialog" and "open" not in dialog.attrs
    assert dialog.find("h2").text() == "Add images"
    assert "You can upload up to 30 images at a time." in dialog.text()
    form = dialog.find("form")
    assert form.attrs["action"] == reverse("datasets:upload", args=[dataset.pk])
    assert form.attrs["enctype"] == "multipart/form-data"
    chooser = control_for(dialog, "Choose files")
    assert (chooser.attrs["type"], chooser.attrs["name"], chooser.attrs["accept"]) == (
        "file",
        "images",
        ".jpg,.jpeg,.png",
    )
    assert "multiple" in chooser.attrs
    assert [b.text() for b in dialog.find_all("button")] == ["Cancel", "Add images"]


def test_add_images_1_opens_the_dialog_and_labeling_mode_is_kept(client_user, dataset):
    url = reverse("datasets:detail", args=[dataset.pk])
    page = parse(client_user.get(f"{url}?mode=label&add_images=1").content.decode())

    assert "open" in page.by_id("add-images-dialog").attrs
    assert (
        page.by_id("add-images-form").attrs["action"] == reverse("datasets:upload", args=[dataset.pk]) + "?mode=label"
    )
    assert page.by_id("open-add-images").attrs["href"] == "?mode=label&add_images=1"


def test_a_dataset_in_progress_offers_no_add_images(client_user, dataset):
    Dataset.objects.filter(pk=dataset.pk).update(status=Dataset.Status.UPDATE_IN_PROGRESS)

    page = parse(client_user.get(reverse("datasets:detail", args=[dataset.pk]) + "?add_images=1").content.decode())

    assert page.by_id("open-add-images") is None and page.by_id("add-images-dialog") is None


def test_an_empty_dataset_is_complete_at_once(user):
    project = ProjectFactory(owner=user, name="uploads")

    dataset = uploads.dataset_create_empty(project=project, name="from-my-computer")

    assert dataset.status == Dataset.Status.CREATE_COMPLETE
    assert dataset.status_message_code == Dataset.StatusMessageCode.SUCCESS
    assert dataset.status_message == "The dataset was created empty. Add images from your computer."
    assert not dataset.images.exists() and not dataset.import_jobs.exists()


def test_an_empty_dataset_needs_a_name_unused_in_the_project(user):
    project = ProjectFactory(owner=user, name="uploads")
    uploads.dataset_create_empty(project=project, name="from-my-computer")

    with pytest.raises(DatasetError) as caught:
        uploads.dataset_create_empty(project=project, name="from-my-computer")

    assert caught.value.field == "name"
    assert str(caught.value) == "A dataset named “from-my-computer” already exists in this project."
    assert Dataset.objects.filter(project=project).count() == 1


def test_the_json_answer_has_a_result_per_file(client_user, dataset):
    response = post_files(client_user, dataset, [("a.png", png_bytes(100, 100)), ("b.jpg", b"nope")])

    body = json.loads(response.content)
    image = Image.objects.get(dataset=dataset)
    assert body == {
        "message": "1 image added, 1 refused.",
        "added": 1,
        "refused": 1,
        "files": [
            {"name": "a.png", "ok": True, "message": "Added to the dataset.", "image_id": image.pk},
            {
                "name": "b.jpg",
                "ok": False,
                "message": "The image is invalid: the file is not a PNG or JPEG image.",
                "image_id": None,
            },
        ],
    }
