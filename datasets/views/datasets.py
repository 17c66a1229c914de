"""Dataset pages: create, add images, the dataset page and its progress, retry, delete, an image's page."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from customlabels import s3_names
from projects import s3_access
from projects import selectors as project_selectors
from projects.confirm_delete import delete_page
from projects.s3_access import request_s3

from .. import counts, imports, selectors, services
from ..errors import DatasetError
from ..forms import AddImagesForm, DatasetCreateForm, DatasetUseAsForm
from ..imports import recovery
from ..models import Dataset
from .gallery import example_bucket, gallery_render, progress_context


def _dataset_create_from(form, project, user) -> Dataset | None:
    """Check the chosen image location and create the dataset from it; problems go on the form."""
    data = form.cleaned_data
    location = data["image_location"]
    try:
        return imports.dataset_create(
            project=project,
            user=user,
            name=data["name"],
            source=location,
            s3_location=data["s3_location"],
            auto_label=data["auto_label"],
            manifest_location=data["manifest_location"],
            source_dataset=data["source_dataset"],
            format_location=data["format_location"],
        )
    except s3_names.S3Error as exc:
        fields = {DatasetCreateForm.MANIFEST: "manifest_location", DatasetCreateForm.FORMAT: "format_location"}
        form.add_error(fields.get(location, "s3_location"), str(exc))
    except DatasetError as exc:
        field = {"source": "source_dataset"}.get(exc.field, exc.field)
        form.add_error(field if field in form.fields else None, str(exc))
    return None


@require_http_methods(["GET", "POST"])
def dataset_create(request, project_pk):
    project = project_selectors.project_get(user=request.user, pk=project_pk)
    form = DatasetCreateForm(
        request.POST if request.method == "POST" else None,
        example_bucket=example_bucket(request),
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
    form = AddImagesForm(request.POST if request.method == "POST" else None, example_bucket=example_bucket(request))
    if request.method == "POST" and form.is_valid():
        formats = form.cleaned_data["image_location"] == AddImagesForm.FORMAT
        try:
            imports.images_add(
                dataset=dataset,
                user=request.user,
                source=imports.FORMAT if formats else imports.S3,
                s3_location=form.cleaned_data["s3_location"],
                auto_label=form.cleaned_data["auto_label"],
                format_location=form.cleaned_data["format_location"],
            )
        except s3_names.S3Error as exc:
            form.add_error("format_location" if formats else "s3_location", str(exc))
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


@require_http_methods(["GET", "POST"])
def dataset_delete(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    return delete_page(
        request,
        context=lambda: {
            "dataset": dataset,
            "project": dataset.project,
            "stats": counts.dataset_stats(dataset=dataset),
            "versions": list(dataset.versions.order_by("created_at").only("name")),
        },
        template="datasets/dataset_delete.html",
        delete=lambda: services.dataset_delete(dataset=dataset),
        refused=DatasetError,
        done=f"Dataset {dataset.name} was deleted.",
        then=reverse("projects:detail", args=[dataset.project_id]),
    )


@require_http_methods(["GET"])
def image_detail(request, pk):
    image = selectors.image_get(user=request.user, pk=pk)
    image_url = request_s3(request).presigned_uri(image.source_ref)
    context = {
        "image": image,
        "dataset": image.dataset,
        "project": image.dataset.project,
        "image_url": image_url,
        "refused": "" if image_url else s3_access.refused_message(*s3_names.split_uri(image.source_ref)),
        "back_query": request.GET.get("back", ""),
    }
    return render(request, "datasets/image_detail.html", context)


@require_POST
def dataset_use_as(request, pk):
    """Project page: make the dataset the project's training or test dataset."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    form = DatasetUseAsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose whether the dataset is the project's training or test dataset.")
    else:
        try:
            dataset = services.dataset_use_as(dataset=dataset, dataset_type=form.cleaned_data["dataset_type"])
        except DatasetError as exc:
            messages.error(request, str(exc))
        else:
            kind = "training" if dataset.dataset_type == Dataset.Type.TRAIN else "test"
            messages.success(request, f"{dataset.name} is now the project's {kind} dataset.")
    return redirect("projects:detail", pk=dataset.project_id)
