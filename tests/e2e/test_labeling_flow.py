"""A person labels images in the gallery in Chromium: shift-click a range, press a number key, reload."""

import pytest
from playwright.sync_api import expect

from datasets.models import Image, ImageLabel
from tests.factories import DatasetFactory, ImageFactory, LabelFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def dataset(user, console_bucket):
    dataset = DatasetFactory(project__owner=user, name="devices", status="CREATE_COMPLETE")
    for i in range(8):
        ImageFactory(dataset=dataset, file_name=f"img-{i}.jpg", width=640, height=480)
    LabelFactory(dataset=dataset, name="echo")
    LabelFactory(dataset=dataset, name="echo-dot")
    return dataset


def test_shift_select_a_range_and_assign_a_label_with_a_number_key(page, login, user, dataset):
    login(page, user)
    page.goto(f"/datasets/{dataset.pk}/")
    page.get_by_role("link", name="Start labeling").click()
    expect(page.get_by_role("button", name="Assign labels")).to_be_visible()

    cards = page.locator("#selection-form .card")
    cards.nth(1).click()
    cards.nth(4).click(modifiers=["Shift"])
    expect(page.locator("#selected-count")).to_have_text("4 selected")

    page.keyboard.press("2")  # the second label of the pane: echo-dot
    expect(page.locator("#save-state")).to_contain_text("Saved: 4 label assignments added.")
    expect(page.locator("#selected-count")).to_have_text("4 selected")

    page.reload()
    for i in range(8):
        card = page.locator(".card", has_text=f"img-{i}.jpg")
        if 1 <= i <= 4:
            expect(card.locator(".label-name")).to_have_text("echo-dot")
        else:
            expect(card.locator(".unlabeled")).to_be_visible()
    expect(page.locator("[data-stat=labeled]")).to_have_text("4")
    assert ImageLabel.objects.filter(label__name="echo-dot").count() == 4


def test_assign_labels_dialog_select_all_matching_and_undo(page, login, user, dataset):
    login(page, user)
    page.goto(f"/datasets/{dataset.pk}/?mode=label")
    page.get_by_label("Select all on this page").check()
    expect(page.locator("#selected-count")).to_have_text("8 selected")
    page.get_by_role("button", name="Assign labels").click()
    dialog = page.get_by_role("dialog", name="Assign a label to selected images")
    dialog.get_by_label("echo", exact=True).check()
    dialog.get_by_role("button", name="Assign").click()
    expect(page.locator("#save-state")).to_contain_text("Saved: 8 label assignments added.")
    assert Image.objects.filter(dataset=dataset, is_labeled=True).count() == 8

    page.get_by_role("button", name="Undo").click()
    expect(page.locator("#save-state")).to_contain_text("Undone: Assign echo")
    expect(page.locator("[data-stat=labeled]")).to_have_text("0")

    # a single label comes off its card
    page.locator(".card").first.click()
    page.keyboard.press("1")
    expect(page.locator("#save-state")).to_contain_text("Saved: 1 label assignment added.")
    page.get_by_role("button", name="Remove label echo from img-0.jpg").click()
    expect(page.locator("#save-state")).to_contain_text("Saved: removed echo from img-0.jpg.")
    assert not ImageLabel.objects.exists()


def test_filter_by_several_labels_lives_in_the_url(page, login, user, dataset):
    login(page, user)
    page.goto(f"/datasets/{dataset.pk}/?mode=label")
    page.locator(".card").nth(0).click()
    page.keyboard.press("1")
    expect(page.locator("#save-state")).to_contain_text("Saved")
    page.locator(".card").nth(0).click()  # deselect
    page.locator(".card").nth(5).click()
    page.keyboard.press("2")
    expect(page.locator("#save-state")).to_contain_text("Saved")

    page.locator("#filter-form").get_by_label("echo", exact=True).check()
    expect(page.locator("#selection-form .card")).to_have_count(1)
    page.locator("#filter-form").get_by_label("echo-dot", exact=True).check()
    expect(page.locator("#selection-form .card")).to_have_count(2)
    assert "label=" in page.url and "mode=label" in page.url
    page.reload()
    expect(page.locator("#selection-form .card")).to_have_count(2)
    page.go_back()
    expect(page.locator("#selection-form .card")).to_have_count(1)
