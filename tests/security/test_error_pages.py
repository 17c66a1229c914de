"""400, 403, 404 and 500 pages in the console's layout, with a plain sentence and a way back to Projects.

The test client runs with DEBUG=False, as production does, so these are the pages users get.
"""

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from playwright.sync_api import expect

from tests.datasets.dom import parse
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def error_page(response, status: int, heading: str, sentence: str) -> None:
    """The response is the console's error page: top bar, heading, sentence, Back to Projects."""
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    page = parse(response.content.decode())
    assert page.find("header", cls="topbar") is not None, "the console's top bar"
    assert page.find("h1").text() == heading
    assert sentence in page.find("main").text()
    back = [a for a in page.find_all("a") if a.text() == "Back to Projects"]
    assert back and back[0].attrs["href"] == reverse("projects:list")


def test_a_missing_page_says_so_in_the_console_layout(client_user, user, console_bucket):
    response = client_user.get("/no-such-page/")

    error_page(response, 404, "Page not found", "There is no page at this address")
    assert "alice" in parse(response.content.decode()).find("header", cls="topbar").text()


def test_another_users_dataset_gets_the_same_not_found_page(client_user, other_user, console_bucket):
    dataset = DatasetFactory(project__owner=other_user)

    error_page(
        client_user.get(reverse("datasets:detail", args=[dataset.pk])), 404, "Page not found", "isn't yours to open"
    )


def test_a_missing_page_says_so_to_a_visitor_not_signed_in(client):
    error_page(client.get("/no-such-page/"), 404, "Page not found", "There is no page at this address")


@override_settings(ROOT_URLCONF="tests.security.error_urls")
def test_a_refused_page_says_so_in_the_console_layout(client_user, console_bucket):
    error_page(client_user.get("/forbidden/"), 403, "Access denied", "You don't have permission to open this page.")


def test_a_form_sent_without_its_csrf_token_says_to_reload_and_try_again(user, console_bucket):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(reverse("projects:create"), {"name": "late"})

    error_page(response, 403, "The form was not sent", "The page was open too long or cookies are off")


@override_settings(ROOT_URLCONF="tests.security.error_urls")
def test_a_bug_shows_the_error_page_without_querying_the_database(django_assert_num_queries):
    client = Client(raise_request_exception=False)

    with django_assert_num_queries(0):
        response = client.get("/broken/")

    error_page(response, 500, "Something went wrong", "could not finish this request")


def test_the_error_page_shows_while_the_database_is_unreachable(user, console_bucket, django_db_blocker):
    client = Client(raise_request_exception=False)
    client.force_login(user)

    with django_db_blocker.block():
        response = client.get(reverse("projects:list"))

    error_page(response, 500, "Something went wrong", "could not finish this request")


def test_a_request_django_cannot_read_gets_the_bad_request_page(client_user, console_bucket):
    fields = "&".join(f"f{i}=x" for i in range(10_001))  # past DATA_UPLOAD_MAX_NUMBER_FIELDS

    response = client_user.post(reverse("projects:create"), fields, content_type="application/x-www-form-urlencoded")

    error_page(response, 400, "Bad request", "could not read this request")


def test_back_to_projects_leads_from_the_not_found_page_to_the_projects(page, login, user, console_bucket):
    page.set_viewport_size({"width": 1400, "height": 1000})
    login(page, user)

    page.goto("/datasets/999999/")

    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.get_by_role("link", name="Back to Projects").click()
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
