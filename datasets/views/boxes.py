"""The bounding-box editor of labeling mode (spec §6.5) and the JSON endpoints its script saves through.

Boxes are in image pixels. Every change is saved the moment it is made, by the services of
datasets.labeling; a write answers with the box as saved (the service clamps it inside the image),
which the editor then draws in place of its own guess.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customlabels.numbers import int_or_none
from projects.s3_access import request_s3

from .. import labeling, selectors
from ..errors import DatasetError, ErrorCode
from ..forms import BoxForm
from ..models import BoundingBox, Image

# Stands for a box id in the URL templates handed to the script.
_ID_SENTINEL = 987654321987


class _BadRequest(Exception):
    pass


def _error(message: str, code: str = ErrorCode.INVALID_PARAMETER) -> JsonResponse:
    return JsonResponse({"error": message, "code": code}, status=400)


def _posted(request) -> dict:
    """The request's fields, from a JSON object body or a form body."""
    if request.content_type != "application/json":
        return request.POST
    try:
        data = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise _BadRequest("The request body is not valid JSON.") from exc
    except RecursionError as exc:
        raise _BadRequest("The request body is nested too deeply: a box is one flat JSON object.") from exc
    if not isinstance(data, dict):
        raise _BadRequest("The request body must be a JSON object.")
    return data


def _box_json(box: BoundingBox) -> dict:
    return {
        "id": box.pk,
        "label": box.label_id,
        "label_name": box.label.name,
        "left": box.left,
        "top": box.top,
        "width": box.width,
        "height": box.height,
    }


def _box_get(*, user, pk: int) -> BoundingBox:
    """The user's box, or 404 — never another user's."""
    return get_object_or_404(
        BoundingBox.objects.select_related("label", "image__dataset__project"),
        pk=pk,
        image__dataset__project__owner=user,
    )


def _image_url(request, image: Image) -> str:
    return request_s3(request).presigned_uri(image.source_ref)


def _selected_ids(value: str) -> list[int]:
    """The comma-separated image ids of `?images=`, in order, without repeats; 404 for anything else."""
    ids = [int_or_none(p.strip()) for p in value.split(",") if p.strip()]
    if None in ids:
        raise Http404("No such image.")
    return list(dict.fromkeys(ids))


def _url_template(name: str) -> str:
    """The URL of a box endpoint with `{id}` where the box id goes, for the script to fill in."""
    return reverse(name, args=[_ID_SENTINEL]).replace(str(_ID_SENTINEL), "{id}")


@require_GET
def box_editor(request, dataset_pk):
    """The editor for the images selected in the gallery, one at a time (`?images=1,2,3&i=0`)."""
    dataset = selectors.dataset_get(user=request.user, pk=dataset_pk)
    gallery_url = f"{reverse('datasets:detail', args=[dataset.pk])}?mode=label"
    ids = _selected_ids(request.GET.get("images", ""))
    if not ids:
        messages.info(request, "Select the images to draw bounding boxes on, then choose Draw bounding box.")
        return redirect(gallery_url)
    images = {image.pk: image for image in Image.objects.filter(dataset=dataset, pk__in=ids)}
    if len(images) != len(ids):
        raise Http404("No such image in this dataset.")
    index = min(int_or_none(request.GET.get("i")) or 0, len(ids) - 1)
    image = images[ids[index]]
    labels = list(dataset.labels.order_by("name"))
    boxes = image.boxes.select_related("label").order_by("id")
    editor = {
        "image": {"id": image.pk, "width": image.width, "height": image.height},
        "labels": [{"id": label.pk, "name": label.name} for label in labels],
        "boxes": [_box_json(box) for box in boxes],
        "urls": {
            "boxes": reverse("datasets:image_boxes", args=[image.pk]),
            "box": _url_template("datasets:box_change"),
            "box_delete": _url_template("datasets:box_delete"),
            "undo": reverse("datasets:undo", args=[dataset.pk]),
        },
    }
    context = {
        "dataset": dataset,
        "project": dataset.project,
        "image": image,
        "image_url": _image_url(request, image),
        "next_image_url": _image_url(request, images[ids[index + 1]]) if index + 1 < len(ids) else "",
        "labels": labels,
        "editor": editor,
        "images_param": ",".join(map(str, ids)),
        "position": index + 1,
        "total": len(ids),
        "prev_index": index - 1 if index > 0 else None,
        "next_index": index + 1 if index + 1 < len(ids) else None,
        "gallery_url": gallery_url,
    }
    return render(request, "datasets/box_editor.html", context)


@require_http_methods(["GET", "POST"])
def image_boxes(request, pk):
    """GET: the image's boxes and size. POST: draw a box on it (201 with the box as saved)."""
    image = selectors.image_get(user=request.user, pk=pk)
    if request.method == "GET":
        boxes = image.boxes.select_related("label").order_by("id")
        return JsonResponse({"boxes": [_box_json(b) for b in boxes], "width": image.width, "height": image.height})
    try:
        form = BoxForm(_posted(request), dataset=image.dataset)
    except _BadRequest as exc:
        return _error(str(exc))
    if not form.is_valid():
        return _error(form.first_error())
    try:
        box = labeling.box_add(image=image, user=request.user, **form.cleaned_data)
    except labeling.BoxError as exc:
        return _error(str(exc), exc.code)
    except DatasetError as exc:
        return _error(str(exc))
    return JsonResponse(_box_json(box), status=201)


@require_POST
def box_change(request, pk):
    """Move, resize or relabel a box; fields left out keep their value. 200 with the box as saved."""
    box = _box_get(user=request.user, pk=pk)
    try:
        form = BoxForm(_posted(request), dataset=box.image.dataset, partial=True)
    except _BadRequest as exc:
        return _error(str(exc))
    if not form.is_valid():
        return _error(form.first_error())
    values = {
        name: getattr(box, name) if form.cleaned_data[name] is None else form.cleaned_data[name]
        for name in ("left", "top", "width", "height")
    }
    try:
        box = labeling.box_change(box=box, user=request.user, label=form.cleaned_data["label"], **values)
    except labeling.BoxError as exc:
        return _error(str(exc), exc.code)
    except DatasetError as exc:
        return _error(str(exc))
    return JsonResponse(_box_json(box))


@require_POST
def box_delete(request, pk):
    """Delete a box; 200 with its id."""
    box = _box_get(user=request.user, pk=pk)
    labeling.box_delete(box=box, user=request.user)
    return JsonResponse({"deleted": pk})
