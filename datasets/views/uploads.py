"""Add images: files uploaded from the user's computer (spec §2.3, §6.6).

The dialog sends one request per file, with a `batch` token tying them into one import, and reads
JSON back; without JavaScript the same form posts every file at once and gets the gallery back
with a message per file.
"""

from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import TooManyFilesSent
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import redirect
from django.urls import get_callable, reverse
from django.utils.http import is_same_domain
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from customlabels.numbers import int_or_none
from customlabels.text import counted

from .. import imports, selectors
from ..errors import DatasetError
from ..imports import upload

TOO_LARGE = "The upload is too large: you can upload up to 30 images of at most 15 MB each at a time."
NO_LENGTH = "The upload could not be read: its size was not sent. Choose the files again and retry."
UNREADABLE = "The upload could not be read. Choose the files again and retry."
NOT_FROM_THE_CONSOLE = "The upload did not come from a page of the console."


def _wants_json(request) -> bool:
    return request.accepts("application/json") and not request.accepts("text/html")


def _gallery_url(request, dataset, **extra) -> str:
    query = [("mode", "label")] if request.GET.get("mode") == "label" else []
    query += list(extra.items())
    url = reverse("datasets:detail", args=[dataset.pk])
    return f"{url}?{urlencode(query)}" if query else url


def _refused(request, dataset, message: str, *, reopen: bool = True, status: int = 400):
    """The whole request refused, nothing stored: the reason where the user is (in the dialog again
    when `reopen`, since choosing other files may succeed)."""
    if _wants_json(request):
        return JsonResponse({"message": message, "added": 0, "refused": 0, "files": []}, status=status)
    messages.error(request, message)
    return redirect(_gallery_url(request, dataset, **({"add_images": "1"} if reopen else {})))


def _summary(added: int, refused: int) -> str:
    parts = [f"{counted(added, 'image')} added"]
    if refused:
        parts.append(f"{refused} refused")
    return ", ".join(parts) + "."


def _sent_by_a_console_page(request) -> bool:
    """Whether the request can only have come from a page of this site, told from its headers alone,
    before any of its body is read. The Add images dialog sends the X-CSRFToken header, which a page
    of another site cannot add to a request here (the browser would ask first, and nothing here
    answers); a browser posting the form without JavaScript sends its Origin, which must be this
    site's own or one of CSRF_TRUSTED_ORIGINS. The token itself is checked after the body is read."""
    if request.META.get(settings.CSRF_HEADER_NAME):
        return True
    origin = request.META.get("HTTP_ORIGIN", "")
    if not origin:
        return False
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin == f"{request.scheme}://{request.get_host()}" or origin in {o for o in trusted if "*" not in o}:
        return True
    # "https://*.example.com" trusts every subdomain of example.com, as Django's CSRF check reads it.
    patterns = [urlsplit(o) for o in trusted if "*" in o]
    try:
        sent = urlsplit(origin)
    except ValueError:
        return False
    return any(p.scheme == sent.scheme and is_same_domain(sent.netloc, p.netloc.lstrip("*")) for p in patterns)


def _body_refusal(request) -> tuple[str, int] | None:
    """Why the body is not worth reading, with the status to say it with, or None. Told from the
    Content-Length alone: a request that does not give it (a chunked one) or gives more than
    UPLOAD_MAX_BODY_BYTES (30 images of 15 MB and the form around them) is refused unread."""
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        return NO_LENGTH, 411
    length = int_or_none(request.META.get("CONTENT_LENGTH"))
    if length is None:
        return NO_LENGTH, 411
    if length > settings.UPLOAD_MAX_BODY_BYTES:
        return TOO_LARGE, 413
    return None


# Before a byte of the files is read: the request must come from a console page and be of a size
# the limits allow. Then Django parses the body here rather than in the CSRF check, which would
# answer more files than DATA_UPLOAD_MAX_NUMBER_FILES with a bare 400 page: the refusal is said in
# words (it changes nothing), and the full CSRF check (the token) runs afterwards.
@csrf_exempt
@require_POST
def images_upload(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    if not _sent_by_a_console_page(request):
        return get_callable(settings.CSRF_FAILURE_VIEW)(request, reason=NOT_FROM_THE_CONSOLE)
    refusal = _body_refusal(request)
    if refusal is not None:
        message, status = refusal
        return _refused(request, dataset, message, status=status)
    try:
        files = request.FILES.getlist("images")
    except TooManyFilesSent:
        return _refused(request, dataset, upload.TOO_MANY_FILES)
    except MultiPartParserError:
        return _refused(request, dataset, UNREADABLE)
    return _images_upload(request, dataset=dataset, files=files)


@csrf_protect
def _images_upload(request, *, dataset, files):
    try:
        result = imports.images_add(
            dataset=dataset, user=request.user, source=imports.UPLOAD, files=files, batch=request.POST.get("batch", "")
        )
    except DatasetError as exc:
        # The dialog opens again for other files, unless the dataset takes none (it was never created).
        return _refused(request, dataset, str(exc), reopen=not dataset.never_created)
    summary = _summary(result.added, result.refused)
    if _wants_json(request):
        return JsonResponse(
            {
                "message": summary,
                "added": result.added,
                "refused": result.refused,
                "files": [
                    {"name": f.name, "ok": f.ok, "message": f.message, "image_id": f.image_id} for f in result.files
                ],
            }
        )
    if result.added:
        messages.success(request, summary)
    for outcome in result.files:
        if not outcome.ok:
            messages.error(request, f"{outcome.name}: {outcome.message}")
    return redirect(_gallery_url(request, dataset))
