"""A person's first visit, in Chromium: set up the console, then create and delete a project."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CONSOLE_BUCKET_NAME = re.compile(r"^custom-labels-console-us-east-1-\d{10}$")


def test_first_visit_sets_up_the_console_then_creates_and_deletes_a_project(page, login, user, s3_server):
    login(page, user)

    expect(page.get_by_role("heading", name="First Time Set Up")).to_be_visible()
    bucket_name = page.get_by_label("S3 bucket").input_value()
    assert CONSOLE_BUCKET_NAME.match(bucket_name)
    page.get_by_role("button", name="Create S3 bucket").click()

    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(f"The console bucket {bucket_name} was created.")
    expect(page.get_by_role("heading", name="No projects")).to_be_visible()
    expect(page.locator("footer")).to_contain_text(bucket_name)

    page.get_by_role("main").get_by_role("link", name="Create project").first.click()
    page.get_by_label("Project name").fill("my project")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("alert")).to_contain_text("No spaces.")
    page.get_by_label("Project name").fill("my_project.v-1")
    page.get_by_role("button", name="Create project").click()

    expect(page.get_by_role("heading", name="my_project.v-1")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Project my_project.v-1 was created.")
    expect(
        page.get_by_text(re.compile(r"^arn:aws:rekognition:us-east-1:\d{12}:project/my_project\.v-1/\d+$"))
    ).to_be_visible()

    page.get_by_role("navigation", name="Custom Labels").get_by_role("link", name="Projects").click()
    expect(page.get_by_role("row", name=re.compile("my_project.v-1"))).to_be_visible()
    page.get_by_role("link", name="my_project.v-1").click()

    page.get_by_role("link", name="Delete project").click()
    expect(page.get_by_role("dialog", name="Delete project")).to_contain_text("my_project.v-1")
    page.get_by_label("To confirm deletion, type delete in the field.").fill("delete")
    page.get_by_role("button", name="Delete", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("Project my_project.v-1 was deleted.")
    expect(page.get_by_role("heading", name="No projects")).to_be_visible()
    expect(page.get_by_role("link", name="my_project.v-1")).to_have_count(0)


def test_console_pages_load_htmx(page, login, user, console_bucket):
    login(page, user)

    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
    assert page.evaluate("typeof window.htmx") == "object"
