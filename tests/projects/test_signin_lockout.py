"""Sign-in throttling (django-axes, for real: AXES_ENABLED stays on): after 5 failed sign-ins for a user
name, or from an address, even the right password is refused for 15 minutes with a sentence on the
sign-in page, unless an administrator unlocks it."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from projects.signin import client_address
from tests.datasets.dom import parse
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOCKED_OUT = "Too many failed sign-in attempts. Try again in 15 minutes or ask an administrator to unlock your account."
WRONG = "Please enter a correct username and password."
HOME, OFFICE = "203.0.113.10", "198.51.100.20"


def sign_in(client, username: str, password: str, *, address: str = HOME, url: str = "/accounts/login/"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(client, username: str, times: int, *, address: str = HOME, url: str = "/accounts/login/") -> list[int]:
    """Sign in with a wrong password `times` times; the status of each answer."""
    return [sign_in(client, username, "not-the-password", address=address, url=url).status_code for _ in range(times)]


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def assert_locked_out(response, username: str) -> None:
    assert response.status_code == 429
    page = parse(response.content.decode())
    assert page.find("h1").text() == "Sign in"
    assert [n.text() for n in page.find_all(cls="flash-error")] == [LOCKED_OUT]
    assert page.by_id("id_username").attrs["value"] == username
    assert page.by_id("id_password") is not None


def test_after_five_failures_the_right_password_is_refused_with_a_sentence(client, user, console_bucket):
    first = sign_in(client, user.username, "not-the-password")
    assert first.status_code == 200 and WRONG in first.content.decode()
    assert fail(client, user.username, 4) == [200, 200, 200, 429], "the fifth failure locks the user name"

    response = sign_in(client, user.username, PASSWORD)

    assert_locked_out(response, user.username)
    assert not signed_in(client)


def test_four_failures_then_the_right_password_signs_in_and_the_count_starts_again(client, user, console_bucket):
    assert fail(client, user.username, 4) == [200] * 4

    assert sign_in(client, user.username, PASSWORD).status_code == 302
    client.logout()
    assert fail(client, user.username, 4) == [200] * 4
    assert sign_in(client, user.username, PASSWORD).status_code == 302
    assert signed_in(client)


def test_signing_in_as_oneself_forgives_none_of_the_failures_on_another_user_name(
    client, user, other_user, console_bucket
):
    assert fail(client, user.username, 4) == [200] * 4
    assert sign_in(client, other_user.username, PASSWORD).status_code == 302
    client.logout()

    assert fail(client, user.username, 1) == [429]
    assert_locked_out(sign_in(client, user.username, PASSWORD, address=OFFICE), user.username)


def test_a_locked_user_name_is_refused_from_every_address(client, user, console_bucket):
    fail(client, user.username, 5, address=HOME)

    assert_locked_out(sign_in(client, user.username, PASSWORD, address=OFFICE), user.username)


def test_an_address_with_five_failures_is_refused_for_every_user_name(client, user, other_user, console_bucket):
    for name in ("root", "admin", "alice2", "bob", "carol"):
        fail(client, name, 1, address=HOME)

    assert_locked_out(sign_in(client, other_user.username, PASSWORD, address=HOME), other_user.username)
    assert sign_in(client, other_user.username, PASSWORD, address=OFFICE).status_code == 302


def test_the_lockout_ends_15_minutes_after_the_last_failure(client, user, console_bucket):
    fail(client, user.username, 5)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=14))
    assert sign_in(client, user.username, PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert sign_in(client, user.username, PASSWORD).status_code == 302


def test_an_administrator_unlocks_a_user_name_with_axes_reset_username(client, user, console_bucket):
    fail(client, user.username, 5)
    assert sign_in(client, user.username, PASSWORD).status_code == 429

    call_command("axes_reset_username", user.username)

    assert sign_in(client, user.username, PASSWORD).status_code == 302


def test_an_administrator_unlocks_an_address_with_axes_reset_ip(client, user, console_bucket):
    for name in ("root", "admin", "alice2", "bob", "carol"):
        fail(client, name, 1)
    assert sign_in(client, user.username, PASSWORD).status_code == 429

    call_command("axes_reset_ip", HOME)

    assert sign_in(client, user.username, PASSWORD).status_code == 302


def test_the_admin_sign_in_is_throttled_too(client, console_bucket):
    staff = UserFactory(username="operator", is_staff=True, is_superuser=True)
    url = reverse("admin:login")
    assert fail(client, staff.username, 5, url=url) == [200, 200, 200, 200, 429]

    response = sign_in(client, staff.username, PASSWORD, url=url)

    assert_locked_out(response, staff.username)
    assert not signed_in(client)


def test_attempts_are_counted_against_the_connecting_address_and_a_forwarded_one_is_ignored(rf):
    request = rf.post("/accounts/login/", REMOTE_ADDR=HOME, HTTP_X_FORWARDED_FOR="192.0.2.1")

    assert client_address(request) == HOME


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
@pytest.mark.parametrize(
    ("forwarded", "address"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("10.9.8.7, 192.0.2.1", "192.0.2.1"),  # the client's own claim first, the proxy's entry last
        ("2001:db8::1", "2001:db8::1"),
        ("", "10.0.0.2"),
        ("192.0.2.1, not-an-address", "10.0.0.2"),
    ],
)
def test_behind_the_proxy_attempts_are_counted_against_the_address_it_forwarded(rf, forwarded, address):
    request = rf.post("/accounts/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == address
