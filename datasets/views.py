from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from customlabels import s3
from customlabels.numbers import int_or_none
from customlabels.text import counted
from projects import selectors as project_selectors
from projects.forms import ConfirmDeleteForm
from projects.models import ConsoleBucket

from . import labeling, manifest_import, operations, recovery, selectors, services, uploads
from .errors import DatasetError
from .forms import DatasetCreateForm, LabelImportForm, S3FolderForm
from .models import Dataset, Image


def _example_bucket() -> str:
    bucket = ConsoleBucket.objects.filter(region=settings.AWS_DEFAULT_REGION, created_at__isnull=False).first()
    return bucket.name if bucket else "bucket"


def _check_folder(form) -> bool:
    """Run the S3 checks the console does before creating anything; put problems at the field."""
    try:
        services.s3_folder_check(location=form.cleaned_data["s3_location"])
    except (s3.S3Error, DatasetError) as exc:
        form.add_error("s3_location", str(exc))
        return False
    return True


def _dataset_create_from(form, project, user) -> Dataset | None:
    """Check the chosen image location and create the dataset from it; problems go on the form."""
    data = form.cleaned_data
    name, location = data["name"], data["image_location"]
    try:
        if location == DatasetCreateForm.S3:
            if not _check_folder(form):
                return None
            return services.dataset_create_from_s3(
                project=project, name=name, location=data["s3_location"], auto_label=data["auto_label"]
            )
        if location == DatasetCreateForm.UPLOAD:
            return uploads.dataset_create_empty(project=project, name=name)
        if location == DatasetCreateForm.MANIFEST:
            manifest_import.manifest_check(location=data["manifest_location"])
            return manifest_import.dataset_create_from_manifest(
                project=project, name=name, location=data["manifest_location"]
            )
        return operations.dataset_create_copy(project=project, name=name, source=data["source_dataset"], user=user)
    except s3.S3Error as exc:
        form.add_error("manifest_location" if location == DatasetCreateForm.MANIFEST else "s3_location", str(exc))
    except DatasetError as exc:
        field = {"source": "source_dataset"}.get(exc.field, exc.field)
        form.add_error(field if field in form.fields else None, str(exc))
    return None


@require_http_methods(["GET", "POST"])
def dataset_create(request, project_pk):
    project = project_selectors.project_get(user=request.user, pk=project_pk)
    form = DatasetCreateForm(
        request.POST if request.method == "POST" else None,
        example_bucket=_example_bucket(),
        copyable=selectors.datasets_copyable(user=request.user),
    )
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["name"]
        if project.datasets.filter(name=name).exists():
            form.add_error("name", f"A dataset named “{name}” already exists in this project.")
        else:
            dataset = _dataset_create_from(form, project, request.user)
            if dataset is not None:
                if form.cleaned_data["image_location"] == DatasetCreateForm.UPLOAD:
                    # As the console does: the empty dataset opens in labeling mode, ready for "+ Add images".
                    return redirect(f"{reverse('datasets:detail', args=[dataset.pk])}?mode=label&add_images=1")
                return redirect("datasets:detail", pk=dataset.pk)
    return render(request, "datasets/dataset_create.html", {"project": project, "form": form})


@require_http_methods(["GET", "POST"])
def dataset_add_images(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    form = S3FolderForm(request.POST if request.method == "POST" else None, example_bucket=_example_bucket())
    if request.method == "POST" and form.is_valid() and _check_folder(form):
        try:
            services.dataset_add_images_from_s3(
                dataset=dataset, location=form.cleaned_data["s3_location"], auto_label=form.cleaned_data["auto_label"]
            )
        except DatasetError as exc:
            form.add_error(exc.field, str(exc))
        else:
            return redirect("datasets:detail", pk=dataset.pk)
    return render(request, "datasets/dataset_add_images.html", {"dataset": dataset, "form": form})


def _phase(dataset: Dataset, progress) -> str:
    if progress is None:
        return "done"
    if not progress.job.is_finished or dataset.is_in_progress:
        # The dataset row is read before its job: when a worker finishes in between, the page would
        # show the old status with nothing polling to replace it. It polls until both agree.
        return "import"
    if progress.thumbnails_pending and not progress.job.thumbnails_error:
        return "thumbnails"
    return "done"


def _progress_context(dataset):
    job = selectors.dataset_latest_import(dataset=dataset)
    if job is not None and not job.is_finished and recovery.imports_stalled_fail(job_ids=[job.pk]):
        # Whoever watches an import whose worker is gone sees it fail, even with no beat running.
        dataset.refresh_from_db()
        job.refresh_from_db()
    progress = selectors.import_progress(job=job) if job else None
    return {
        "dataset": dataset,
        "progress": progress,
        "phase": _phase(dataset, progress),
        "retryable": recovery.import_retryable(dataset=dataset),
    }


def _gallery_context(request, dataset: Dataset, *, selected: set[int] | None = None, all_matching: bool = False):
    """Everything the gallery shows for the filter, page and mode in the request's query string."""
    query = request.GET
    filters = selectors.GalleryFilter.from_query(query)
    labeling_mode = query.get("mode") == "label"
    page = selectors.dataset_images(
        dataset=dataset,
        filters=filters,
        after=int_or_none(query.get("after")),
        before=int_or_none(query.get("before")),
    )
    console = _example_bucket()
    for image in page.images:
        image.thumbnail_url = s3.presigned_get_url(console, image.thumbnail_key) if image.thumbnail_key else ""
        image.selected = selected is not None and (all_matching or image.id in selected)
    mode = [("mode", "label")] if labeling_mode else []
    base = filters.as_query() + mode
    position = [(k, query[k]) for k in ("after", "before") if int_or_none(query.get(k)) is not None]
    labels = selectors.dataset_labels_with_counts(dataset=dataset)
    stats = selectors.dataset_stats(dataset=dataset)
    context = {
        "dataset": dataset,
        "project": dataset.project,
        "filters": filters,
        "labeling_mode": labeling_mode,
        "page": page,
        "stats": stats,
        "labels": labels,
        "label_max": max([label.image_count for label in labels] + [1]),
        "filter_query": urlencode(filters.as_query()),
        "mode_query": urlencode(mode),
        "current_query": urlencode(base + position),
        "next_query": urlencode(base + [("after", page.next_after)]) if page.next_after else "",
        "prev_query": urlencode(base + [("before", page.prev_before)]) if page.prev_before else "",
        "all_matching": all_matching,
    }
    if labeling_mode:
        context["matching_count"] = _matching_count(dataset, filters, stats, labels)
        context["last_action"] = labeling.labeling_last_action(dataset=dataset, user=request.user)
    return context


def _matching_count(dataset, filters, stats, labels) -> int:
    """How many images "Select all N images that match this filter" selects; counted only when no
    figure on the page already says it."""
    if filters.is_default:
        return stats.total
    if filters == selectors.GalleryFilter(label_ids=filters.label_ids) and len(filters.label_ids) == 1:
        # A label's image count is the images that use it, image-level or on a box: the filter's matches.
        label = next((lb for lb in labels if lb.id == filters.label_ids[0]), None)
        if label is not None:
            return label.image_count
    return selectors.dataset_images_matching(dataset=dataset, filters=filters).count()


def _render_gallery(request, dataset, **kwargs):
    """The gallery after a change: its partial for htmx, a redirect to the same view otherwise."""
    if request.method == "POST" and not request.htmx:
        return redirect(f"{reverse('datasets:detail', args=[dataset.pk])}?{request.GET.urlencode()}")
    context = _gallery_context(request, dataset, **kwargs)
    if request.htmx and (request.method == "POST" or request.htmx.target == "gallery"):
        return render(request, "datasets/dataset_detail.html#gallery", context)
    context.update(_progress_context(dataset))
    return render(request, "datasets/dataset_detail.html", context)


@require_http_methods(["GET"])
def dataset_detail(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    return _render_gallery(request, dataset)


@require_http_methods(["GET"])
def dataset_progress(request, pk):
    """The live progress partial, polled every 2 s; when the phase changes the page reloads itself."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    context = _progress_context(dataset)
    if request.htmx and request.GET.get("phase") and request.GET["phase"] != context["phase"]:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "datasets/dataset_detail.html#import-progress", context)


@require_POST
def dataset_import_retry(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    try:
        recovery.import_retry(dataset=dataset)
    except DatasetError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "The import was queued again.")
    return redirect("datasets:detail", pk=dataset.pk)


@require_http_methods(["GET"])
def image_detail(request, pk):
    image = selectors.image_get(user=request.user, pk=pk)
    bucket, key = s3.split_uri(image.source_ref)
    context = {
        "image": image,
        "dataset": image.dataset,
        "project": image.dataset.project,
        "image_url": s3.presigned_get_url(bucket, key),
        "back_query": request.GET.get("back", ""),
    }
    return render(request, "datasets/image_detail.html", context)


# --- labeling mode ------------------------------------------------------------------------


def _selection(request, dataset):
    """The images a labeling action applies to: the ticked ones, or every image matching the filter."""
    if request.POST.get("all_matching") == "1":
        filters = selectors.GalleryFilter.from_query(request.GET)
        return selectors.dataset_images_matching(dataset=dataset, filters=filters), set(), True
    ids = {n for n in map(int_or_none, request.POST.getlist("image")) if n is not None}
    return Image.objects.filter(dataset=dataset, pk__in=ids), ids, False


def _labels_posted(request) -> list[int]:
    return [n for n in map(int_or_none, request.POST.getlist("assign_label")) if n is not None]


def _selection_labels_change(request, pk, *, service, done: str):
    """Apply `service` (assign or remove) to the posted labels and selection; re-render the gallery."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    images, ids, all_matching = _selection(request, dataset)
    if not ids and not all_matching:
        messages.error(request, "Select one or more images first.")
    else:
        try:
            n = service(dataset=dataset, user=request.user, label_ids=_labels_posted(request), images=images)
        except DatasetError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Saved: {counted(n, 'label assignment')} {done}.")
    return _render_gallery(request, dataset, selected=ids, all_matching=all_matching)


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
    return _render_gallery(request, image.dataset)


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
    return _render_gallery(request, dataset)


@require_POST
def label_add(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    try:
        label = labeling.label_add(dataset=dataset, user=request.user, name=request.POST.get("name", ""))
    except DatasetError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Saved: label {label.name} added.")
    return _render_gallery(request, dataset)


@require_POST
def label_rename(request, pk):
    label = selectors.label_get(user=request.user, pk=pk)
    old = label.name
    try:
        labeling.label_rename(label=label, user=request.user, name=request.POST.get("name", ""))
    except DatasetError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Saved: label {old} renamed to {label.name}.")
    return _render_gallery(request, label.dataset)


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


@require_http_methods(["GET", "POST"])
def dataset_delete(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    form = ConfirmDeleteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.dataset_delete(dataset=dataset)
        except DatasetError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Dataset {dataset.name} was deleted.")
            return redirect("projects:detail", pk=dataset.project_id)
    stats = selectors.dataset_stats(dataset=dataset)
    return render(
        request,
        "datasets/dataset_delete.html",
        {"dataset": dataset, "project": dataset.project, "form": form, "stats": stats},
    )
