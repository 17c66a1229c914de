"""The bounding-box editor in Chromium (spec §6.5): draw, select, move, resize, delete, undo, keys.

The image is a real 640×480 PNG on the moto server, loaded by the browser through its presigned
URL; every change is checked in the database, in image pixels.
"""

import re
import time
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from datasets.models import BoundingBox
from tests.datasets.support import png_bytes
from tests.factories import BoundingBoxFactory, DatasetFactory, ImageFactory, LabelFactory

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 640, 480
TOLERANCE = 2  # image pixels; the screen shows the image scaled down


@pytest.fixture
def source_bucket(s3, make_bucket, console_bucket):
    bucket = make_bucket("source")
    for name, color in [("kitchen.png", "#d8c8a8"), ("office.png", "#a8c0d8")]:
        s3.put_object(Bucket=bucket, Key=f"devices/{name}", Body=png_bytes(WIDTH, HEIGHT, color=color))
    return bucket


@pytest.fixture
def dataset(user):
    dataset = DatasetFactory(project__owner=user, name="devices")
    # The pane lists labels by name: "echo" is key 1, "echo-dot" key 2.
    LabelFactory(dataset=dataset, name="echo-dot")
    LabelFactory(dataset=dataset, name="echo")
    return dataset


@pytest.fixture
def images(dataset, source_bucket):
    return [
        ImageFactory(
            dataset=dataset,
            file_name=name,
            source_ref=f"s3://{source_bucket}/devices/{name}",
            format="png",
            width=WIDTH,
            height=HEIGHT,
        )
        for name in ("kitchen.png", "office.png")
    ]


def editor_url(dataset, images, i=0) -> str:
    return f"{reverse('datasets:box_editor', args=[dataset.pk])}?images={','.join(str(im.pk) for im in images)}&i={i}"


def open_editor(page, url):
    page.goto(url)
    expect(page).to_have_title(re.compile(r"^Draw bounding box"))
    expect(page.locator("#editor-stage img")).to_have_js_property("naturalWidth", WIDTH)
    expect(page.locator("#zoom-level")).not_to_have_text("100%")  # fitted to the screen


class Stage:
    """Image pixels ↔ screen pixels for the displayed image."""

    def __init__(self, page):
        self.page = page
        self.rect = page.locator("#editor-stage").bounding_box()
        self.scale = self.rect["width"] / WIDTH

    def at(self, x, y) -> tuple[float, float]:
        return self.rect["x"] + x * self.scale, self.rect["y"] + y * self.scale

    def drag(self, start, end):
        mouse = self.page.mouse
        mouse.move(*self.at(*start))
        mouse.down()
        mouse.move(*self.at(*end), steps=8)
        mouse.up()

    def click(self, x, y):
        self.page.mouse.click(*self.at(x, y))


def eventually(check, timeout: float = 10):
    """check()'s result once it stops failing its assertions."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def boxes_of(image) -> list[BoundingBox]:
    return list(BoundingBox.objects.filter(image=image).select_related("label").order_by("id"))


def assert_box(box, left, top, width, height, label=None):
    got = (box.left, box.top, box.width, box.height)
    assert all(abs(a - b) <= TOLERANCE for a, b in zip(got, (left, top, width, height), strict=True)), got
    if label is not None:
        assert box.label.name == label


def no_boxes(image):
    assert boxes_of(image) == []


def only_box(image, *rect, label=None):
    def check():
        boxes = boxes_of(image)
        assert len(boxes) == 1, boxes
        assert_box(boxes[0], *rect, label=label)
        return boxes[0]

    return eventually(check)


def test_draw_move_resize_delete_undo_and_reload(page, login, user, dataset, images):
    image = images[0]
    login(page, user)
    open_editor(page, editor_url(dataset, [image]))
    stage = Stage(page)
    saved = page.locator("#save-state")

    stage.drag((100, 80), (300, 240))
    drawn = only_box(image, 100, 80, 200, 160, label="echo")
    expect(saved).to_have_text("All changes saved")
    expect(page.locator(".bbox")).to_have_count(1)
    expect(page.locator(".bbox-tag")).to_have_text("echo")

    stage.click(200, 160)
    expect(page.locator(".bbox.selected")).to_have_count(1)
    expect(page.locator(".bbox.selected .handle")).to_have_count(4)

    stage.drag((200, 160), (250, 190))
    moved = only_box(image, 150, 110, 200, 160)
    assert moved.pk == drawn.pk

    stage.drag((moved.left + moved.width, moved.top + moved.height), (400, 300))
    only_box(image, 150, 110, 250, 190)

    page.keyboard.press("Delete")
    eventually(lambda: no_boxes(image))
    expect(page.locator(".bbox")).to_have_count(0)
    expect(saved).to_have_text("All changes saved")

    page.get_by_role("button", name="Undo").click()
    restored = only_box(image, 150, 110, 250, 190, label="echo")
    assert restored.pk == drawn.pk
    expect(page.locator(".bbox")).to_have_count(1)
    expect(saved).to_have_text(re.compile(r"^Undone: Delete a box on kitchen\.png"))

    stage.click(250, 200)
    page.keyboard.press("Backspace")
    expect(page.locator(".bbox")).to_have_count(0)
    stage.drag((420, 310), (620, 460))
    kept = only_box(image, 420, 310, 200, 150, label="echo")
    expect(saved).to_have_attribute("data-state", "saved")

    page.reload()
    expect(page.locator(".bbox")).to_have_count(1)
    stage = Stage(page)
    shown = page.locator(".bbox").bounding_box()
    left, top = stage.at(kept.left, kept.top)
    assert abs(shown["x"] - left) <= TOLERANCE and abs(shown["y"] - top) <= TOLERANCE, shown
    assert abs(shown["width"] - kept.width * stage.scale) <= TOLERANCE, shown
    expect(page.locator(".bbox-tag")).to_have_text("echo")

    page.keyboard.press("2")
    expect(page.get_by_label("echo-dot")).to_be_checked()
    stage.drag((20, 20), (120, 100))

    def two_boxes():
        boxes = boxes_of(image)
        assert len(boxes) == 2, boxes
        assert_box(boxes[1], 20, 20, 100, 80, label="echo-dot")
        assert boxes[0].label.name == "echo"

    eventually(two_boxes)


def test_keys_relabel_the_selected_box_or_go_to_the_next_image(page, login, user, dataset, images):
    first, second = images
    login(page, user)
    open_editor(page, editor_url(dataset, images))
    stage = Stage(page)
    stage.drag((50, 50), (250, 200))
    only_box(first, 50, 50, 200, 150, label="echo")

    stage.click(150, 120)
    page.keyboard.press("2")
    only_box(first, 50, 50, 200, 150, label="echo-dot")
    expect(page.locator(".bbox-tag")).to_have_text("echo-dot")
    expect(page.get_by_label("echo", exact=True)).to_be_checked()

    page.keyboard.press("ArrowRight")  # a box is selected: this stays on the image
    expect(page.locator(".editor-position")).to_contain_text("Image 1 of 2")
    page.keyboard.press("Escape")
    expect(page.locator(".bbox.selected")).to_have_count(0)
    page.keyboard.press("ArrowRight")
    expect(page.locator(".editor-position")).to_contain_text("Image 2 of 2: office.png")
    expect(page.locator(".bbox")).to_have_count(0)

    page.get_by_role("button", name="Previous").click()
    expect(page.locator(".editor-position")).to_contain_text("Image 1 of 2: kitchen.png")
    expect(page.locator(".bbox")).to_have_count(1)
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".editor-position")).to_contain_text("Image 2 of 2")

    page.get_by_role("button", name="Done").click()
    page.wait_for_url(re.compile(r"/datasets/\d+/\?mode=label$"))
    assert urlsplit(page.url).path == reverse("datasets:detail", args=[dataset.pk])


def test_a_refused_box_shows_the_servers_message_and_is_taken_back(page, login, user, dataset, images):
    image = images[0]
    label = dataset.labels.get(name="echo")
    BoundingBox.objects.bulk_create(
        [BoundingBox(image=image, label=label, left=10 * i, top=5, width=8, height=8) for i in range(50)]
    )
    login(page, user)
    open_editor(page, editor_url(dataset, [image]))
    expect(page.locator(".bbox")).to_have_count(50)

    Stage(page).drag((100, 200), (300, 400))

    expect(page.locator("#save-state")).to_have_text("There are more bounding boxes than the allowed maximum (50).")
    expect(page.locator(".bbox")).to_have_count(50)
    assert image.boxes.count() == 50


def test_zoom_buttons_and_ctrl_wheel_scale_the_image_and_fit_restores_it(page, login, user, dataset, images):
    login(page, user)
    open_editor(page, editor_url(dataset, images[:1]))
    stage = page.locator("#editor-stage")
    fitted = stage.bounding_box()["width"]

    page.get_by_role("button", name="Zoom in").click()
    assert stage.bounding_box()["width"] == pytest.approx(fitted * 1.25, abs=1)
    page.get_by_role("button", name="Zoom out").click()
    page.get_by_role("button", name="Zoom out").click()
    assert stage.bounding_box()["width"] == pytest.approx(fitted / 1.25, abs=1)

    page.mouse.move(*Stage(page).at(320, 240))
    page.keyboard.down("Control")
    page.mouse.wheel(0, -300)
    page.keyboard.up("Control")

    def zoomed_in():
        assert stage.bounding_box()["width"] > fitted * 1.1

    eventually(zoomed_in)

    page.get_by_role("button", name="Fit").click()
    assert stage.bounding_box()["width"] == pytest.approx(fitted, abs=1)


@pytest.mark.parametrize("viewport", [(1400, 1000), (760, 700)])
def test_a_list_of_fifty_boxes_scrolls_inside_the_labels_pane_of_an_editor_that_fits_the_window(
    page, login, user, dataset, images, viewport
):
    image = images[0]
    echo = dataset.labels.get(name="echo")
    for i in range(50):
        BoundingBoxFactory(image=image, label=echo, left=5 + i * 11, top=5 + i * 8, width=40, height=30)
    width, height = viewport  # 760 wide: the toolbar takes two lines
    page.set_viewport_size({"width": width, "height": height})
    login(page, user)
    open_editor(page, editor_url(dataset, [image]))
    items = page.locator("#box-list li")
    expect(items).to_have_count(50)

    sizes = page.evaluate(
        """() => {
            const pane = document.querySelector(".editor-labels").getBoundingClientRect();
            const list = document.getElementById("box-list");
            return {
                pane_bottom: pane.bottom,
                list_bottom: list.getBoundingClientRect().bottom,
                list_scroll: list.scrollHeight,
                list_client: list.clientHeight,
                page_scroll: document.documentElement.scrollHeight,
            };
        }"""
    )
    assert sizes["list_scroll"] > sizes["list_client"], sizes  # the list scrolls in its place...
    assert sizes["list_bottom"] <= sizes["pane_bottom"] <= height, sizes  # ...inside a pane that ends in view
    assert sizes["page_scroll"] <= height, sizes  # and the page itself does not scroll

    items.last.get_by_role("button").click()
    expect(items.last.get_by_role("button")).to_be_in_viewport(ratio=1)
    expect(page.get_by_role("heading", name="Labels", exact=True)).to_be_in_viewport(ratio=1)
    expect(page.get_by_label("echo-dot")).to_be_in_viewport(ratio=1)
