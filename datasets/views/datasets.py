"""Dataset pages: create, add images, the dataset page and its progress, retry, delete, an image's page."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from customlabels import s3
from projects import selectors as project_selectors
from projects.forms import ConfirmDeleteForm

from .. import operations, selectors, services
from ..errors import DatasetError
from ..forms import DatasetCreateForm, S3FolderForm
from ..imports import manifest as manifest_import
from ..imports import recovery
from ..imports import upload as uploads
from ..models import Dataset
from .gallery import example_bucket, gallery_render, progress_context


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
        example_bucket=example_bucket(),
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
    form = S3FolderForm(request.POST if request.method == "POST" else None, example_bucket=example_bucket())
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


@require_http_methods(["GET"])
def dataset_detail(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    return gallery_render(request, dataset)


@require_http_methods(["GET"])
def dataset_progress(request, pk):
    """The live progress partial, polled every 2 s; when the phase changes the page reloads itself."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    context = progress_context(dataset)
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
