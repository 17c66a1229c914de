"""The dataset page's gallery and import progress: their context and how they are rendered."""

from urllib.parse import urlencode

from django.shortcuts import redirect, render
from django.urls import reverse

from customlabels.numbers import int_or_none
from projects import selectors as project_selectors
from projects.s3_access import Use, request_s3

from .. import labeling, selectors
from ..imports import progress as import_progress
from ..imports import recovery
from ..models import Dataset


def example_bucket(request) -> str:
    """The bucket name the S3 location fields show in their example: one the user may import from."""
    grant = project_selectors.s3_access_grants(user=request.user).first()
    return grant.bucket if grant else "bucket"


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


def progress_context(dataset):
    job = import_progress.dataset_latest_import(dataset=dataset)
    if job is not None and not job.is_finished and recovery.imports_stalled_fail(job_ids=[job.pk]):
        # Whoever watches an import whose worker is gone sees it fail, even with no beat running.
        dataset.refresh_from_db()
        job.refresh_from_db()
    if job is not None and job.status == job.Status.WAITING:
        # Nor does an import wait on a slot that is free, beat or not.
        recovery.imports_resume(job_ids=[job.pk])
        job.refresh_from_db()
    progress = import_progress.import_progress(job=job) if job else None
    return {
        "dataset": dataset,
        "progress": progress,
        "phase": _phase(dataset, progress),
        "retryable": recovery.import_retryable(dataset=dataset),
    }


def gallery_context(request, dataset: Dataset, *, selected: set[int] | None = None, all_matching: bool = False):
    """Everything the gallery shows for the filter, page and mode in the request's query string."""
    query = request.GET
    filters = selectors.GalleryFilter.from_query(query)
    labeling_mode = query.get("mode") == "label"
    after, before = int_or_none(query.get("after")), int_or_none(query.get("before"))
    page = selectors.dataset_images(dataset=dataset, filters=filters, after=after, before=before)
    console = project_selectors.request_console_bucket(request).name
    user_s3 = request_s3(request)
    for image in page.images:
        # An image whose original the user may no longer see (a revoked grant) shows no thumbnail either.
        image.no_access = not user_s3.allows_uri(image.source_ref, use=Use.VIEW)
        image.thumbnail_url = (
            user_s3.presigned_uri(f"s3://{console}/{image.thumbnail_key}")
            if image.thumbnail_key and not image.no_access
            else ""
        )
        image.selected = selected is not None and (all_matching or image.id in selected)
    mode = [("mode", "label")] if labeling_mode else []
    base = filters.as_query() + mode
    position = [(k, v) for k, v in (("after", after), ("before", before)) if v is not None]
    stats, labels = selectors.dataset_counts(dataset=dataset)
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
    if filters == selectors.GalleryFilter(show=filters.show):
        return {"labeled": stats.labeled, "unlabeled": stats.unlabeled, "errors": stats.errors}[filters.show]
    if filters == selectors.GalleryFilter(label_ids=filters.label_ids) and len(filters.label_ids) == 1:
        # A label's image count is the images that use it, image-level or on a box: the filter's matches.
        label = next((lb for lb in labels if lb.id == filters.label_ids[0]), None)
        if label is not None:
            return label.image_count
    return selectors.dataset_images_matching(dataset=dataset, filters=filters).count()


def gallery_render(request, dataset, **kwargs):
    """The gallery after a change: its partial for htmx, a redirect to the same view otherwise."""
    if request.method == "POST" and not request.htmx:
        return redirect(f"{reverse('datasets:detail', args=[dataset.pk])}?{request.GET.urlencode()}")
    context = gallery_context(request, dataset, **kwargs)
    if request.htmx and (request.method == "POST" or request.htmx.target == "gallery"):
        return render(request, "datasets/dataset_detail.html#gallery", context)
    context.update(progress_context(dataset))
    return render(request, "datasets/dataset_detail.html", context)
