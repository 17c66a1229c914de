"""Export dataset: the dialog page, its progress (polled with htmx while a worker writes) and the download."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from customlabels import s3_names
from projects.s3_access import request_s3

from .. import operations, selectors
from ..errors import DatasetError
from ..forms import DatasetExportForm
from ..models import DatasetExport
from ..operations.format_export import export_file_name, export_split_pair


def _context(dataset, form) -> dict:
    exports = selectors.dataset_exports_recent(dataset=dataset)
    return {
        "dataset": dataset,
        "project": dataset.project,
        "form": form,
        "exports": exports,
        "running": any(not e.is_finished for e in exports),
        "pair": export_split_pair(dataset=dataset, fmt=DatasetExport.Format.YOLO),
    }


@require_http_methods(["GET", "POST"])
def dataset_export(request, pk):
    """The export dialog; a POST queues the export and comes back here, where its progress shows."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    form = DatasetExportForm(request.POST if request.method == "POST" else None)
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
            )
        except s3_names.S3AccessRefused as exc:
            form.add_error("s3_location", str(exc))
        except DatasetError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Exporting {dataset.name}. The file is ready when the status says Succeeded.")
            return redirect("datasets:export", pk=dataset.pk)
    return render(request, "datasets/dataset_export.html", _context(dataset, form))


@require_GET
def dataset_export_progress(request, pk):
    """The exports' list with their progress, polled every two seconds while one runs."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    return render(request, "datasets/dataset_export.html#export-list", _context(dataset, None))


@require_GET
def dataset_export_download(request, pk):
    """A redirect to a short-lived presigned URL of the export's zip, saved by the browser as a file."""
    export = selectors.dataset_export_get(user=request.user, pk=pk)
    if export.status != DatasetExport.Status.SUCCEEDED or not export.key:
        messages.info(request, "The export has no file to download.")
        return redirect("datasets:export", pk=export.dataset_id)
    url = request_s3(request).presigned_get_url(
        selectors.console_bucket_name(),
        export.key,
        content_disposition=f'attachment; filename="{export_file_name(export)}"',
    )
    return redirect(url)
