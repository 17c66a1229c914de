"""The Versions tab: create a version, a version's page (its statistics and health summary,
Download manifest, Restore as a new dataset) and the comparison of two versions or a version and now."""

import re

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from projects.s3_access import request_s3

from .. import operations, selectors, versions
from ..errors import DatasetError
from ..forms import VersionCompareForm, VersionCreateForm, VersionRestoreForm


@require_http_methods(["GET", "POST"])
def dataset_versions(request, pk):
    """The dataset's versions, newest first, with "Create version" and the form to compare two."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    form = VersionCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            version = versions.version_create(dataset=dataset, user=request.user, name=form.cleaned_data["name"])
        except DatasetError as exc:
            form.add_error("name" if exc.field else None, str(exc))
        else:
            messages.success(request, f"Version {version.name} was created with {version.images:,} images.")
            return redirect("datasets:versions", pk=dataset.pk)
    listed = list(versions.versions_of(dataset=dataset))
    context = {
        "dataset": dataset,
        "project": dataset.project,
        "form": form,
        "versions": listed,
        "compare_form": VersionCompareForm(
            versions=listed,
            initial={"before": str(listed[0].pk) if listed else "now", "after": "now"},
        ),
    }
    return render(request, "datasets/versions.html", context)


@require_GET
def version_detail(request, pk):
    version = versions.version_get(user=request.user, pk=pk)
    export = version.manifest_exports.order_by("-id").first()
    context = {
        "version": version,
        "dataset": version.dataset,
        "project": version.dataset.project,
        "export": export,
        "labels": sorted(version.label_counts.items()),
    }
    if request.htmx:
        return render(request, "datasets/version_detail.html#version-export", context)
    return render(request, "datasets/version_detail.html", context)


@require_http_methods(["POST"])
def version_export(request, pk):
    """Prepare the version's Ground Truth manifest (a worker writes it); the version page shows it."""
    version = versions.version_get(user=request.user, pk=pk)
    try:
        operations.version_export_start(version=version, user=request.user)
    except DatasetError as exc:
        messages.error(request, str(exc))
    return redirect("datasets:version_detail", pk=version.pk)


@require_GET
def version_download(request, pk):
    version = versions.version_get(user=request.user, pk=pk)
    export = version.manifest_exports.filter(status="SUCCEEDED").order_by("-id").first()
    if export is None:
        messages.info(request, "The manifest of this version has not been prepared yet.")
        return redirect("datasets:version_detail", pk=version.pk)
    file_name = re.sub(r"[^A-Za-z0-9_.\-]", "_", export.key.rsplit("/", 1)[-1])
    url = request_s3(request).presigned_get_url(
        selectors.console_bucket_name(), export.key, content_disposition=f'attachment; filename="{file_name}"'
    )
    return redirect(url)


@require_http_methods(["GET", "POST"])
def version_restore(request, pk):
    """Restore as a new dataset: the version's entries in a new dataset of the project."""
    version = versions.version_get(user=request.user, pk=pk)
    form = VersionRestoreForm(
        request.POST if request.method == "POST" else None,
        initial={"name": f"{version.dataset.name[:120]}-{re.sub(r'[^A-Za-z0-9_.-]', '-', version.name)[:120]}"},
    )
    if request.method == "POST" and form.is_valid():
        try:
            dataset = versions.version_restore_start(version=version, user=request.user, name=form.cleaned_data["name"])
        except DatasetError as exc:
            form.add_error("name" if exc.field else None, str(exc))
        else:
            messages.success(request, f"Restoring version {version.name} as the dataset {dataset.name}.")
            return redirect("datasets:detail", pk=dataset.pk)
    context = {"version": version, "dataset": version.dataset, "project": version.dataset.project, "form": form}
    return render(request, "datasets/version_restore.html", context)


@require_GET
def versions_compare(request, pk):
    """The differences of two versions (or a version and now): counts, then a page of images."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    listed = list(versions.versions_of(dataset=dataset))
    form = VersionCompareForm(request.GET, versions=listed)
    context = {"dataset": dataset, "project": dataset.project, "compare_form": form}
    if form.is_valid():
        # The form's choices are this dataset's versions and "now": any other id is refused by it.
        by_id = {str(v.pk): v for v in listed}
        before, after = by_id.get(form.cleaned_data["before"]), by_id.get(form.cleaned_data["after"])
        kind = request.GET.get("kind", "")
        kind = kind if kind in ("added", "removed", "changed") else ""
        rows, next_ref = versions.versions_compare_page(
            dataset=dataset, before=before, after=after, kind=kind, after_ref=request.GET.get("after_ref", "")
        )
        base = {"before": form.cleaned_data["before"], "after": form.cleaned_data["after"]}
        context.update(
            before=before,
            after=after,
            kind=kind,
            base=base,
            counts=versions.versions_compare_counts(dataset=dataset, before=before, after=after),
            rows=rows,
            next_ref=next_ref,
        )
    if request.htmx:
        return render(request, "datasets/versions_compare.html#differences", context)
    return render(request, "datasets/versions_compare.html", context)
