"""Export dataset, of the dataset as it is or of one of its versions: the dialog page, its progress
(polled with htmx while a worker writes) and the download."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from customlabels import s3_names
from projects.s3_access import request_s3

from .. import operations, selectors, versions
from ..errors import DatasetError
from ..forms import DatasetExportForm
from ..models import DatasetExport
from ..operations.format_export import export_file_name, export_split_pair

VERSION_SPLIT_HELP = (
    "YOLO: this share of the version's images goes to val, the rest to train (the same images on every export)."
)


def _context(dataset, form, version=None) -> dict:
    exports = selectors.dataset_exports_recent(dataset=dataset, version=version)
    if version is None:
        progress_url = reverse("datasets:export_progress", args=[dataset.pk])
        back_url = reverse("datasets:detail", args=[dataset.pk])
    else:
        progress_url = reverse("datasets:version_export_progress", args=[version.pk])
        back_url = reverse("datasets:version_detail", args=[version.pk])
    return {
        "dataset": dataset,
        "version": version,
        "project": dataset.project,
        "form": form,
        "exports": exports,
        "running": any(not e.is_finished for e in exports),
        # A version's YOLO split is its own entries': the project's pair is live, not frozen.
        "pair": None if version else export_split_pair(dataset=dataset, fmt=DatasetExport.Format.YOLO),
        "progress_url": progress_url,
        "back_url": back_url,
    }


def _export_page(request, dataset, version=None):
    form = DatasetExportForm(request.POST if request.method == "POST" else None)
    if version is not None:
        form.fields["val_percent"].help_text = VERSION_SPLIT_HELP
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            operations.dataset_export_start(
                dataset=dataset,
                user=request.user,
                fmt=data["format"],
                include_images=data["contents"] == DatasetExportForm.IMAGES,
                s3_location=data["s3_location"],
                val_percent=data["val_percent"],
                version=version,
            )
        except s3_names.S3AccessRefused as exc:
            form.add_error("s3_location", str(exc))
        except DatasetError as exc:
            form.add_error(None, str(exc))
        else:
            what = dataset.name if version is None else f"version {version.name} of {dataset.name}"
            messages.success(request, f"Exporting {what}. The file is ready when the status says Succeeded.")
            return redirect(request.path)
    return render(request, "datasets/dataset_export.html", _context(dataset, form, version))


@require_http_methods(["GET", "POST"])
def dataset_export(request, pk):
    """The export dialog; a POST queues the export and comes back here, where its progress shows."""
    return _export_page(request, selectors.dataset_get(user=request.user, pk=pk))


@require_http_methods(["GET", "POST"])
def version_export_dataset(request, pk):
    """The same dialog for a version: the export writes the entries the version froze."""
    version = versions.version_get(user=request.user, pk=pk)
    return _export_page(request, version.dataset, version)


@require_GET
def dataset_export_progress(request, pk):
    """The exports' list with their progress, polled every two seconds while one runs."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    return render(request, "datasets/dataset_export.html#export-list", _context(dataset, None))


@require_GET
def version_export_progress(request, pk):
    """A version's exports with their progress, polled as the dataset's are."""
    version = versions.version_get(user=request.user, pk=pk)
    return render(request, "datasets/dataset_export.html#export-list", _context(version.dataset, None, version))


@require_GET
def dataset_export_download(request, pk):
    """A redirect to a short-lived presigned URL of the export's zip, saved by the browser as a file."""
    export = selectors.dataset_export_get(user=request.user, pk=pk)
    if export.status != DatasetExport.Status.SUCCEEDED or not export.key:
        messages.info(request, "The export has no file to download.")
        if export.version_id is not None:
            return redirect("datasets:version_export_dataset", pk=export.version_id)
        return redirect("datasets:export", pk=export.dataset_id)
    url = request_s3(request).presigned_get_url(
        selectors.console_bucket_name(),
        export.key,
        content_disposition=f'attachment; filename="{export_file_name(export)}"',
    )
    return redirect(url)
