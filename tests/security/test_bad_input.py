"""Bad input, each with a clear message where the user is, no 500, nothing made or touched.

S3 locations are refused at the Create dataset form's field; bad images end up in the dataset
under "Errors" with a message naming the problem (as the console's non-terminal errors do); names
holding HTML show as text everywhere. Manifests and uploads have their own sweeps
(tests/datasets/test_manifest_import.py, tests/datasets/test_upload.py).
"""

import json

import pytest
from django.urls import reverse

from datasets.models import BoundingBox, Dataset, Image, ImageLabel, Label, LabelingAction
from tests.datasets.dom import parse
from tests.datasets.support import jpeg_bytes, png_bytes, png_declaring, seed, truncated_jpeg_bytes, wait_until
from tests.factories import (
    BoundingBoxFactory,
    DatasetFactory,
    ImageFactory,
    ImageLabelFactory,
    LabelFactory,
    ProjectFactory,
)


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
    client_user, console_bucket, project, location, words, grant
):
    grant("no-such-bucket-5e1d")  # inside a granted location, the console's own messages
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


# --- Numbers, NUL bytes and JSON from requests ----------------------------------------------
#
# Every number a request carries is parsed by one bounded helper (ASCII digits, at most 18) or a
# form field; text PostgreSQL cannot store (NUL) is refused with a message or, in a filter, dropped.

HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "gallery"}
SUPERSCRIPT_TWO = "²"  # str.isdigit() says yes, int() says no
TOO_BIG = "9" * 19  # past PostgreSQL's bigint
NESTED = "[" * 50_000 + "]" * 50_000


@pytest.fixture
def labeled(user, console_bucket):
    dataset = DatasetFactory(project__owner=user, status="CREATE_COMPLETE")
    label = LabelFactory(dataset=dataset, name="bird")
    image = ImageFactory(dataset=dataset, file_name="a.jpg", width=640, height=480)
    ImageLabelFactory(image=image, label=label)
    box = BoundingBoxFactory(image=image, label=label, left=10, top=10, width=100, height=100)
    Image.objects.filter(pk=image.pk).update(is_labeled=True)
    return {"dataset": dataset, "label": label, "image": image, "box": box}


def labeling_state(dataset) -> tuple:
    """Everything a labeling request could change, to compare before and after."""
    return (
        list(Label.objects.filter(dataset=dataset).order_by("pk").values_list("pk", "name")),
        list(ImageLabel.objects.filter(image__dataset=dataset).order_by("pk").values_list("image", "label")),
        list(BoundingBox.objects.filter(image__dataset=dataset).order_by("pk").values_list()),
        LabelingAction.objects.count(),
    )


def _gallery(o, query):
    return "get", reverse("datasets:detail", args=[o["dataset"].pk]) + query, None


def _editor(o, query):
    return "get", reverse("datasets:box_editor", args=[o["dataset"].pk]) + query, None


def _assign(o, data, name="assign"):
    return "post", reverse(f"datasets:{name}", args=[o["dataset"].pk]) + "?mode=label", data


def _box_new(o, body):
    return "json", reverse("datasets:image_boxes", args=[o["image"].pk]), body


def _box_change(o, body):
    return "json", reverse("datasets:box_change", args=[o["box"].pk]), body


def _box(o, **fields):
    return {"label": o["label"].pk, "left": 1, "top": 1, "width": 50, "height": 50, **fields}


BAD_REQUESTS = {
    "gallery name filter with a NUL": lambda o: _gallery(o, "?name=a%00.jpg"),
    "gallery label ²": lambda o: _gallery(o, f"?label={SUPERSCRIPT_TWO}"),
    "gallery label past bigint": lambda o: _gallery(o, f"?label={TOO_BIG}"),
    "gallery after ²": lambda o: _gallery(o, f"?after={SUPERSCRIPT_TWO}"),
    "gallery before ²": lambda o: _gallery(o, f"?before={SUPERSCRIPT_TWO}"),
    "gallery after past bigint": lambda o: _gallery(o, f"?after={TOO_BIG}"),
    "labeling gallery label ²": lambda o: _gallery(o, f"?mode=label&label=1{SUPERSCRIPT_TWO}"),
    "assign image ²": lambda o: _assign(o, {"image": SUPERSCRIPT_TWO, "assign_label": o["label"].pk}),
    "assign image past bigint": lambda o: _assign(o, {"image": TOO_BIG, "assign_label": o["label"].pk}),
    "assign label ²": lambda o: _assign(o, {"image": o["image"].pk, "assign_label": SUPERSCRIPT_TWO}),
    "assign label past bigint": lambda o: _assign(o, {"image": o["image"].pk, "assign_label": TOO_BIG}),
    "unassign image ²": lambda o: _assign(o, {"image": SUPERSCRIPT_TWO, "assign_label": o["label"].pk}, "unassign"),
    "unassign label ²": lambda o: _assign(o, {"image": o["image"].pk, "assign_label": SUPERSCRIPT_TWO}, "unassign"),
    "box editor images ²": lambda o: _editor(o, f"?images={SUPERSCRIPT_TWO}"),
    "box editor images past bigint": lambda o: _editor(o, f"?images={o['image'].pk},{TOO_BIG}"),
    "box editor i ²": lambda o: _editor(o, f"?images={o['image'].pk}&i={SUPERSCRIPT_TWO}"),
    "box editor i past bigint": lambda o: _editor(o, f"?images={o['image'].pk}&i={TOO_BIG}"),
    "new box at 1e308": lambda o: _box_new(o, _box(o, left=1e308, width=1e308)),
    "new box 1e308 wide": lambda o: _box_new(o, _box(o, width=1e308, height=1e308)),
    "new box at -1e308": lambda o: _box_new(o, _box(o, left=-1e308, width=1e308)),
    "new box at NaN": lambda o: _box_new(o, _box(o, left=float("nan"))),
    "new box at -Infinity": lambda o: _box_new(o, _box(o, left=float("-inf"))),
    "new box label ²": lambda o: _box_new(o, _box(o, label=SUPERSCRIPT_TWO)),
    "new box label past bigint": lambda o: _box_new(o, _box(o, label=TOO_BIG)),
    "new box nested 50,000 deep": lambda o: _box_new(o, NESTED),
    "moved box to 1e308": lambda o: _box_change(o, {"left": 1e308, "width": 1e308}),
    "moved box nested 50,000 deep": lambda o: _box_change(o, NESTED),
    "box form body at 1e308": lambda o: (
        "post",
        reverse("datasets:image_boxes", args=[o["image"].pk]),
        _box(o, left="1e308", width="1e308"),
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("probe", BAD_REQUESTS, ids=str)
def test_bad_numbers_nul_bytes_and_deep_json_are_refused_without_a_500_and_change_nothing(client_user, labeled, probe):
    method, url, data = BAD_REQUESTS[probe](labeled)
    before = labeling_state(labeled["dataset"])

    if method == "get":
        response = client_user.get(url, **HX)
    elif method == "json":
        body = data if isinstance(data, str) else json.dumps(data)
        response = client_user.post(url, body, content_type="application/json")
    else:
        response = client_user.post(url, data, **HX)

    assert response.status_code < 500, response.status_code
    if response.status_code == 400:
        assert response.json()["error"], "a refusal says why"
    assert labeling_state(labeled["dataset"]) == before


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["bi\x00rd", "\x00", "line\nbreak", "bell\x07"])
@pytest.mark.parametrize("action", ["add", "rename"])
def test_a_label_name_with_a_control_character_is_refused_with_a_message(client_user, labeled, action, name):
    before = labeling_state(labeled["dataset"])
    if action == "add":
        url = reverse("datasets:label_add", args=[labeled["dataset"].pk])
    else:
        url = reverse("datasets:label_rename", args=[labeled["label"].pk])

    response = client_user.post(url + "?mode=label", {"name": name}, **HX)

    assert response.status_code == 200
    assert "Label names can&#x27;t contain control characters." in response.content.decode()
    assert labeling_state(labeled["dataset"]) == before


@pytest.mark.django_db
def test_a_nul_in_the_file_name_filter_is_dropped(client_user, labeled):
    ImageFactory(dataset=labeled["dataset"], file_name="b.jpg", width=640, height=480)

    response = client_user.get(reverse("datasets:detail", args=[labeled["dataset"].pk]) + "?name=a%00.jpg", **HX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "a.jpg" in html and "b.jpg" not in html
    assert 'value="a.jpg"' in html


@pytest.mark.django_db
@pytest.mark.parametrize("body", [NESTED, '{"label": ' * 20_000 + "1" + "}" * 20_000])
def test_a_box_body_nested_too_deep_is_refused_with_a_message(client_user, labeled, body):
    response = client_user.post(
        reverse("datasets:image_boxes", args=[labeled["image"].pk]), body, content_type="application/json"
    )

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]


JSON_POSTED_FORMS = [
    ("datasets:create", "project", {"name": "from-json", "image_location": "s3"}, "name"),
    ("datasets:add_images", "dataset", {"s3_location": "s3://bucket/folder/"}, "s3_location"),
    ("datasets:labels_import", "dataset", {"source": "1"}, "source"),
    ("datasets:delete", "dataset", {"confirm": "delete"}, "confirm"),
    ("datasets:split", "dataset", {"name": "from-json-test"}, "name"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "target", "body", "field"), JSON_POSTED_FORMS, ids=[f[0] for f in JSON_POSTED_FORMS])
def test_a_dataset_form_posted_as_json_says_what_is_missing_and_changes_nothing(
    client_user, console_bucket, user, project, name, target, body, field
):
    dataset = DatasetFactory(project=project, name="kept", status=Dataset.Status.CREATE_COMPLETE)
    ImageFactory(dataset=dataset)
    obj = project if target == "project" else dataset

    response = client_user.post(reverse(name, args=[obj.pk]), json.dumps(body), content_type="application/json")

    assert "This field is required." in field_error(response, field)
    assert list(Dataset.objects.values_list("name", "status")) == [("kept", Dataset.Status.CREATE_COMPLETE)]
    assert dataset.images.count() == 1
