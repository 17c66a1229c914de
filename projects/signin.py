"""Sign-in throttling with django-axes (settings AXES_*): the address attempts are counted against, what
a successful sign-in forgives, and the page a locked-out sign-in gets."""

import ipaddress

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render

from customlabels.text import counted


def locked_out_message() -> str:
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return (
        f"Too many failed sign-in attempts. Try again in {counted(minutes, 'minute')} "
        "or ask an administrator to unlock your account."
    )


def signin_locked_out(request, original_response=None, credentials=None):
    """The sign-in page again, with why it refused (AXES_LOCKOUT_CALLABLE), as 429 Too Many Requests.
    The admin's sign-in gets it too: both sign in through the same backends."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "locked_out": locked_out_message(), "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)


def client_address(request) -> str:
    """The address failed sign-ins are counted against (AXES_CLIENT_IP_CALLABLE): the peer that
    connected or, behind the proxy that SECURE_PROXY_SSL_HEADER says is in front (where every
    request comes from the proxy), the last address of X-Forwarded-For, which that proxy added
    (a client can only put addresses before it)."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        last = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR", "")


class SigninAttemptsHandler(AxesDatabaseHandler):
    """django-axes' database handler (AXES_HANDLER), except that a successful sign-in forgives only the
    failures of the user name that signed in. Axes would also forgive every failure from the address,
    whatever the name: someone with an account could then guess another user's password 4 times,
    sign in as themselves, and guess 4 more, for ever."""

    def reset_user_attempts(self, request, credentials=None) -> int:
        username = get_client_username(request, credentials)
        if not username:
            return 0
        deleted, _ = AccessAttempt.objects.filter(username=username).delete()
        return deleted
