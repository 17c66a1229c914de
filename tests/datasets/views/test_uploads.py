"""What Add images checks before it reads a byte of the files: that the request comes from a page of
the console (the dialog's X-CSRFToken header, or the browser's Origin on a form posted without
JavaScript) and that its body is no larger than 30 images of 15 MB. The request body is a stream
that records whether anything read it."""

import pytest
from django.conf import settings
from django.test import Client
from django.test.client import FakePayload
from django.test.utils import override_settings
from django.urls import reverse

from datasets.models import Image, ImportJob
from datasets.views.uploads import NO_LENGTH, TOO_LARGE
from tests.factories import DatasetFactory

from ..dom import parse
from ..support import HTML, JSON, multipart, png_bytes, post_files

pytestmark = pytest.mark.django_db

CSRF_PAGE = "The form was not sent"


@pytest.fixture
def dataset(user, console_bucket):
    return DatasetFactory(project__owner=user, project__name="devices-project", name="devices")


@pytest.fixture
def csrf_client(user):
    """A signed-in client that enforces CSRF as a browser's requests meet it."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def upload_url(dataset) -> str:
    return reverse("datasets:upload", args=[dataset.pk])


def send(client, dataset, headers: dict, *, content_length: str | None = None, **extra):
    """Post one good image through a body that records whether anything read it; returns (response, body)."""
    data, content_type = multipart([("echo.png", png_bytes(100, 100))])
    body = FakePayload(data)
    length = {"CONTENT_LENGTH": str(len(data)) if content_length is None else content_length}
    response = client.post(
        upload_url(dataset), data, content_type=content_type, **{"wsgi.input": body}, **length, **headers, **extra
    )
    return response, body


def nothing_stored(s3, console_bucket) -> bool:
    stored = s3.list_objects_v2(Bucket=console_bucket.name).get("Contents", [])
    return not stored and not Image.objects.exists() and not ImportJob.objects.exists()


def page_token(client, dataset) -> str:
    """The CSRF token a console page gives its forms (and the dialog's header)."""
    client.get(reverse("datasets:detail", args=[dataset.pk]))
    return client.cookies[settings.CSRF_COOKIE_NAME].value


# --- from a page of the console, or refused unread ----------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [None, "https://evil.example", "null", "http://testserver.evil.example", "https://testserver"],
    ids=["no Origin", "another site", "an opaque origin", "a look-alike host", "another scheme"],
)
def test_a_forged_upload_is_refused_before_its_body_is_read(csrf_client, dataset, console_bucket, s3, origin):
    headers = {"HTTP_ACCEPT": HTML["HTTP_ACCEPT"]} | ({"HTTP_ORIGIN": origin} if origin else {})
    page_token(csrf_client, dataset)  # the victim's browser holds the CSRF cookie; the other site has no token

    response, body = send(csrf_client, dataset, headers)

    assert response.status_code == 403
    assert parse(response.content.decode()).find("h1").text() == CSRF_PAGE
    assert not body.read_started, "the body of a forged request was read"
    assert nothing_stored(s3, console_bucket)


def test_the_dialog_sends_its_token_in_a_header_and_the_image_is_added(csrf_client, dataset, console_bucket, s3):
    headers = {**JSON, "HTTP_X_CSRFTOKEN": page_token(csrf_client, dataset)}

    response = post_files(csrf_client, dataset, [("echo.png", png_bytes(100, 100))], headers=headers)

    assert response.status_code == 200
    assert response.json()["added"] == 1
    assert Image.objects.get().file_name == "echo.png"


def test_a_form_posted_without_javascript_from_a_console_page_adds_the_image(csrf_client, dataset):
    token = page_token(csrf_client, dataset)

    response = post_files(
        csrf_client, dataset, [("echo.png", png_bytes(100, 100))], fields={"csrfmiddlewaretoken": token}, headers=HTML
    )

    assert response.status_code == 302
    assert Image.objects.get().file_name == "echo.png"


def test_a_header_with_a_wrong_token_is_still_refused_by_the_csrf_check(csrf_client, dataset, console_bucket, s3):
    page_token(csrf_client, dataset)

    response = post_files(csrf_client, dataset, [("echo.png", png_bytes(100, 100))], headers=JSON)

    assert response.status_code == 403
    assert nothing_stored(s3, console_bucket)


@override_settings(CSRF_TRUSTED_ORIGINS=["https://console.example.com", "https://*.example.org"])
@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://console.example.com", 302),
        ("https://labels.example.org", 302),
        ("https://example.org.evil.example", 403),
        ("http://labels.example.org", 403),
    ],
)
def test_an_origin_in_csrf_trusted_origins_is_a_console_page(client_user, dataset, origin, status):
    response, _ = send(client_user, dataset, {"HTTP_ACCEPT": HTML["HTTP_ACCEPT"], "HTTP_ORIGIN": origin})

    assert response.status_code == status


# --- the body's size, told from Content-Length ---------------------------------------------------


def test_a_body_larger_than_thirty_images_of_15_mb_is_refused_unread(client_user, dataset, console_bucket, s3):
    assert settings.UPLOAD_MAX_BODY_BYTES == 30 * 15 * 1024 * 1024 + 1024 * 1024
    too_large = str(settings.UPLOAD_MAX_BODY_BYTES + 1)

    response, body = send(client_user, dataset, JSON, content_length=too_large)

    assert response.status_code == 413
    assert (
        response.json()["message"]
        == TOO_LARGE
        == ("The upload is too large: you can upload up to 30 images of at most 15 MB each at a time.")
    )
    assert not body.read_started
    assert nothing_stored(s3, console_bucket)


def test_a_body_too_large_from_a_form_without_javascript_comes_back_as_a_message(client_user, dataset):
    response, body = send(client_user, dataset, HTML, content_length=str(settings.UPLOAD_MAX_BODY_BYTES + 1))

    assert response.status_code == 302
    assert response["Location"] == reverse("datasets:detail", args=[dataset.pk]) + "?add_images=1"
    assert not body.read_started
    page = parse(client_user.get(response["Location"]).content.decode())
    assert [n.text() for n in page.by_id("messages").find_all(cls="flash-error")] == [TOO_LARGE]
    assert "open" in page.by_id("add-images-dialog").attrs


def test_a_body_of_exactly_the_limit_is_read(client_user, dataset, settings):
    data, _ = multipart([("echo.png", png_bytes(100, 100))])
    settings.UPLOAD_MAX_BODY_BYTES = len(data)

    response, body = send(client_user, dataset, JSON)

    assert response.status_code == 200 and response.json()["added"] == 1
    assert body.read_started


@pytest.mark.parametrize(
    ("content_length", "extra"),
    [("", {}), ("12e3", {}), ("-1", {}), ("1234567890123456789", {}), ("0", {"HTTP_TRANSFER_ENCODING": "chunked"})],
    ids=["none", "not a number", "negative", "19 digits", "chunked"],
)
def test_a_body_that_does_not_say_its_size_is_refused_unread(
    client_user, dataset, console_bucket, s3, content_length, extra
):
    response, body = send(client_user, dataset, JSON, content_length=content_length, **extra)

    assert response.status_code == 411
    assert response.json()["message"] == NO_LENGTH
    assert not body.read_started
    assert nothing_stored(s3, console_bucket)
