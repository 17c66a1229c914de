"""Reads of the import jobs: a running import's progress, the dataset's job list, a job's report."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404

from ..models import Dataset, Image, ImportJob


@dataclass(frozen=True)
class ImportProgress:
    job: ImportJob
    imported: int
    with_errors: int
    thumbnails: int
    thumbnails_pending: int

    @property
    def percent(self) -> int:
        job = self.job
        if job.is_finished:
            return 100
        if not job.found:
            return 0
        # Listing is unbounded until done; weight header reads by what has been found so far.
        done = self.imported + job.already_present
        if job.source == ImportJob.Source.MANIFEST:
            done += job.skipped  # a manifest's found counts lines, dropped ones too
        return min(99, int(100 * done / max(job.found, 1)))


def import_progress(*, job: ImportJob) -> ImportProgress:
    """The import's counts. Live while it runs or thumbnails are pending; once both are done the
    counts change only with the dataset's stats_version, so they are cached under it."""
    settled = job.is_finished and not job.images.filter(needs_thumbnail=True).exists()
    key = None
    if settled:
        version = Dataset.objects.filter(pk=job.dataset_id).values_list("stats_version", flat=True).first()
        key = f"import-progress:{job.pk}:{version}"
        cached = cache.get(key)
        if cached is not None:
            return ImportProgress(job=job, **cached)
    agg = job.images.aggregate(
        imported=Count("id"),
        with_errors=Count("id", filter=~Q(error_code="")),
        thumbnails=Count("id", filter=~Q(thumbnail_key="")),
        pending=Count("id", filter=Q(needs_thumbnail=True)),
    )
    counts = {
        "imported": agg["imported"],
        "with_errors": agg["with_errors"],
        "thumbnails": agg["thumbnails"],
        "thumbnails_pending": agg["pending"],
    }
    if key:
        cache.set(key, counts, timeout=3600)
    return ImportProgress(job=job, **counts)


def dataset_latest_import(*, dataset: Dataset) -> ImportJob | None:
    return dataset.import_jobs.order_by("-created_at", "-id").first()


IMPORT_JOBS_SHOWN = 20


def import_job_get(*, user, pk: int) -> ImportJob:
    """The user's import job, or 404 — never another user's."""
    return get_object_or_404(ImportJob.objects.select_related("dataset__project"), pk=pk, dataset__project__owner=user)


def dataset_import_jobs(*, dataset: Dataset) -> list[ImportJob]:
    """The dataset's latest import jobs, newest first, each with `imported` (its images) and
    `with_errors` (those with an error): one grouped query for them all, cached under the dataset's
    stats_version, which every change to those images bumps."""
    jobs = list(dataset.import_jobs.order_by("-created_at", "-id")[:IMPORT_JOBS_SHOWN])
    if not jobs:
        return jobs
    version = Dataset.objects.filter(pk=dataset.pk).values_list("stats_version", flat=True).first()
    # Jobs are only ever added, so the newest one's id names the list shown.
    key = f"import-jobs:{dataset.pk}:{version}:{jobs[0].pk}"
    counts = cache.get(key)
    if counts is None:
        rows = (
            Image.objects.filter(import_job_id__in=[job.pk for job in jobs])
            .values("import_job_id")
            .annotate(n=Count("id"), errors=Count("id", filter=~Q(error_code="")))
            .values_list("import_job_id", "n", "errors")
        )
        counts = {job_id: (n, errors) for job_id, n, errors in rows}
        cache.set(key, counts, timeout=3600)
    for job in jobs:
        job.imported, job.with_errors = counts.get(job.pk, (0, 0))
    return jobs


def import_job_report_rows(*, job: ImportJob):
    """The import's report as (item, code, reason) rows, streamed: every source item it did not
    import (skipped objects, dropped manifest lines, refused uploads), then every image of the job
    with an error (its source-ref, error code and message)."""
    items = job.report_items.order_by("id").values_list("key", "code", "reason")
    yield from items.iterator(chunk_size=2000)
    errors = (
        Image.objects.filter(import_job=job)
        .exclude(error_code="")
        .order_by("id")
        .values_list("source_ref", "error_code", "error_message")
    )
    yield from errors.iterator(chunk_size=2000)
