from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from customlabels import s3
from projects import selectors as project_selectors
from projects.models import ConsoleBucket

from . import selectors, services
from .errors import DatasetError
from .forms import DatasetCreateForm, S3FolderForm
from .models import Dataset


def _example_bucket() -> str:
    bucket = ConsoleBucket.objects.filter(created_at__isnull=False).first()
    return bucket.name if bucket else "bucket"


def _check_folder(form) -> bool:
    """Run the S3 checks the console does before creating anything; put problems at the field."""
    try:
        services.s3_folder_check(location=form.cleaned_data["s3_location"])
    except (s3.S3Error, DatasetError) as exc:
        form.add_error("s3_location", str(exc))
        return False
    return True


@require_http_methods(["GET", "POST"])
def dataset_create(request, project_pk):
    project = project_selectors.project_get(user=request.user, pk=project_pk)
    form = DatasetCreateForm(request.POST or None, example_bucket=_example_bucket())
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["name"]
        if project.datasets.filter(name=name).exists():
            form.add_error("name", f"A dataset named “{name}” already exists in this project.")
        elif _check_folder(form):
            try:
                dataset = services.dataset_create_from_s3(
                    project=project,
                    name=name,
                    location=form.cleaned_data["s3_location"],
                    auto_label=form.cleaned_data["auto_label"],
                )
            except DatasetError as exc:
                form.add_error(exc.field, str(exc))
            else:
                return redirect("datasets:detail", pk=dataset.pk)
    return render(request, "datasets/dataset_create.html", {"project": project, "form": form})


@require_http_methods(["GET", "POST"])
def dataset_add_images(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    form = S3FolderForm(request.POST or None, example_bucket=_example_bucket())
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
    if not progress.job.is_finished:
        return "import"
    if progress.thumbnails_pending and not progress.job.thumbnails_error:
        return "thumbnails"
    return "done"


def _progress_context(dataset):
    job = selectors.dataset_latest_import(dataset=dataset)
    progress = selectors.import_progress(job=job) if job else None
    return {"dataset": dataset, "progress": progress, "phase": _phase(dataset, progress)}


@require_http_methods(["GET"])
def dataset_detail(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    filters = selectors.GalleryFilter.from_query(request.GET)
    after, before = request.GET.get("after", ""), request.GET.get("before", "")
    page = selectors.dataset_images(
        dataset=dataset,
        filters=filters,
        after=int(after) if after.isdigit() else None,
        before=int(before) if before.isdigit() else None,
    )
    console = _example_bucket()
    for image in page.images:
        image.thumbnail_url = s3.presigned_get_url(console, image.thumbnail_key) if image.thumbnail_key else ""
    base_query = filters.as_query()
    context = {
        **_progress_context(dataset),
        "project": dataset.project,
        "filters": filters,
        "page": page,
        "stats": selectors.dataset_stats(dataset=dataset),
        "labels": selectors.dataset_labels_with_counts(dataset=dataset),
        "filter_query": urlencode(base_query),
        "next_query": urlencode({**base_query, "after": page.next_after}) if page.next_after else "",
        "prev_query": urlencode({**base_query, "before": page.prev_before}) if page.prev_before else "",
    }
    if request.htmx and request.htmx.target == "gallery":
        return render(request, "datasets/dataset_detail.html#gallery", context)
    return render(request, "datasets/dataset_detail.html", context)


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
