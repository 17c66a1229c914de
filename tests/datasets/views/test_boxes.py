"""The bounding-box editor's page and JSON endpoints (spec §4 box limits, §6.5), through the test client."""

import json
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from datasets import labeling
from datasets.models import BoundingBox, Image, LabelingAction
from tests.factories import BoundingBoxFactory, DatasetFactory, ImageFactory, LabelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _console_bucket(console_bucket):
    """Console pages need the region's console bucket (spec §8.1)."""


@pytest.fixture
def dataset(user):
    return DatasetFactory(project__owner=user)


@pytest.fixture
def echo(dataset):
    return LabelFactory(dataset=dataset, name="echo")


@pytest.fixture
def dot(dataset):
    return LabelFactory(dataset=dataset, name="dot")


@pytest.fixture
def image(dataset):
    return ImageFactory(dataset=dataset, width=640, height=480, source_ref="s3://source-bucket/devices/echo-1.jpg")


def echo_box(echo, left, top, width, height, *, id=0) -> dict:
    """A box of the label echo as the endpoints answer it."""
    return {
        "id": id,
        "label": echo.pk,
        "label_name": "echo",
        "left": left,
        "top": top,
        "width": width,
        "height": height,
    }


def boxes_url(image) -> str:
    return reverse("datasets:image_boxes", args=[image.pk])


def box_url(box) -> str:
    return reverse("datasets:box_change", args=[box.pk])


def delete_url(box) -> str:
    return reverse("datasets:box_delete", args=[box.pk])


def editor_url(dataset, *images, i=None) -> str:
    query = f"?images={','.join(str(im.pk) for im in images)}" + (f"&i={i}" if i is not None else "")
    return reverse("datasets:box_editor", args=[dataset.pk]) + query


def post_json(client, url, data, **kwargs):
    return client.post(url, json.dumps(data), content_type="application/json", **kwargs)


# --- drawing, moving, resizing, relabeling, deleting --------------------------------------------


def test_drawing_a_box_saves_it_in_image_pixels_and_answers_with_it(client_user, image, echo):
    response = post_json(
        client_user, boxes_url(image), {"label": echo.pk, "left": 100, "top": 80, "width": 200, "height": 160}
    )

    assert response.status_code == 201
    box = image.boxes.get()
    assert response.json() == echo_box(echo, 100, 80, 200, 160, id=box.pk)
    assert Image.objects.get(pk=image.pk).is_labeled


def test_a_box_can_be_posted_as_a_form_with_fractional_pixels(client_user, image, echo):
    response = client_user.post(
        boxes_url(image), {"label": echo.pk, "left": "10.4", "top": "20.6", "width": "50.2", "height": "30"}
    )

    assert response.status_code == 201
    assert response.json() | {"id": 0} == echo_box(echo, 10, 21, 51, 30)


def test_a_box_past_the_edges_is_kept_inside_the_image(client_user, image, echo):
    response = post_json(
        client_user, boxes_url(image), {"label": echo.pk, "left": -40, "top": 400, "width": 1000, "height": 500}
    )

    assert response.status_code == 201
    assert {k: response.json()[k] for k in ("left", "top", "width", "height")} == {
        "left": 0,
        "top": 400,
        "width": 640,
        "height": 80,
    }


def test_listing_an_images_boxes_gives_them_with_the_image_size(client_user, image, echo, dot):
    first = BoundingBoxFactory(image=image, label=echo, left=1, top=2, width=30, height=40)
    second = BoundingBoxFactory(image=image, label=dot, left=100, top=100, width=10, height=10)

    response = client_user.get(boxes_url(image))

    assert response.status_code == 200
    assert response.json() == {
        "boxes": [
            {"id": first.pk, "label": echo.pk, "label_name": "echo", "left": 1, "top": 2, "width": 30, "height": 40},
            {"id": second.pk, "label": dot.pk, "label_name": "dot", "left": 100, "top": 100, "width": 10, "height": 10},
        ],
        "width": 640,
        "height": 480,
    }


def test_moving_a_box_keeps_its_size_and_stays_inside_the_image(client_user, image, echo):
    box = BoundingBoxFactory(image=image, label=echo, left=10, top=20, width=100, height=80)

    response = post_json(client_user, box_url(box), {"left": 600, "top": 30, "width": 100, "height": 80})

    assert response.status_code == 200
    # Clamped by the right edge: the part past it is cut off, as the service does.
    assert response.json() | {"id": 0} == echo_box(echo, 600, 30, 40, 80)
    box.refresh_from_db()
    assert (box.left, box.top, box.width, box.height) == (600, 30, 40, 80)


def test_resizing_a_box_saves_its_new_size(client_user, image, echo):
    box = BoundingBoxFactory(image=image, label=echo, left=10, top=20, width=100, height=80)

    response = post_json(client_user, box_url(box), {"left": 10, "top": 20, "width": 250, "height": 190})

    assert response.status_code == 200
    box.refresh_from_db()
    assert (box.left, box.top, box.width, box.height) == (10, 20, 250, 190)


def test_relabeling_a_box_keeps_where_it_is(client_user, image, echo, dot):
    box = BoundingBoxFactory(image=image, label=echo, left=10, top=20, width=100, height=80)

    response = client_user.post(box_url(box), {"label": dot.pk})

    assert response.status_code == 200
    assert response.json()["label_name"] == "dot"
    box.refresh_from_db()
    assert (box.label, box.left, box.top, box.width, box.height) == (dot, 10, 20, 100, 80)


def test_deleting_a_box_removes_it_and_unlabels_an_image_left_without_labels(client_user, image, echo):
    box = BoundingBoxFactory(image=image, label=echo)

    response = client_user.post(delete_url(box))

    assert response.status_code == 200
    assert response.json() == {"deleted": box.pk}
    assert not BoundingBox.objects.filter(pk=box.pk).exists()
    assert not Image.objects.get(pk=image.pk).is_labeled


def test_each_change_can_be_undone_in_turn(client_user, user, dataset, image, echo):
    created = post_json(
        client_user, boxes_url(image), {"label": echo.pk, "left": 1, "top": 1, "width": 50, "height": 50}
    )
    box = BoundingBox.objects.get(pk=created.json()["id"])
    post_json(client_user, box_url(box), {"left": 100, "top": 100, "width": 50, "height": 50})
    client_user.post(delete_url(box))

    assert [a.kind for a in LabelingAction.objects.order_by("id")] == ["BOX_ADD", "BOX_CHANGE", "BOX_DELETE"]
    labeling.labeling_undo(dataset=dataset, user=user)
    assert BoundingBox.objects.get(pk=box.pk).left == 100
    labeling.labeling_undo(dataset=dataset, user=user)
    assert BoundingBox.objects.get(pk=box.pk).left == 1


# --- refusals -------------------------------------------------------------------------------


def test_the_51st_box_is_refused_with_the_console_message_and_code(client_user, image, echo):
    BoundingBox.objects.bulk_create(
        [BoundingBox(image=image, label=echo, left=i, top=i, width=10, height=10) for i in range(50)]
    )

    response = post_json(
        client_user, boxes_url(image), {"label": echo.pk, "left": 1, "top": 1, "width": 50, "height": 50}
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "There are more bounding boxes than the allowed maximum (50).",
        "code": "ERROR_TOO_MANY_BOUNDING_BOXES",
    }
    assert image.boxes.count() == 50


@pytest.mark.parametrize("width, height", [(1, 50), (50, 1), (0.4, 0.4), (0, 0)])
def test_a_box_of_1_pixel_or_less_is_refused_as_too_small(client_user, image, echo, width, height):
    response = post_json(
        client_user, boxes_url(image), {"label": echo.pk, "left": 5, "top": 5, "width": width, "height": height}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "ERROR_BOUNDING_BOX_TOO_SMALL"
    assert not image.boxes.exists()


def test_a_box_moved_off_the_image_is_refused_as_off_frame_and_stays_where_it_was(client_user, image, echo):
    box = BoundingBoxFactory(image=image, label=echo, left=10, top=20, width=100, height=80)

    response = post_json(client_user, box_url(box), {"left": 700, "top": 20, "width": 100, "height": 80})

    assert response.status_code == 400
    assert response.json()["code"] == "ERROR_INVALID_BOUNDING_BOX"
    box.refresh_from_db()
    assert (box.left, box.top) == (10, 20)


def test_a_label_of_another_dataset_is_refused(client_user, user, image):
    elsewhere = LabelFactory(dataset=DatasetFactory(project__owner=user), name="elsewhere")

    response = post_json(
        client_user, boxes_url(image), {"label": elsewhere.pk, "left": 1, "top": 1, "width": 9, "height": 9}
    )

    assert response.status_code == 400
    assert response.json() == {"error": "Choose a label of this dataset.", "code": "InvalidParameterException"}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"label": None}, "Choose a label for the bounding box."),
        ({"label": "echo"}, "Choose a label of this dataset."),
        ({"label": 10**20}, "Choose a label of this dataset."),
        ({"left": "a"}, "left: Enter a number."),
        ({"left": [1]}, "left: Enter a number."),
        ({"width": "NaN"}, "width: Enter a number."),
        ({"height": "Infinity"}, "height: Enter a number."),
        ({"top": None}, "top: This field is required."),
        ({"left": 1e308, "width": 1e308}, "left: must be at most 1000000 pixels."),
        ({"width": -1e308}, "width: must be at least -1000000 pixels."),
        ({"left": "1e309"}, "left: Enter a number."),
        ({"label": "²"}, "Choose a label of this dataset."),
    ],
)
def test_a_malformed_box_is_refused_with_a_message(client_user, image, echo, changes, message):
    body = {"label": echo.pk, "left": 1, "top": 1, "width": 9, "height": 9} | changes

    response = post_json(client_user, boxes_url(image), {k: v for k, v in body.items() if v is not None})

    assert response.status_code == 400
    assert response.json() == {"error": message, "code": "InvalidParameterException"}
    assert not image.boxes.exists()


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", "[" * 50_000 + "]" * 50_000])
def test_a_body_that_is_not_a_json_object_is_refused(client_user, image, body):
    response = client_user.post(boxes_url(image), body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "InvalidParameterException"


# --- who may do what ------------------------------------------------------------------------


@pytest.fixture
def others_box(other_user):
    image = ImageFactory(dataset__project__owner=other_user, is_labeled=True)
    return BoundingBoxFactory(
        image=image, label=LabelFactory(dataset=image.dataset), left=5, top=5, width=50, height=50
    )


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("endpoint", ["image_boxes", "box_change", "box_delete", "box_editor"])
def test_another_users_images_and_boxes_are_not_found_on_any_endpoint(client_user, others_box, method, endpoint):
    url = {
        "image_boxes": boxes_url(others_box.image),
        "box_change": box_url(others_box),
        "box_delete": delete_url(others_box),
        "box_editor": editor_url(others_box.image.dataset, others_box.image),
    }[endpoint]
    body = {"label": others_box.label_id, "left": 0, "top": 0, "width": 2, "height": 2}

    response = getattr(client_user, method)(url, body)

    assert response.status_code == (
        405 if (method, endpoint) in {("get", "box_change"), ("get", "box_delete"), ("post", "box_editor")} else 404
    )
    assert BoundingBox.objects.filter(pk=others_box.pk, left=5, width=50).exists()
    assert others_box.image.boxes.count() == 1


def test_another_users_box_is_not_found_even_with_a_write_method(client_user, others_box):
    for url in (box_url(others_box), delete_url(others_box), boxes_url(others_box.image)):
        response = post_json(
            client_user, url, {"label": others_box.label_id, "left": 1, "top": 1, "width": 9, "height": 9}
        )
        assert response.status_code == 404, url
    assert BoundingBox.objects.filter(pk=others_box.pk, left=5).exists()


@pytest.mark.parametrize("url_of", [box_url, delete_url])
def test_write_endpoints_refuse_get(client_user, image, echo, url_of):
    box = BoundingBoxFactory(image=image, label=echo)

    response = client_user.get(url_of(box))

    assert response.status_code == 405
    assert BoundingBox.objects.filter(pk=box.pk).exists()


def test_writes_need_the_csrf_token(user, image, echo):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    body = {"label": echo.pk, "left": 1, "top": 1, "width": 50, "height": 50}

    assert post_json(client, boxes_url(image), body).status_code == 403
    client.get(editor_url(image.dataset, image))  # sets the csrftoken cookie, as the page does
    token = client.cookies["csrftoken"].value
    assert post_json(client, boxes_url(image), body, headers={"X-CSRFToken": token}).status_code == 201


# --- the editor page ------------------------------------------------------------------------


class _PageParser(HTMLParser):
    """The page's label radios, the <label>s pointing at them, its title, image and buttons."""

    def __init__(self):
        super().__init__()
        self.radios: dict[str, str] = {}
        self.label_for: dict[str, str] = {}
        self.buttons: dict[str, dict] = {}
        self.image_src = ""
        self.title = ""
        self._label: str | None = None
        self._button: dict | None = None
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "radio":
            self.radios[attrs["id"]] = attrs["value"]
        elif tag == "label" and "for" in attrs:
            self._label = attrs["for"]
            self.label_for[self._label] = ""
        elif tag == "img":
            self.image_src = attrs["src"]
        elif tag == "button":
            self._button = {**attrs, "text": ""}
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "label":
            self._label = None
        elif tag == "button" and self._button is not None:
            self.buttons[self._button["text"].strip()] = self._button
            self._button = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._label:
            self.label_for[self._label] += data.strip()
        if self._button is not None:
            self._button["text"] += data
        if self._in_title:
            self.title += data


def parse(response) -> _PageParser:
    parser = _PageParser()
    parser.feed(response.content.decode())
    return parser


def test_the_editor_lists_the_labels_as_radios_with_labels_and_shows_the_presigned_image(
    client_user, s3_server, dataset, image, echo, dot
):
    response = client_user.get(editor_url(dataset, image))

    assert response.status_code == 200
    page = parse(response)
    assert page.title.startswith("Draw bounding box")
    assert {page.label_for[radio_id]: value for radio_id, value in page.radios.items()} == {
        "dot": str(dot.pk),
        "echo": str(echo.pk),
    }
    assert page.image_src.startswith(f"{s3_server}/source-bucket/devices/echo-1.jpg?")
    assert "X-Amz-Signature=" in page.image_src
    assert b'<script type="module"' in response.content


def test_the_editor_hands_its_script_the_images_boxes_and_endpoints(client_user, dataset, image, echo):
    box = BoundingBoxFactory(image=image, label=echo, left=3, top=4, width=30, height=40)

    response = client_user.get(editor_url(dataset, image))

    editor = response.context["editor"]
    assert editor["image"] == {"id": image.pk, "width": 640, "height": 480}
    assert editor["labels"] == [{"id": echo.pk, "name": "echo"}]
    assert editor["boxes"] == [
        {"id": box.pk, "label": echo.pk, "label_name": "echo", "left": 3, "top": 4, "width": 30, "height": 40}
    ]
    urls = editor["urls"]
    assert urls["boxes"] == boxes_url(image)
    assert urls["box"].replace("{id}", str(box.pk)) == box_url(box)
    assert urls["box_delete"].replace("{id}", str(box.pk)) == delete_url(box)
    assert urls["undo"] == reverse("datasets:undo", args=[dataset.pk])
    assert 'id="box-editor-data"' in response.content.decode()


def test_the_editor_goes_through_the_selected_images_in_order(client_user, dataset, echo):
    first, second, third = (ImageFactory(dataset=dataset) for _ in range(3))

    pages = [parse(client_user.get(editor_url(dataset, third, first, second, i=i))) for i in range(3)]

    shown = [client_user.get(editor_url(dataset, third, first, second, i=i)).context["image"] for i in range(3)]
    assert shown == [third, first, second]
    assert "disabled" in pages[0].buttons["Previous"] and pages[0].buttons["Next"]["value"] == "1"
    assert pages[1].buttons["Previous"]["value"] == "0" and pages[1].buttons["Next"]["value"] == "2"
    assert pages[2].buttons["Previous"]["value"] == "1" and "disabled" in pages[2].buttons["Next"]
    assert "Done" in pages[0].buttons


def test_the_editor_answers_the_next_and_done_forms_as_links_would(client_user, dataset, image, echo):
    other = ImageFactory(dataset=dataset)
    html = client_user.get(editor_url(dataset, image, other)).content.decode()

    assert f'action="{reverse("datasets:box_editor", args=[dataset.pk])}"' in html
    assert f'name="images" value="{image.pk},{other.pk}"' in html
    assert f'action="{reverse("datasets:detail", args=[dataset.pk])}"' in html
    assert 'name="mode" value="label"' in html


def test_an_index_past_the_end_shows_the_last_image(client_user, dataset, image, echo):
    other = ImageFactory(dataset=dataset)

    response = client_user.get(editor_url(dataset, image, other, i=99))

    assert response.context["image"] == other
    assert response.context["position"] == 2


@pytest.mark.parametrize("i", ["²", "-1", "9" * 19])
def test_an_index_that_is_not_a_number_shows_the_first_image(client_user, dataset, image, echo, i):
    other = ImageFactory(dataset=dataset)

    response = client_user.get(editor_url(dataset, image, other, i=i))

    assert response.context["image"] == image


def test_the_editor_without_labels_says_to_add_one_first(client_user, dataset, image):
    response = client_user.get(editor_url(dataset, image))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Before you can add bounding boxes, you must add at least one label to the dataset." in html
    assert f'href="{reverse("datasets:detail", args=[dataset.pk])}?mode=label"' in html
    assert "box-editor.js" not in html


@pytest.mark.parametrize("images", ["abc", "1;2", "-1", "²", "9" * 19])
def test_image_ids_that_are_not_numbers_are_not_found(client_user, dataset, image, echo, images):
    url = reverse("datasets:box_editor", args=[dataset.pk]) + f"?images={images}"

    assert client_user.get(url).status_code == 404


def test_images_of_another_dataset_are_not_found_in_the_editor(client_user, user, dataset, image, echo):
    elsewhere = ImageFactory(dataset=DatasetFactory(project__owner=user))

    assert client_user.get(editor_url(dataset, image, elsewhere)).status_code == 404
    assert client_user.get(editor_url(elsewhere.dataset, elsewhere)).status_code == 200


def test_the_editor_with_no_images_selected_returns_to_the_gallery_in_labeling_mode(client_user, dataset):
    response = client_user.get(reverse("datasets:box_editor", args=[dataset.pk]))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('datasets:detail', args=[dataset.pk])}?mode=label"
