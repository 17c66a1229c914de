"""The dataset pages through Django's test client: the create form's S3 checks, the gallery, progress, access."""

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError
from django.urls import reverse

from customlabels import s3 as s3_module
from datasets.models import Dataset, Image, ImageLabel, ImportJob, ImportReportItem
from datasets.selectors import PAGE_SIZE
from tests.factories import DatasetFactory, ImageFactory, ImageLabelFactory, ImportJobFactory, LabelFactory

from .dom import Node, control_for, parse
from .support import png_bytes, seed

pytestmark = pytest.mark.django_db

HTMX_GALLERY = {"HX-Request": "true", "HX-Target": "gallery"}


def page_html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def page(response) -> Node:
    return parse(page_html(response))


def field_errors(response, field_id: str) -> list[str]:
    """The error messages shown inside the form field whose input has this id."""
    node = page(response).by_id(field_id)
    assert node is not None, f"No form control with id {field_id} on the page"
    while node is not None and "field" not in node.classes:
        node = node.parent
    assert node is not None, f"The control {field_id} is not inside a form field"
    return [p.text() for p in node.find_all("p", cls="error")]


def gallery_of(response) -> Node:
    gallery = page(response).by_id("gallery")
    assert gallery is not None, "The page shows no gallery"
    return gallery


def file_names(response) -> list[str]:
    return [card.find(cls="name").text() for card in gallery_of(response).find_all("li", cls="card")]


def numbers(response, attribute: str) -> dict[str, int]:
    return {
        node.attrs[attribute]: int(node.text().replace(",", ""))
        for node in page(response).iter()
        if node.tag == "strong" and attribute in node.attrs
    }


@dataclass(frozen=True)
class PaneEntry:
    name: str
    value: str
    checked: bool
    count: int


def pane(response) -> dict[str, PaneEntry]:
    """The Filter by labels pane: each filter's label text → its control and image count."""
    gallery = gallery_of(response)
    entries = {}
    for label in gallery.find_all("label"):
        control = gallery.by_id(label.attrs.get("for", ""))
        if control is None or control.attrs.get("name") not in ("show", "label"):
            continue
        count = label.parent.find("span", cls="count")
        entries[label.text()] = PaneEntry(
            name=control.attrs["name"],
            value=control.attrs["value"],
            checked="checked" in control.attrs,
            count=int(re.match(r"[\d,]+", count.text()).group(0).replace(",", "")),
        )
    return entries


def pagination_link(response, rel: str) -> str | None:
    link = gallery_of(response).find("a", rel=rel)
    if link is None:
        return None
    assert link.attrs["href"].startswith("?")
    return link.attrs["href"][1:]


def create_url(project) -> str:
    return reverse("datasets:create", args=[project.pk])


def detail_url(dataset) -> str:
    return reverse("datasets:detail", args=[dataset.pk])


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
    assert location.attrs["placeholder"] == f"s3://{console_bucket.name}/alexa-devices/"
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


def test_a_missing_bucket_is_refused_at_the_field(client_user, console_bucket, project):
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


def test_adding_images_checks_the_folder_at_the_field(client_user, console_bucket, project):
    dataset = DatasetFactory(project=project)

    response = client_user.post(
        reverse("datasets:add_images", args=[dataset.pk]), {"s3_location": "s3://no-such-bucket-4f1c/x/"}
    )

    assert field_errors(response, "id_s3_location") == ["The bucket “no-such-bucket-4f1c” does not exist."]
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_COMPLETE


# --- The gallery --------------------------------------------------------------------------------


@pytest.fixture
def gallery(project):
    """A finished dataset: echo and echo-dot images, one with both labels, unlabeled ones, two with errors."""
    dataset = DatasetFactory(project=project, name="alexa-devices")
    echo = LabelFactory(dataset=dataset, name="echo")
    echo_dot = LabelFactory(dataset=dataset, name="echo-dot")
    LabelFactory(dataset=dataset, name="echo-show")

    def image(name, *labels, **fields):
        img = ImageFactory(dataset=dataset, file_name=name, is_labeled=bool(labels), **fields)
        for label in labels:
            ImageLabelFactory(image=img, label=label)
        return img

    images = {
        "echo-1.png": image("echo-1.png", echo, thumbnail_key=f"thumbnails/{dataset.pk}/1.jpg"),
        "echo-2.png": image("echo-2.png", echo),
        "dot-1.png": image("dot-1.png", echo_dot),
        "both.png": image("both.png", echo, echo_dot, width=1024, height=768, size=123_456, format="PNG"),
        "x.png": image("x.png"),
        "notes.png": image(
            "notes.png",
            format="",
            width=None,
            height=None,
            error_code="ERROR_INVALID_IMAGE",
            error_message="The image is invalid: the file is not a PNG or JPEG image.",
        ),
        "tiny.png": image(
            "tiny.png",
            echo,
            width=32,
            height=32,
            format="PNG",
            error_code="ERROR_INVALID_IMAGE",
            error_message="The image is invalid: it is 32×32 pixels; each side must be 64 to 4096 pixels.",
        ),
    }
    return dataset, {"echo": echo, "echo-dot": echo_dot}, images


ALL = ["echo-1.png", "echo-2.png", "dot-1.png", "both.png", "x.png", "notes.png", "tiny.png"]


def checked(response) -> set[str]:
    return {text for text, entry in pane(response).items() if entry.checked}


def test_the_gallery_shows_all_images_by_default(client_user, console_bucket, gallery):
    dataset, _, _ = gallery

    response = client_user.get(detail_url(dataset))

    assert file_names(response) == ALL
    assert checked(response) == {"All images"}


@pytest.mark.parametrize(
    ("query", "expected", "current"),
    [
        ("show=labeled", ["echo-1.png", "echo-2.png", "dot-1.png", "both.png", "tiny.png"], "Labeled"),
        ("show=unlabeled", ["x.png", "notes.png"], "Unlabeled"),
        ("show=errors", ["notes.png", "tiny.png"], "Errors"),
        ("show=all", ALL, "All images"),
        ("show=nonsense", ALL, "All images"),
    ],
)
def test_each_filter_of_the_pane_shows_its_images(client_user, console_bucket, gallery, query, expected, current):
    dataset, _, _ = gallery

    response = client_user.get(f"{detail_url(dataset)}?{query}")

    assert file_names(response) == expected
    assert checked(response) == {current}


def test_a_label_filter_shows_only_that_labels_images(client_user, console_bucket, gallery):
    dataset, labels, _ = gallery

    echo = client_user.get(f"{detail_url(dataset)}?label={labels['echo'].pk}")
    echo_dot = client_user.get(f"{detail_url(dataset)}?label={labels['echo-dot'].pk}")

    assert file_names(echo) == ["echo-1.png", "echo-2.png", "both.png", "tiny.png"]
    assert checked(echo) == {"All images", "echo"}
    assert file_names(echo_dot) == ["dot-1.png", "both.png"]
    assert checked(echo_dot) == {"All images", "echo-dot"}


def test_a_label_filter_combines_with_the_show_filter(client_user, console_bucket, gallery):
    dataset, labels, _ = gallery

    response = client_user.get(f"{detail_url(dataset)}?show=errors&label={labels['echo'].pk}")

    assert file_names(response) == ["tiny.png"]
    assert checked(response) == {"Errors", "echo"}


def test_another_datasets_label_shows_no_images(client_user, console_bucket, gallery, project):
    dataset, _, _ = gallery
    other = ImageLabelFactory(image__dataset=DatasetFactory(project=project), label__name="echo")

    response = client_user.get(f"{detail_url(dataset)}?label={other.label_id}")

    assert file_names(response) == []
    assert "No images match this filter." in page_html(response)


def test_the_filter_pane_is_a_get_form_so_the_filter_lands_in_the_url(client_user, console_bucket, gallery):
    dataset, labels, _ = gallery

    response = client_user.get(detail_url(dataset))

    entries = pane(response)
    assert {text: (e.name, e.value) for text, e in entries.items()} == {
        "All images": ("show", "all"),
        "Labeled": ("show", "labeled"),
        "Unlabeled": ("show", "unlabeled"),
        "Errors": ("show", "errors"),
        "echo": ("label", str(labels["echo"].pk)),
        "echo-dot": ("label", str(labels["echo-dot"].pk)),
        "echo-show": ("label", str(dataset.labels.get(name="echo-show").pk)),
    }
    form = gallery_of(response).find("input", name="show").parent
    while form.tag != "form":
        form = form.parent
    assert form.attrs.get("method", "get").lower() == "get"
    assert form.attrs["action"] == detail_url(dataset)


def test_the_pane_counts_images_per_filter_and_label(client_user, console_bucket, gallery):
    dataset, _, _ = gallery

    response = client_user.get(detail_url(dataset))

    assert {text: entry.count for text, entry in pane(response).items()} == {
        "All images": 7,
        "Labeled": 5,
        "Unlabeled": 2,
        "Errors": 2,
        "echo": 4,
        "echo-dot": 2,
        "echo-show": 0,
    }


def test_the_statistics_count_images_labels_and_errors(client_user, console_bucket, gallery):
    dataset, _, _ = gallery

    response = client_user.get(f"{detail_url(dataset)}?show=errors")

    assert numbers(response, "data-stat") == {"total": 7, "labeled": 5, "labels": 3, "errors": 2}
    captions = {
        node.find("strong").attrs["data-stat"]: node.text()
        for node in gallery_of(response).find_all("div")
        if node.find("strong") is not None and "data-stat" in node.find("strong").attrs and len(node.children) <= 3
    }
    assert captions == {
        "total": "7 Total images",
        "labeled": "5 Labeled images",
        "labels": "3 Labels",
        "errors": "2 Images with errors",
    }


def test_an_htmx_filter_request_answers_only_the_gallery(client_user, console_bucket, gallery):
    dataset, _, _ = gallery

    response = client_user.get(f"{detail_url(dataset)}?show=errors", headers=HTMX_GALLERY)

    text = page_html(response)
    top = [node for node in parse(text).children if not isinstance(node, str)]
    assert [(node.tag, node.attrs.get("id")) for node in top] == [("div", "gallery")]
    assert "<html" not in text
    assert "Dataset ARN" not in text
    assert file_names(response) == ["notes.png", "tiny.png"]


def test_an_htmx_history_restore_gets_the_whole_page(client_user, console_bucket, gallery):
    dataset, _, _ = gallery

    response = client_user.get(
        f"{detail_url(dataset)}?show=errors", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )

    assert "<html" in page_html(response)
    assert file_names(response) == ["notes.png", "tiny.png"]


def test_thumbnails_are_shown_through_presigned_urls(client_user, console_bucket, gallery):
    dataset, _, images = gallery

    response = client_user.get(detail_url(dataset))

    text = page_html(response)
    url = urlsplit(gallery_of(response).find("img", alt="echo-1.png").attrs["src"])
    assert url.path == f"/{console_bucket.name}/{images['echo-1.png'].thumbnail_key}"
    query = parse_qs(url.query)
    assert "X-Amz-Signature" in query
    assert 0 < int(query["X-Amz-Expires"][0]) <= 900
    assert "Thumbnail pending…" in text
    assert "No preview" in text


def test_the_gallery_pages_by_50_with_next_and_previous(client_user, console_bucket, project):
    dataset = DatasetFactory(project=project)
    Image.objects.bulk_create(
        [
            Image(dataset=dataset, file_name=f"img-{n:03d}.png", source_ref=f"s3://b/f/img-{n:03d}.png", format="PNG")
            for n in range(120)
        ]
    )
    names = [f"img-{n:03d}.png" for n in range(120)]
    url = detail_url(dataset)

    first = client_user.get(url)
    assert file_names(first) == names[:50]
    assert pagination_link(first, "prev") is None
    next_query = pagination_link(first, "next")
    assert next_query.startswith("after=")

    second = client_user.get(f"{url}?{next_query}")
    assert file_names(second) == names[50:100]
    third = client_user.get(f"{url}?{pagination_link(second, 'next')}")
    assert file_names(third) == names[100:]
    assert len(file_names(third)) == 20
    assert pagination_link(third, "next") is None

    back = client_user.get(f"{url}?{pagination_link(third, 'prev')}")
    assert file_names(back) == names[50:100]
    assert pagination_link(back, "next") is not None
    start = client_user.get(f"{url}?{pagination_link(back, 'prev')}")
    assert file_names(start) == names[:50]
    assert pagination_link(start, "prev") is None
    assert numbers(first, "data-stat")["total"] == 120
    assert PAGE_SIZE == 50


def test_pages_keep_the_filter(client_user, console_bucket, project):
    dataset = DatasetFactory(project=project)
    label = LabelFactory(dataset=dataset, name="echo")
    images = Image.objects.bulk_create(
        [
            Image(
                dataset=dataset,
                file_name=f"img-{n:03d}.png",
                source_ref=f"s3://b/f/img-{n:03d}.png",
                is_labeled=n % 2 == 0,
            )
            for n in range(130)
        ]
    )
    ImageLabel.objects.bulk_create([ImageLabel(image=img, label=label) for img in images if img.is_labeled])

    first = client_user.get(f"{detail_url(dataset)}?label={label.pk}")
    next_query = pagination_link(first, "next")
    assert parse_qs(next_query)["label"] == [str(label.pk)]

    second = client_user.get(f"{detail_url(dataset)}?{next_query}", headers=HTMX_GALLERY)
    assert file_names(second) == [f"img-{n:03d}.png" for n in range(100, 130, 2)]
    assert pagination_link(second, "next") is None


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
    """A dataset whose import has listed 10 images and 1 other object, and stored 3 of the images."""
    dataset = DatasetFactory(project=project, status=Dataset.Status.CREATE_IN_PROGRESS, status_message_code="")
    job = ImportJobFactory(
        dataset=dataset, status=ImportJob.Status.IN_PROGRESS, listing_done=False, found=10, skipped=1
    )
    ImportReportItem.objects.create(job=job, key="alexa-devices/notes.txt", reason="Not a .jpg, .jpeg or .png file")
    ImageFactory(dataset=dataset, import_job=job, thumbnail_key="thumbnails/1.jpg")
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
    assert numbers(response, "data-count") == {"found": 10, "imported": 3, "skipped": 1, "errors": 1, "thumbnails": 1}
    assert "alexa-devices/notes.txt" in parse(text).text()
    assert 'aria-valuenow="30"' in text


def test_the_progress_partial_reloads_the_page_when_the_phase_changes(client_user, console_bucket, importing):
    dataset, job = importing

    response = client_user.get(progress_url(dataset, "thumbnails"), headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Refresh"] == "true"

    job.status = ImportJob.Status.SUCCEEDED
    job.save()
    Image.objects.filter(dataset=dataset).update(thumbnail_key="thumbnails/x.jpg")
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
