"""The dataset page as a person sees it at 1400×1000 in Chromium: the gallery first once an import has
finished, a failed dataset's actions, the Add images dialog without JavaScript, the cards' box counts."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from datasets.models import Dataset, ImportReportItem
from tests.datasets.support import failed_dataset
from tests.factories import (
    PASSWORD,
    BoundingBoxFactory,
    DatasetFactory,
    ImageFactory,
    ImageLabelFactory,
    ImportJobFactory,
    LabelFactory,
)

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1400, "height": 1000}


@pytest.fixture
def imported(user, console_bucket):
    """A dataset created from one S3 folder with automatic labeling, then given the images of a second
    folder ("Add images from S3"): 30 images found, 24 imported, 6 other objects skipped."""
    dataset = DatasetFactory(
        project__owner=user,
        name="devices",
        status=Dataset.Status.UPDATE_COMPLETE,
        status_message="The images of s3://source-bucket/more/ were added.",
        status_message_code="",
    )
    labels = [LabelFactory(dataset=dataset, name=name) for name in ("echo", "echo-dot", "echo-show", "echo-studio")]
    first = ImportJobFactory(dataset=dataset, found=4, message="4 imported, 0 skipped (not images).")
    job = ImportJobFactory(dataset=dataset, found=30, skipped=6, message="24 imported, 6 skipped (not images).")
    for i in range(6):
        ImportReportItem.objects.create(job=job, key=f"more/notes-{i}.txt", reason="Not a .jpg, .jpeg or .png file")
    for i in range(28):
        image = ImageFactory(
            dataset=dataset, import_job=first if i < 4 else job, file_name=f"img-{i:02}.jpg", is_labeled=True
        )
        ImageLabelFactory(image=image, label=labels[i % 4])
    return dataset


def test_after_a_finished_import_the_first_image_is_in_view_beside_a_one_line_summary(page, login, user, imported):
    page.set_viewport_size(VIEWPORT)
    login(page, user)
    page.goto(reverse("datasets:detail", args=[imported.pk]))
    expect(page.locator("#import-jobs tbody tr")).to_have_count(2)  # loaded by htmx: it must not push the gallery down

    first = page.locator("#gallery .card").first
    expect(first).to_be_in_viewport(ratio=1)
    assert first.bounding_box()["y"] + first.bounding_box()["height"] <= VIEWPORT["height"]
    summary = page.get_by_role("region", name="Last import")
    expect(summary).to_contain_text("Succeeded — 24 imported, 6 skipped (not images).")
    expect(summary).to_contain_text("30 found, 24 imported, 6 skipped, 0 with errors")
    assert summary.bounding_box()["height"] < 60  # one line

    summary.get_by_text("Skipped objects (6)").click()
    expect(summary.get_by_text("more/notes-5.txt")).to_be_visible()
    summary.get_by_role("link", name="View import jobs").click()
    expect(page).to_have_url(reverse("datasets:import_jobs", args=[imported.pk]))
    expect(page.locator("#import-jobs table")).to_be_visible()


def test_a_failed_dataset_offers_retry_import_and_delete_dataset_and_nothing_that_cannot_succeed(
    page, login, user, console_bucket
):
    dataset = failed_dataset(owner=user)
    page.set_viewport_size(VIEWPORT)
    login(page, user)
    page.goto(reverse("datasets:detail", args=[dataset.pk]))

    expect(page.locator("#dataset-status")).to_have_text("CREATE_FAILED")
    expect(page.get_by_role("button", name="Retry import")).to_be_visible()
    expect(page.get_by_role("link", name="Delete dataset")).to_be_visible()
    for offer in ("+ Add images", "Add images from S3", "Download manifest", "Create test dataset"):
        expect(page.get_by_role("link", name=offer)).to_have_count(0)
        expect(page.get_by_role("button", name=offer)).to_have_count(0)


def test_without_javascript_the_add_images_dialog_leaves_the_name_and_status_in_view(
    browser, live_server, user, imported
):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False, viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        page.get_by_label("User name").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{reverse('datasets:detail', args=[imported.pk])}?add_images=1")

        dialog = page.locator("#add-images-dialog")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_role("button", name="Add images")).to_be_visible()
        box = dialog.bounding_box()
        for covered in (page.get_by_role("heading", name="devices", exact=True), page.locator("#dataset-status")):
            other = covered.bounding_box()
            overlaps = (
                box["x"] < other["x"] + other["width"]
                and other["x"] < box["x"] + box["width"]
                and box["y"] < other["y"] + other["height"]
                and other["y"] < box["y"] + box["height"]
            )
            assert not overlaps, (box, other)
    finally:
        context.close()


@pytest.mark.parametrize("mode", ["", "?mode=label"])
def test_one_bounding_box_on_a_card_stays_on_one_line(page, login, user, console_bucket, mode):
    dataset = DatasetFactory(project__owner=user, name="devices")
    speaker = LabelFactory(dataset=dataset, name="kitchen-speaker-white")
    image = ImageFactory(dataset=dataset, file_name="kitchen.jpg", is_labeled=True)
    ImageLabelFactory(image=image, label=speaker)
    BoundingBoxFactory(image=image, label=speaker)
    page.set_viewport_size(VIEWPORT)
    login(page, user)
    page.goto(reverse("datasets:detail", args=[dataset.pk]) + mode)

    count = page.locator(".card .box-count")
    expect(count).to_have_text("1 bounding box")
    lines = count.evaluate(
        """el => {
            const style = getComputedStyle(el);
            const probe = document.createElement("span");
            probe.textContent = "x";
            probe.style.font = style.font;
            el.parentElement.append(probe);
            const line = probe.getBoundingClientRect().height;
            probe.remove();
            return {rects: el.getClientRects().length, height: el.getBoundingClientRect().height, line};
        }"""
    )
    assert lines["rects"] == 1 and lines["height"] == pytest.approx(lines["line"], abs=1), lines
