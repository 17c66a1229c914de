"""The console's URLconf plus two views that fail, for the error-page tests."""

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.urls import path

from customlabels.urls import urlpatterns as console_urlpatterns


def forbidden(request):
    raise PermissionDenied


@login_not_required
def broken(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [*console_urlpatterns, path("forbidden/", forbidden), path("broken/", broken)]
