"""Reads of the import jobs: a running import's progress, the dataset's job list, a job's report."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404

from customlabels import sql_batch

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
        if job.source in (ImportJob.Source.MANIFEST, ImportJob.Source.FORMAT):
            done += job.skipped  # a manifest's found counts lines, dropped ones too (a format's: its items)
        return min(99, int(100 * done / max(job.found, 1)))


def import_progress(*, job: ImportJob) -> ImportProgress:
    """The import's counts, polled every two seconds, without counting its images each time.

    While it runs: the counters its chunks keep on the job (no thumbnails are made before it ends).
    Once it ended: its images' counts, which change only with the dataset's stats_version, cached
    under it; while thumbnails are pending, those made are derived from them and a count of the
    pending images alone (a partial index, which empties as the thumbnails are made).
    """
    if not job.is_finished:
        return ImportProgress(
            job=job, imported=job.inserted, with_errors=job.inserted_with_errors, thumbnails=0, thumbnails_pending=0
        )
    if getattr(job, "now_stats_version", None) is not None:
        # Read with the job by dataset_latest_import.
        version, pending = job.now_stats_version, {"n": job.now_pending, "shown": job.now_pending_shown}
    else:
        version = Dataset.objects.filter(pk=job.dataset_id).values_list("stats_version", flat=True).first()
        pending = job.images.filter(needs_thumbnail=True).aggregate(
            n=Count("id"), shown=Count("id", filter=~Q(thumbnail_key=""))
        )
    key = f"import-progress:{job.pk}:{version}"
    counts = cache.get(key)
    if counts is None:
        # Between two versions only thumbnails are made (a failed one bumps the version), so the
        # images that will never have one stay as counted here.
        # Each count from an index without the table (as the gallery's counts): the job's images from
        # its own, those with an error and those never to have a thumbnail from partial ones, in one
        # round trip. One pass over the rows took three times as long at 100,000.
        image, job_id = Image._meta.db_table, job.pk
        [(imported,)], [(with_errors,)], [(never,)] = sql_batch.read_all(
            [
                (f'SELECT COUNT(*) FROM "{image}" WHERE "import_job_id" = %s', [job_id]),
                (
                    f'SELECT COUNT(*) FROM "{image}" WHERE "import_job_id" = %s AND "dataset_id" = %s '
                    "AND NOT (\"error_code\" = '')",
                    [job_id, job.dataset_id],
                ),
                (
                    f'SELECT COUNT(*) FROM "{image}" WHERE "import_job_id" = %s AND NOT "needs_thumbnail" '
                    "AND \"thumbnail_key\" = ''",
                    [job_id],
                ),
            ]
        )
        counts = {"imported": imported, "with_errors": with_errors, "never": never}
        cache.set(key, counts, timeout=3600)
    # A copied image shows its source's thumbnail until it has its own: made, as far as anyone sees.
    thumbnails = counts["imported"] - counts["never"] - pending["n"] + pending["shown"]
    return ImportProgress(
        job=job,
        imported=counts["imported"],
        with_errors=counts["with_errors"],
        thumbnails=thumbnails,
        thumbnails_pending=pending["n"],
    )


_LATEST_EXTRA = ("now_stats_version", "now_pending", "now_pending_shown")


def latest_import_read(*, dataset_id: int) -> tuple[str, list] | None:
    """The read of the dataset's latest import job with what import_progress needs of a finished one:
    the dataset's stats_version (`now_stats_version`) and its images still waiting for a thumbnail
    (`now_pending`, of which `now_pending_shown` show their source's meanwhile), for latest_import_from.
    None where the database has no LATERAL (SQLite, `make run`).

    One statement, one snapshot: the job, the version and the counts agree with each other. The
    gallery polls this page every two seconds during an import; three queries were a fifth of it.
    """
    if connection.vendor != "postgresql":
        return None
    job, image, table = ImportJob._meta.db_table, Image._meta.db_table, Dataset._meta.db_table
    finished = [ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED]
    return (
        f'SELECT {sql_batch.columns_of(ImportJob, "j")}, d."stats_version", p.n, p.shown '
        f'FROM (SELECT * FROM "{job}" WHERE "dataset_id" = %s ORDER BY "created_at" DESC, "id" DESC LIMIT 1) j '
        f'JOIN "{table}" d ON d."id" = j."dataset_id" '
        # Counted only for a finished job (a running one shows its own counters: the database does not
        # start this scan), from the partial index of the images waiting for one.
        f"LEFT JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE i.\"thumbnail_key\" <> '') AS shown "
        f'FROM "{image}" i WHERE i."import_job_id" = j."id" AND i."needs_thumbnail" AND j."status" IN (%s, %s)) p '
        "ON true",
        [int(dataset_id), *finished],
    )


def latest_import_from(rows) -> ImportJob | None:
    return sql_batch.model_from_row(ImportJob, rows[0], extra=_LATEST_EXTRA) if rows else None


def dataset_latest_import(*, dataset: Dataset) -> ImportJob | None:
    """The dataset's latest import job (see latest_import_read), read now."""
    read = latest_import_read(dataset_id=dataset.pk)
    if read is None:
        # The job alone; import_progress reads the rest.
        return dataset.import_jobs.order_by("-created_at", "-id").first()
    return latest_import_from(sql_batch.read_all([read])[0])


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
