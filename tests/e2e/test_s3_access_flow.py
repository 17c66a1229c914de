"""A person finds the locations they may import from on the S3 access page, and a location they may
not import from is refused at its field with a way to that page."""

import pytest
from playwright.sync_api import expect

from tests.factories import ProjectFactory

pytestmark = [pytest.mark.browser]


def test_the_s3_access_page_lists_grants_and_a_refused_location_points_to_it(
    page, login, user, console_bucket, grant, tmp_path
):
    ProjectFactory(owner=user, name="pets-project")  # its owner may read the factories' source-bucket
    grant("team-images", "pets/")
    grant("exports-bucket", write=True)

    login(page, user)
    page.get_by_role("navigation", name="Custom Labels").get_by_role("link", name="S3 access").click()
    expect(page.get_by_role("heading", name="S3 access", exact=True)).to_be_visible()
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(4)
    expect(rows.nth(1)).to_contain_text("s3://exports-bucket/")
    expect(rows.nth(1)).to_contain_text("Read and write")
    expect(rows.nth(2)).to_contain_text("s3://source-bucket/")
    expect(rows.nth(3)).to_contain_text("s3://team-images/pets/")
    expect(rows.nth(3).get_by_role("cell").nth(1)).to_have_text("Read")
    expect(page.get_by_text(f"users/{user.pk}/assets/")).to_be_visible()
    page.screenshot(path=str(tmp_path / "s3-access.png"), full_page=True)

    page.get_by_role("link", name="Projects").first.click()
    page.get_by_role("link", name="pets-project").click()
    page.get_by_role("link", name="Create dataset").first.click()
    page.get_by_label("Dataset name").fill("pets")
    page.get_by_label("S3 folder location").fill("s3://someone-elses-bucket/private/")
    page.get_by_role("button", name="Submit").click()

    field = page.locator(".field", has=page.get_by_label("S3 folder location"))
    expect(field.get_by_role("alert")).to_have_text(
        "You don't have access to s3://someone-elses-bucket/private/. "
        "An administrator can grant it on the S3 access page."
    )
    page.screenshot(path=str(tmp_path / "refused.png"), full_page=True)
    page.get_by_role("link", name="S3 access").last.click()
    expect(page.get_by_role("heading", name="S3 access", exact=True)).to_be_visible()
