"""A person creates a dataset from an S3 folder in Chromium, watches it import, and filters the gallery."""

import re

import pytest
from playwright.sync_api import expect

from tests.datasets.support import ALEXA_IMAGES, seed_alexa_devices
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker]

IMPORT_TIMEOUT = 60_000


def file_names(keys) -> list[str]:
    return sorted(key.rsplit("/", 1)[-1] for key in keys)


def test_creating_a_dataset_from_s3_imports_labels_by_folder_and_filters_by_label(
    page, login, user, console_bucket, celery_worker_proc, s3, make_bucket
):
    bucket = make_bucket("alexa")
    seed_alexa_devices(s3, bucket)
    ProjectFactory(owner=user, name="alexa-project")
    echo = [key for key, obj in ALEXA_IMAGES.items() if obj.label == "echo"]
    echo_dot = [key for key, obj in ALEXA_IMAGES.items() if obj.label == "echo-dot"]
    with_errors = [key for key, obj in ALEXA_IMAGES.items() if obj.error_code]

    login(page, user)
    page.get_by_role("link", name="alexa-project").click()
    expect(page.get_by_role("heading", name="alexa-project")).to_be_visible()
    page.get_by_role("link", name="Create dataset").first.click()

    expect(page.get_by_role("heading", name="Create dataset")).to_be_visible()
    page.get_by_label("Dataset name").fill("alexa-devices")
    expect(page.get_by_label("Import images from S3 bucket")).to_be_checked()
    page.get_by_label("S3 folder location").fill(f"s3://{bucket}/alexa-devices/")
    page.get_by_label("Automatically attach a label to my images based on the folder they're stored in").check()
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_role("heading", name="alexa-devices", exact=True)).to_be_visible()
    progress = page.get_by_role("region", name=re.compile("Importing images|Making thumbnails|Last import"))
    expect(progress).to_be_visible()

    # The progress section polls and reloads the page itself when the import, then the thumbnails, finish.
    expect(page.get_by_role("region", name="Last import")).to_be_visible(timeout=IMPORT_TIMEOUT)
    expect(page.get_by_role("region", name="Last import")).to_contain_text(f"{len(ALEXA_IMAGES)} imported")
    expect(page.locator("#dataset-status")).to_have_text("CREATE_COMPLETE")
    expect(page.get_by_role("heading", name="Filter by labels")).to_be_visible()
    gallery = page.locator("#gallery")
    expect(gallery.get_by_label("echo", exact=True)).to_be_visible()

    def pane_count(label: str):
        return gallery.locator(".filter-row").filter(has=page.get_by_label(label, exact=True)).locator(".count")

    expect(pane_count("echo")).to_have_text(str(len(echo)))
    expect(pane_count("echo-dot")).to_have_text(str(len(echo_dot)))
    expect(pane_count("All images")).to_have_text(str(len(ALEXA_IMAGES)))
    expect(pane_count("Labeled")).to_have_text(str(len(echo) + len(echo_dot)))
    expect(pane_count("Unlabeled")).to_have_text("1")
    expect(pane_count("Errors")).to_have_text(str(len(with_errors)))
    expect(gallery.locator('[data-stat="total"]')).to_have_text(str(len(ALEXA_IMAGES)))
    expect(gallery.locator('[data-stat="labeled"]')).to_have_text(str(len(echo) + len(echo_dot)))
    expect(gallery.locator('[data-stat="labels"]')).to_have_text("2")
    expect(gallery.locator('[data-stat="errors"]')).to_have_text(str(len(with_errors)))
    names = gallery.locator(".card .name")
    expect(names).to_have_count(len(ALEXA_IMAGES))
    assert sorted(names.all_inner_texts()) == file_names(ALEXA_IMAGES)
    unfiltered_url = page.url

    gallery.get_by_label("echo", exact=True).check()

    expect(page).to_have_url(re.compile(r"[?&]label=\d+"))
    expect(names).to_have_count(len(echo))
    assert sorted(names.all_inner_texts()) == file_names(echo)
    expect(page.locator("#gallery").get_by_label("echo", exact=True)).to_be_checked()

    page.go_back()

    expect(page).to_have_url(unfiltered_url)
    expect(page.locator("#gallery .card .name")).to_have_count(len(ALEXA_IMAGES))
    assert sorted(page.locator("#gallery .card .name").all_inner_texts()) == file_names(ALEXA_IMAGES)
    expect(page.locator("#gallery").get_by_label("echo", exact=True)).not_to_be_checked()
