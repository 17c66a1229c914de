"""Check dataset and Versions as a person uses them in Chromium: the report a worker computes, a
check's link to exactly its images, Download summary; creating versions and comparing them;
exporting a version in COCO after the dataset changed, and restoring it as a new dataset."""

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from datasets import labeling, versions
from datasets.models import Image, Label
from tests.datasets.support import build_images
from tests.factories import DatasetFactory

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1400, "height": 1000}
SHOTS = Path(os.environ.get("SCREENSHOTS", "/tmp"))


@pytest.fixture
def pets(user):
    dataset = DatasetFactory(project__owner=user, name="pets")
    build_images(
        dataset,
        [{"key": f"cat-{i}.jpg", "labels": ["cat"]} for i in range(12)]
        + [{"key": f"dog-{i}.jpg", "labels": ["dog"], "boxes": [("dog", 10, 10, 60, 60)]} for i in range(12)]
        + [{"key": "blank-1.jpg"}, {"key": "blank-2.jpg"}]
        + [{"key": f"copy-{c}.jpg", "labels": ["cat"], "etag": "e" * 32, "size": 999} for c in "ab"],
    )
    return dataset


def test_check_dataset_shows_the_report_and_links_to_exactly_the_images_concerned(
    page, login, user, console_bucket, celery_worker_proc, pets
):
    page.set_viewport_size(VIEWPORT)
    login(page, user)
    page.goto(reverse("datasets:detail", args=[pets.pk]))
    page.get_by_role("button", name="Check dataset").click()
    expect(page.get_by_role("heading", name="Health check")).to_be_visible()
    table = page.locator("table.health-checks")
    expect(table).to_be_visible(timeout=60_000)
    unlabeled = table.locator('tr[data-check="unlabeled"]')
    expect(unlabeled.locator(".badge")).to_have_text("Warning")
    expect(unlabeled.locator(".check-count")).to_have_text("2")
    expect(table.locator('tr[data-check="labels_minimum"] .badge')).to_have_text("Pass")
    expect(table.locator('tr[data-check="exact_duplicates"]')).to_contain_text("Group 1: 2 images")
    page.screenshot(path=str(SHOTS / "health-report.png"), full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download summary").click()
    summary = json.loads(Path(download.value.path()).read_text())
    assert summary["statistics"]["training"]["total_json_lines"] == 28
    assert summary["statistics"]["training"]["ignored_json_lines"] == 2

    unlabeled.get_by_role("link", name="View 2 images").click()
    expect(page.locator("#check-filter")).to_contain_text("unlabeled")
    names = page.locator("#gallery .card .name")
    expect(names).to_have_count(2)
    assert sorted(names.all_inner_texts()) == ["blank-1.jpg", "blank-2.jpg"]


def test_versions_are_created_and_compared_with_now(page, login, user, console_bucket, pets):
    page.set_viewport_size(VIEWPORT)
    login(page, user)
    page.goto(reverse("datasets:detail", args=[pets.pk]))
    page.get_by_role("link", name="Versions").click()
    page.get_by_label("Version name").fill("v1")
    page.get_by_role("button", name="Create version").click()
    expect(page.locator(".flash-success")).to_contain_text("Version v1 was created with 28 images.")
    expect(page.locator("#versions")).to_contain_text("v1")

    dog = Label.objects.get(dataset=pets, name="dog")
    labeling.images_labels_assign(
        dataset=pets, user=user, label_ids=[dog.pk], images=Image.objects.filter(dataset=pets, file_name="blank-1.jpg")
    )
    Image.objects.filter(dataset=pets, file_name="copy-b.jpg").delete()
    build_images(pets, [{"key": "new.jpg", "labels": ["cat"]}])

    page.reload()
    page.get_by_label("Compare").select_option(label="v1")
    page.get_by_label("with").select_option(label="Now (the dataset as it is)")
    page.get_by_role("button", name="Compare").click()
    counts = page.locator("#compare-counts")
    expect(counts.locator('[data-count="images_added"]')).to_have_text("1")
    expect(counts.locator('[data-count="images_removed"]')).to_have_text("1")
    expect(counts.locator('[data-count="images_changed"]')).to_have_text("1")
    expect(counts.locator('[data-count="labels_added"]')).to_have_text("1")
    rows = page.locator("#differences tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator('#differences tr[data-kind="changed"]')).to_contain_text("Labels added: dog")
    page.screenshot(path=str(SHOTS / "versions-compare.png"), full_page=True)
    page.get_by_role("link", name="Removed").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("copy-b.jpg")


def test_a_version_is_exported_as_it_was_and_restored_as_a_new_dataset(
    page, login, user, console_bucket, celery_worker_proc, pets
):
    versions.version_create(dataset=pets, user=user, name="v1")
    Image.objects.filter(dataset=pets, file_name__startswith="dog-").delete()  # the boxes go with them
    page.set_viewport_size(VIEWPORT)
    login(page, user)
    page.goto(reverse("datasets:versions", args=[pets.pk]))
    page.get_by_role("link", name="Export version v1").click()
    expect(page.get_by_role("heading", name="Export dataset")).to_be_visible()
    expect(page.locator("#export-of-version")).to_contain_text("28 images")
    page.get_by_role("radio", name="COCO object detection (JSON)").check()
    page.get_by_role("button", name="Export").click()
    job = page.locator(".export-job").first
    expect(job.locator(".export-status")).to_have_text("Succeeded", timeout=60_000)
    page.screenshot(path=str(SHOTS / "version-export.png"), full_page=True)
    with page.expect_download() as download:
        job.get_by_role("link", name="Download").click()
    document = json.loads(
        zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())).read("annotations.json")
    )
    assert len(document["images"]) == 28 and len(document["annotations"]) == 12  # the version's dogs and boxes

    page.get_by_role("link", name="v1").click()
    page.get_by_role("link", name="Restore as a new dataset").click()
    page.get_by_role("button", name="Restore").click()
    expect(page.locator("#dataset-status")).to_have_text("CREATE_COMPLETE", timeout=60_000)
    expect(page.locator("#status-message")).to_have_text("Restored from version v1 of pets.")
    expect(page.locator("#gallery [data-stat=total]")).to_have_text("28")
