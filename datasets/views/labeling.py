"""Labeling mode: labels assigned to and removed from the selected images, undo, and the dataset's labels."""

from collections.abc import Callable

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from customlabels.numbers import int_or_none
from customlabels.text import counted

from .. import labeling, selectors
from ..errors import DatasetError
from ..forms import LabelImportForm
from ..models import Image
from .gallery import gallery_render


def _selection(request, dataset):
    """The images a labeling action applies to: the ticked ones, or every image matching the filter."""
    if request.POST.get("all_matching") == "1":
        filters = selectors.GalleryFilter.from_query(request.GET)
        return selectors.dataset_images_matching(dataset=dataset, filters=filters), set(), True
    ids = {n for n in map(int_or_none, request.POST.getlist("image")) if n is not None}
    return Image.objects.filter(dataset=dataset, pk__in=ids), ids, False


def _labels_posted(request) -> list[int]:
    return [n for n in map(int_or_none, request.POST.getlist("assign_label")) if n is not None]


def _save(request, change: Callable[[], str]) -> None:
    """Run `change`, which saves and says what it saved; the user reads that, or why it was refused."""
    try:
        saved = change()
    except DatasetError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Saved: {saved}.")


def _selection_labels_change(request, pk, *, service, done: str):
    """Apply `service` (assign or remove) to the posted labels and selection; re-render the gallery."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    images, ids, all_matching = _selection(request, dataset)

    def change() -> str:
        n = service(dataset=dataset, user=request.user, label_ids=_labels_posted(request), images=images)
        return f"{counted(n, 'label assignment')} {done}"

    if not ids and not all_matching:
        messages.error(request, "Select one or more images first.")
    else:
        _save(request, change)
    return gallery_render(request, dataset, selected=ids, all_matching=all_matching)


@require_POST
def images_labels_assign(request, pk):
    return _selection_labels_change(request, pk, service=labeling.images_labels_assign, done="added")


@require_POST
def images_labels_remove(request, pk):
    return _selection_labels_change(request, pk, service=labeling.images_labels_remove, done="removed")


@require_POST
def image_label_remove(request, pk, label_pk):
    image = selectors.image_get(user=request.user, pk=pk)
    label = selectors.label_get(user=request.user, pk=label_pk)
    if label.dataset_id != image.dataset_id:
        raise Http404
    labeling.images_labels_remove(
        dataset=image.dataset, user=request.user, label_ids=[label.pk], images=Image.objects.filter(pk=image.pk)
    )
    messages.success(request, f"Saved: removed {label.name} from {image.file_name}.")
    if request.POST.get("next") == "image":
        return redirect("datasets:image_detail", pk=image.pk)
    return gallery_render(request, image.dataset)


@require_POST
def labeling_undo(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    action = labeling.labeling_undo(dataset=dataset, user=request.user)
    if not request.htmx and request.accepts("application/json") and not request.accepts("text/html"):
        return JsonResponse({"undone": action.description if action else None})
    if action is None:
        messages.info(request, "There is nothing to undo.")
    else:
        messages.success(request, f"Undone: {action.description}.")
    return gallery_render(request, dataset)


@require_POST
def label_add(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)

    def add() -> str:
        label = labeling.label_add(dataset=dataset, user=request.user, name=request.POST.get("name", ""))
        return f"label {label.name} added"

    _save(request, add)
    return gallery_render(request, dataset)


@require_POST
def label_rename(request, pk):
    label = selectors.label_get(user=request.user, pk=pk)
    old = label.name

    def rename() -> str:
        labeling.label_rename(label=label, user=request.user, name=request.POST.get("name", ""))
        return f"label {old} renamed to {label.name}"

    _save(request, rename)
    return gallery_render(request, label.dataset)


@require_http_methods(["GET", "POST"])
def label_remove(request, pk):
    label = selectors.label_get(user=request.user, pk=pk)
    dataset = label.dataset
    if request.method == "POST":
        images, boxes = labeling.label_remove(label=label)
        messages.success(
            request,
            f"Label {label.name} removed from the dataset, with {counted(images, 'image assignment')} "
            f"and {counted(boxes, 'box', 'boxes')}.",
        )
        return redirect(f"{reverse('datasets:detail', args=[dataset.pk])}?mode=label")
    images, boxes = labeling.label_usage(label=label)
    return render(
        request,
        "datasets/label_remove.html",
        {"label": label, "dataset": dataset, "project": dataset.project, "images": images, "boxes": boxes},
    )


@require_http_methods(["GET", "POST"])
def labels_import(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    sources = selectors.datasets_with_labels(user=request.user, exclude=dataset)
    form = LabelImportForm(request.POST if request.method == "POST" else None, sources=sources)
    if request.method == "POST" and form.is_valid():
        try:
            labels = labeling.labels_import(dataset=dataset, source=form.cleaned_data["source"], user=request.user)
        except DatasetError as exc:
            form.add_error("source", str(exc))
        else:
            messages.success(
                request, f"{counted(len(labels), 'label')} imported from {form.cleaned_data['source'].name}."
            )
            return redirect(f"{reverse('datasets:detail', args=[dataset.pk])}?mode=label")
    return render(
        request, "datasets/labels_import.html", {"dataset": dataset, "project": dataset.project, "form": form}
    )
