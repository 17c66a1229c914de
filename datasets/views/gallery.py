"""The dataset page's gallery and import progress: their context and how they are rendered."""

from urllib.parse import quote, urlencode

from django.shortcuts import redirect, render
from django.urls import reverse

from customlabels import sql_batch
from customlabels.numbers import int_or_none
from projects import selectors as project_selectors
from projects.s3_access import Use, grants_from, grants_read, request_s3, request_s3_made

from .. import counts, selectors
from ..imports import progress as import_progress
from ..imports import recovery
from ..models import Dataset


def example_bucket(request) -> str:
    """The bucket name the S3 location fields show in their example: one the user may import from."""
    grant = project_selectors.s3_access_grants(user=request.user).first()
    return grant.bucket if grant else "bucket"


def _phase(dataset: Dataset, progress) -> str:
    if progress is None:
        # A dataset restored from a version has no import job: it polls until the worker is done.
        return "restore" if dataset.status == Dataset.Status.CREATE_IN_PROGRESS else "done"
    if not progress.job.is_finished or dataset.is_in_progress:
        # The dataset row is read before its job: when a worker finishes in between, the page would
        # show the old status with nothing polling to replace it. It polls until both agree.
        return "import"
    if progress.thumbnails_pending and not progress.job.thumbnails_error:
        return "thumbnails"
    return "done"


def progress_context(dataset, *, latest: list | None = None):
    """The progress panel's context; `latest`: the rows of import_progress.latest_import_read, when
    the caller has just read them."""
    if latest is not None:
        job = import_progress.latest_import_from(latest)
    else:
        job = import_progress.dataset_latest_import(dataset=dataset)
    if job is not None and not job.is_finished and recovery.imports_stalled_fail(job_ids=[job.pk]):
        # Whoever watches an import whose worker is gone sees it fail, even with no beat running.
        dataset.refresh_from_db()
        job = import_progress.dataset_latest_import(dataset=dataset)
    if job is not None and job.status == job.Status.WAITING:
        # Nor does an import wait on a slot that is free, beat or not.
        recovery.imports_resume(job_ids=[job.pk])
        job = import_progress.dataset_latest_import(dataset=dataset)
    progress = import_progress.import_progress(job=job) if job else None
    return {
        "dataset": dataset,
        "progress": progress,
        "phase": _phase(dataset, progress),
        "retryable": recovery.import_retryable(dataset=dataset, latest=job),
    }


def gallery_context(
    request, dataset: Dataset, *, selected: set[int] | None = None, all_matching: bool = False, progress=False
):
    """Everything the gallery shows for the filter, page and mode in the request's query string, for
    a dataset read in this request after any change the request made; with `progress`, the progress
    panel's too (progress_context).

    The page of images, the user's grants and the latest import do not depend on each other: they
    are read in one round trip (customlabels.sql_batch)."""
    query = request.GET
    filters = selectors.GalleryFilter.from_query(query)
    labeling_mode = query.get("mode") == "label"
    after, before = int_or_none(query.get("after")), int_or_none(query.get("before"))
    stats, labels = counts.dataset_counts(dataset=dataset, version=dataset.stats_version)
    page_read = selectors.dataset_images_read(
        dataset=dataset, filters=filters, after=after, before=before, label_ids={label.id for label in labels}
    )
    reads = {"page": page_read.read} if page_read.read else {}
    if not request_s3_made(request):
        reads["grants"] = grants_read(request.user.pk)
    latest_read = import_progress.latest_import_read(dataset_id=dataset.pk) if progress else None
    if latest_read is not None:
        reads["latest"] = latest_read
    results = dict(zip(reads, sql_batch.read_all(list(reads.values())), strict=True))
    if "grants" in results:
        request_s3(request, grants=grants_from(results["grants"]))
    page = page_read.page(results.get("page", []))
    mode = [("mode", "label")] if labeling_mode else []
    base = filters.as_query() + mode
    position = [(k, v) for k, v in (("after", after), ("before", before)) if v is not None]
    filter_query, current_query = urlencode(filters.as_query()), urlencode(base + position)
    _cards_prepare(
        request,
        page.images,
        # The image page's "back" link returns to the gallery as it is, in labeling mode to the very page.
        back=current_query if labeling_mode else filter_query,
        chip_query=current_query if labeling_mode else None,
        selected=selected,
        all_matching=all_matching,
    )
    context = {
        "dataset": dataset,
        "project": dataset.project,
        "filters": filters,
        "labeling_mode": labeling_mode,
        "page": page,
        "stats": stats,
        "labels": labels,
        "label_max": max([label.image_count for label in labels] + [1]),
        "filter_query": filter_query,
        "mode_query": urlencode(mode),
        "current_query": current_query,
        "next_query": urlencode(base + [("after", page.next_after)]) if page.next_after else "",
        "prev_query": urlencode(base + [("before", page.prev_before)]) if page.prev_before else "",
        "all_matching": all_matching,
    }
    if labeling_mode:
        context["matching_count"] = _matching_count(dataset, filters, stats, labels)
        context["last_action"] = selectors.labeling_last_action(dataset=dataset, user=request.user)
    if progress:
        context.update(progress_context(dataset, latest=results.get("latest")))
    return context


def _cards_prepare(request, images, *, back: str, chip_query: str | None, selected, all_matching: bool) -> None:
    """Give each card what it shows, computed here once rather than by template tags per card:
    its thumbnail's presigned URL (or why there is none), its link, and in labeling mode (when
    `chip_query` is given) each label chip's removal URL."""
    console = project_selectors.request_console_bucket(request).name
    user_s3 = request_s3(request)
    presign = user_s3.presigner()
    detail = _url_format("datasets:image_detail") + "?back=" + quote(back, safe="/")
    chip_remove = _url_format("datasets:image_label_remove", 2) + "?" + chip_query if chip_query is not None else ""
    for image in images:
        # An image whose original the user may no longer see (a revoked grant) shows no thumbnail either.
        image.no_access = not user_s3.allows_uri(image.source_ref, use=Use.VIEW)
        image.thumbnail_url = (
            presign(console, image.thumbnail_key) if image.thumbnail_key and not image.no_access else ""
        )
        image.selected = selected is not None and (all_matching or image.id in selected)
        image.href = detail.format(image.id)
        image.chips = [
            (name, chip_remove.format(image.id, label_id) if chip_remove else "") for label_id, name in image.labels
        ]


def _url_format(name: str, arity: int = 1) -> str:
    """The URL `name` reverses to, with "{}" where its integer arguments go: reversed once and
    formatted for each card ({% url %} for every card and chip cost a tenth of the page)."""
    marks = [str(10**17 + n) for n in range(arity)]
    url = reverse(name, args=marks).replace("{", "{{").replace("}", "}}")
    for mark in marks:
        url = url.replace(mark, "{}")
    return url


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
    if request.method == "POST":
        # The counts are cached under the dataset's stats_version: the one this request's change left.
        dataset.refresh_from_db(fields=["stats_version"])
    partial = request.htmx and (request.method == "POST" or request.htmx.target == "gallery")
    context = gallery_context(request, dataset, progress=not partial, **kwargs)
    if partial:
        return render(request, "datasets/dataset_detail.html#gallery", context)
    return render(request, "datasets/dataset_detail.html", context)
