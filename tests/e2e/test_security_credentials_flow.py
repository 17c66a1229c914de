"""Security credentials in Chromium: create an access key, see its secret once, download the .csv, make
it inactive, delete it; at most two keys. The key then signs boto3's rekognition client."""

import re
from pathlib import Path

import boto3
import pytest
from playwright.sync_api import expect

from projects.models import AccessKey

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def test_a_key_is_created_shown_once_downloaded_made_inactive_and_deleted(
    page, login, user, console_bucket, live_server
):
    login(page, user)
    page.get_by_role("link", name="Security credentials").click()
    expect(page.get_by_role("heading", name="Security credentials")).to_be_visible()
    expect(page.get_by_role("heading", name="No access keys")).to_be_visible()

    page.get_by_role("button", name="Create access key").click()
    expect(page.get_by_role("heading", name="Retrieve access key")).to_be_visible()
    key_id = page.get_by_test_id("new-access-key-id").inner_text()
    secret = page.get_by_test_id("new-secret-access-key").inner_text()
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key_id) and len(secret) == 40
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "security-credentials-created.png", full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download .csv file").click()
    download = download_info.value
    assert download.suggested_filename == f"{key_id}_accessKeys.csv"
    assert Path(download.path()).read_bytes().decode() == f"Access key ID,Secret access key\r\n{key_id},{secret}\r\n"

    # The key works for boto3 right away.
    client = boto3.client(
        "rekognition",
        endpoint_url=f"{live_server.url}/rekognition",
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )
    assert client.describe_projects()["ProjectDescriptions"] == []

    page.get_by_role("link", name="Done").click()
    expect(page.get_by_role("row", name=re.compile(key_id))).to_contain_text("Active")
    expect(page.get_by_text(secret)).to_have_count(0)  # shown once: never again

    page.get_by_role("button", name="Create access key").click()
    page.get_by_role("link", name="Done").click()
    expect(page.get_by_text("You have 2 access keys, the most a user can have.")).to_be_visible()
    page.get_by_role("button", name="Create access key").click()
    expect(page.get_by_role("alert")).to_contain_text("You have 2 access keys")
    assert AccessKey.objects.filter(user=user).count() == 2

    page.get_by_role("button", name=f"Make inactive {key_id}").click()
    expect(page.get_by_role("status")).to_have_text(f"Access key {key_id} is now inactive.")
    expect(page.get_by_role("row", name=re.compile(key_id))).to_contain_text("Inactive")
    page.screenshot(path=SHOTS / "security-credentials-inactive.png", full_page=True)
    with pytest.raises(client.exceptions.ClientError):
        client.describe_projects()

    page.get_by_role("button", name=f"Delete {key_id}").click()
    expect(page.get_by_role("status")).to_have_text(f"Access key {key_id} was deleted.")
    expect(page.get_by_role("row", name=re.compile(key_id))).to_have_count(0)
    assert AccessKey.objects.filter(user=user).count() == 1


def test_the_project_page_shows_and_sets_the_training_and_test_dataset(page, login, user, console_bucket):
    from tests.factories import DatasetFactory, ProjectFactory

    project = ProjectFactory(owner=user, name="pets")
    first = DatasetFactory(project=project, name="first")
    second = DatasetFactory(project=project, name="second")
    login(page, user)
    page.goto(f"/{project.pk}/")

    expect(page.get_by_test_id("training-dataset")).to_have_text("first")
    expect(page.get_by_test_id("test-dataset")).to_have_text("None")
    page.get_by_role("button", name="Use second as test dataset").click()
    expect(page.get_by_role("status")).to_have_text("second is now the project's test dataset.")
    expect(page.get_by_test_id("test-dataset")).to_have_text("second")
    expect(page.get_by_role("row", name=re.compile("^second"))).to_contain_text("Test dataset")
    page.screenshot(path=SHOTS / "project-train-test.png", full_page=True)
    second.refresh_from_db()
    assert second.arn.split("/")[-2] == "test" and first.is_project_dataset
