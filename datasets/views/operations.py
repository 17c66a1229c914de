"""Pages for "Create test dataset", "Download manifest" and a dataset's import jobs with their CSV reports."""

import re

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from projects.s3_access import request_s3

from .. import operations, selectors
from ..errors import DatasetError
from ..formats.reports import csv_lines
from ..forms import DatasetSplitForm
from ..imports import progress, split
from ..models import ManifestExport
from ..operations.export import MANIFEST_NOT_CREATED


@require_http_methods(["GET", "POST"])
def dataset_split(request, pk):
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    form = DatasetSplitForm(
        request.POST if request.method == "POST" else None, initial={"name": f"{dataset.name[:250]}-test"}
    )
    refusal = None
    if request.method == "POST" and form.is_valid():
        try:
            test = split.dataset_split(dataset=dataset, name=form.cleaned_data["name"], user=request.user)
        except DatasetError as exc:
            if exc.field:
                form.add_error(exc.field, str(exc))
            else:
                refusal = str(exc)
        else:
            messages.success(
                request,
                f"Creating the test dataset {test.name} with {split.SPLIT_PERCENT}% of the images of {dataset.name}.",
            )
            return redirect("datasets:detail", pk=test.pk)
    elif request.method == "GET":
        refusal = split.dataset_split_refusal(dataset=dataset)
    context = {"dataset": dataset, "project": dataset.project, "form": form, "refusal": refusal}
    return render(request, "datasets/dataset_split.html", context)


def _export_context(dataset, *, error: str = "") -> dict:
    export = selectors.manifest_export_latest(dataset=dataset)
    current = export is not None and export.stats_version == dataset.stats_version
    status = ManifestExport.Status
    can_start = (
        not dataset.never_created
        and not dataset.is_in_progress
        and (export is None or export.status == status.FAILED or (export.status == status.SUCCEEDED and not current))
    )
    return {
        "dataset": dataset,
        "project": dataset.project,
        "export": export,
        "current": current,
        "can_start": can_start,
        "error": error or (MANIFEST_NOT_CREATED if dataset.never_created else ""),
    }


@require_http_methods(["GET", "POST"])
def manifest_export(request, pk):
    """The dataset's manifest export: its state (polled while it is written), "Download manifest" once written."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    error = ""
    if request.method == "POST":
        try:
            operations.manifest_export_start(dataset=dataset, user=request.user)
        except DatasetError as exc:
            error = str(exc)
        if not request.htmx:
            if error:
                messages.error(request, error)
            return redirect("datasets:manifest", pk=dataset.pk)
    context = _export_context(dataset, error=error)
    if request.htmx:
        return render(request, "datasets/manifest_export.html#export-state", context)
    return render(request, "datasets/manifest_export.html", context)


@require_GET
def manifest_download(request, pk):
    """A redirect to a short-lived presigned URL of the latest manifest, which the browser saves as a file."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    export = selectors.manifest_export_latest(dataset=dataset, succeeded=True)
    if export is None:
        messages.info(request, "The manifest has not been prepared yet.")
        return redirect("datasets:manifest", pk=dataset.pk)
    file_name = re.sub(r"[^A-Za-z0-9_.\-]", "_", export.key.rsplit("/", 1)[-1])
    url = request_s3(request).presigned_get_url(
        selectors.console_bucket_name(), export.key, content_disposition=f'attachment; filename="{file_name}"'
    )
    return redirect(url)


@require_GET
def dataset_import_jobs(request, pk):
    """The dataset's import jobs: a partial the dataset page loads, or a page of its own without JavaScript."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    context = {
        "dataset": dataset,
        "project": dataset.project,
        "import_jobs": progress.dataset_import_jobs(dataset=dataset),
    }
    template = "datasets/_import_jobs.html" if request.htmx else "datasets/import_jobs.html"
    return render(request, template, context)


@require_GET
def import_job_report(request, pk):
    """The import's report as CSV, streamed row by row: the items it did not import, then its images with errors."""
    job = progress.import_job_get(user=request.user, pk=pk)
    response = StreamingHttpResponse(
        csv_lines(progress.import_job_report_rows(job=job)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-{job.dataset.name}-report.csv"'
    return response
