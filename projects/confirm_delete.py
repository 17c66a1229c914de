"""The Delete pages of projects and datasets: type delete to confirm, then delete, or say why not."""

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from .forms import ConfirmDeleteForm


def delete_page(
    request,
    *,
    context: Callable[[], dict],
    template: str,
    delete: Callable[[], object],
    refused: type[Exception],
    done: str,
    then: str,
) -> HttpResponse:
    """`template` showing `context()` and the form asking to confirm; once confirmed, `delete()`, the
    message `done` and a redirect to `then`. A `refused` error is shown on the form instead."""
    form = ConfirmDeleteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            delete()
        except refused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, done)
            return redirect(then)
    return render(request, template, {"form": form, **context()})
