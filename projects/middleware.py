from django.shortcuts import redirect
from django.urls import reverse

from .selectors import request_console_bucket


class ConsoleBucketRequiredMiddleware:
    """Until the region's console bucket exists, every console page leads to First Time Set Up (spec §8.1)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.user.is_authenticated or getattr(view_func, "console_bucket_exempt", False):
            return None
        if request.path.startswith(("/admin/", "/accounts/", "/static/")):
            return None
        if request_console_bucket(request) is not None:
            return None
        url = reverse("projects:first_time_setup")
        if request.htmx:
            from django_htmx.http import HttpResponseClientRedirect

            return HttpResponseClientRedirect(url)
        return redirect(url)


def console_bucket_exempt(view):
    view.console_bucket_exempt = True
    return view
