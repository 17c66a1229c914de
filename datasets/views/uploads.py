"""Add images: files uploaded from the user's computer (spec §2.3, §6.6).

The dialog sends one request per file, with a `batch` token tying them into one import, and reads
JSON back; without JavaScript the same form posts every file at once and gets the gallery back
with a message per file.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import TooManyFilesSent
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from customlabels.text import counted

from .. import imports, selectors
from ..errors import DatasetError
from ..imports import upload


def _wants_json(request) -> bool:
    return request.accepts("application/json") and not request.accepts("text/html")


def _gallery_url(request, dataset, **extra) -> str:
    query = [("mode", "label")] if request.GET.get("mode") == "label" else []
    query += list(extra.items())
    url = reverse("datasets:detail", args=[dataset.pk])
    return f"{url}?{urlencode(query)}" if query else url


def _refused(request, dataset, message: str, *, reopen: bool = True):
    """The whole request refused, nothing stored: the reason where the user is (in the dialog again
    when `reopen`, since choosing other files may succeed)."""
    if _wants_json(request):
        return JsonResponse({"message": message, "added": 0, "refused": 0, "files": []}, status=400)
    messages.error(request, message)
    return redirect(_gallery_url(request, dataset, **({"add_images": "1"} if reopen else {})))


def _summary(added: int, refused: int) -> str:
    parts = [f"{counted(added, 'image')} added"]
    if refused:
        parts.append(f"{refused} refused")
    return ", ".join(parts) + "."


# Django parses the body when the CSRF check first reads it; with more files than
# DATA_UPLOAD_MAX_NUMBER_FILES that check would answer a bare 400 page. So the body is parsed
# here, the refusal said in words (it changes nothing), and the CSRF check runs afterwards.
@csrf_exempt
@require_POST
def images_upload(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    try:
        files = request.FILES.getlist("images")
    except TooManyFilesSent:
        return _refused(request, dataset, upload.TOO_MANY_FILES)
    except MultiPartParserError:
        return _refused(request, dataset, "The upload could not be read. Choose the files again and retry.")
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
