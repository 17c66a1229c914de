"""'Select all N images that match this filter' in Chromium: offered only once the whole page is
selected and more images match than the page shows; it selects every matching image, across pages,
until any image is deselected."""

import pytest
from playwright.sync_api import expect

from datasets.models import Image, ImageLabel
from datasets.selectors import PAGE_SIZE
from tests.factories import DatasetFactory, ImageFactory, LabelFactory

pytestmark = pytest.mark.browser

TOTAL = PAGE_SIZE + 10


@pytest.fixture
def dataset(user, console_bucket):
    dataset = DatasetFactory(project__owner=user, name="devices")
    for i in range(TOTAL):
        ImageFactory(dataset=dataset, file_name=f"img-{i:03}.jpg")
    LabelFactory(dataset=dataset, name="echo")
    return dataset


def open_labeling(page, login, user, dataset):
    page.set_viewport_size({"width": 1400, "height": 1000})
    login(page, user)
    page.goto(f"/datasets/{dataset.pk}/?mode=label")
    expect(page.locator("#selection-form .card")).to_have_count(PAGE_SIZE)


def test_select_all_matching_is_offered_only_once_the_whole_page_is_selected(page, login, user, dataset):
    open_labeling(page, login, user, dataset)
    select_matching = page.get_by_role("button", name=f"Select all {TOTAL} images that match this filter")

    expect(page.locator("#selected-count")).to_have_text("0 selected")
    expect(select_matching).to_be_hidden()
    page.locator("#selection-form .card").first.click()
    expect(page.locator("#selected-count")).to_have_text("1 selected")
    expect(select_matching).to_be_hidden()

    page.get_by_label("Select all on this page").check()
    expect(page.locator("#selected-count")).to_have_text(f"{PAGE_SIZE} selected")
    expect(select_matching).to_be_visible()
    expect(page.locator("#matching-banner")).to_be_hidden()


def test_select_all_matching_assigns_a_label_to_every_matching_image_across_pages(page, login, user, dataset):
    open_labeling(page, login, user, dataset)
    page.get_by_label("Select all on this page").check()
    page.get_by_role("button", name=f"Select all {TOTAL} images that match this filter").click()

    expect(page.locator("#selected-count")).to_have_text(f"{TOTAL} selected")
    banner = page.locator("#matching-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(f"All {TOTAL} images that match this filter are selected.")
    expect(page.locator("#select-matching")).to_be_hidden()

    page.get_by_role("button", name="Assign labels").click()
    dialog = page.get_by_role("dialog", name="Assign a label to selected images")
    dialog.get_by_label("echo", exact=True).check()
    dialog.get_by_role("button", name="Assign").click()

    expect(page.locator("#save-state")).to_contain_text(f"Saved: {TOTAL} label assignments added.")
    assert ImageLabel.objects.filter(label__name="echo").count() == TOTAL
    assert not Image.objects.filter(dataset=dataset, is_labeled=False).exists()
    # The gallery comes back with the whole filter still selected, and says so.
    expect(page.locator("#selected-count")).to_have_text(f"{TOTAL} selected")
    expect(banner).to_be_visible()
    expect(page.locator("#selection-form .card.selected")).to_have_count(PAGE_SIZE)


@pytest.mark.parametrize("deselect", ["untick a card", "untick the page", "clear selection"])
def test_any_deselect_ends_the_select_all_matching_state(page, login, user, dataset, deselect):
    open_labeling(page, login, user, dataset)
    page.get_by_label("Select all on this page").check()
    page.get_by_role("button", name=f"Select all {TOTAL} images that match this filter").click()
    expect(page.locator("#selected-count")).to_have_text(f"{TOTAL} selected")

    if deselect == "untick a card":
        page.locator("#selection-form .card").nth(3).click()
        expected = PAGE_SIZE - 1
    elif deselect == "untick the page":
        page.get_by_label("Select all on this page").uncheck()
        expected = 0
    else:
        page.get_by_role("button", name="Clear selection").click()
        expected = 0

    expect(page.locator("#selected-count")).to_have_text(f"{expected} selected")
    expect(page.locator("#matching-banner")).to_be_hidden()
    expect(page.locator("#all-matching")).to_have_value("")
    expect(page.locator("#select-matching")).to_be_hidden()


def test_select_all_matching_is_not_offered_when_the_page_shows_every_matching_image(page, login, user, dataset):
    open_labeling(page, login, user, dataset)
    page.locator("#filter-form").get_by_label("File name contains").fill("img-00")
    page.locator("#filter-form").get_by_label("File name contains").press("Enter")
    expect(page.locator("#selection-form .card")).to_have_count(10)

    page.get_by_label("Select all on this page").check()

    expect(page.locator("#selected-count")).to_have_text("10 selected")
    expect(page.locator("#select-matching")).to_be_hidden()
