"""An import keeps at most IMPORT_CHUNKS_IN_FLIGHT chunk tasks queued and not done, and every stored
chunk is queued in the end: by the chunk that finishes, by the listing, by the stalled-import check.

The steps run in this process, a page of 4 keys at a time; the tasks they queue are never sent (the
test's transaction never commits), so the chunks' `queued` flags are what the test reads.
"""

import pytest
from django.core.cache import cache
from django.test.utils import override_settings

from customlabels import s3 as s3_module
from customlabels.s3 import parse_location
from datasets import counts
from datasets.imports import manifest as manifest_import
from datasets.imports import recovery, s3_folder
from datasets.models import Dataset, ImportChunk, ImportJob

from ..support import ALEXA_IMAGES, png_bytes, seed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("console_bucket")]

IN_FLIGHT = 2


@pytest.fixture(autouse=True)
def small_pages(monkeypatch):
    monkeypatch.setattr(s3_module, "LIST_PAGE_SIZE", 4)
    with override_settings(IMPORT_CHUNKS_IN_FLIGHT=IN_FLIGHT):
        yield


def start_import(project, bucket: str) -> ImportJob:
    dataset = s3_folder.dataset_create_from_s3(
        project=project, name="alexa-devices", location=parse_location(f"s3://{bucket}/alexa-devices/"), auto_label=True
    )
    return dataset.import_jobs.get()


def in_flight(job: ImportJob) -> list[int]:
    return sorted(job.chunks.filter(queued=True, done=False).values_list("seq", flat=True))


def run_queued_chunks(job: ImportJob) -> list[list[int]]:
    """Run the queued chunks one at a time, oldest first, as a worker would; what was in flight before each."""
    seen = []
    while chunk := job.chunks.filter(queued=True, done=False).order_by("seq").first():
        seen.append(in_flight(job))
        s3_folder.import_chunk(chunk_id=chunk.pk)
    return seen


def test_the_listing_queues_only_the_first_chunks_and_each_finishing_chunk_queues_the_next(project, source_bucket):
    job = start_import(project, source_bucket)

    s3_folder.import_list(job_id=job.pk)

    job.refresh_from_db()
    assert job.chunks_total == 4 and job.listing_done
    assert in_flight(job) == [1, 2]
    assert list(job.chunks.filter(queued=False).values_list("seq", flat=True).order_by("seq")) == [3, 4]
    seen = run_queued_chunks(job)
    assert seen == [[1, 2], [2, 3], [3, 4], [4]]
    assert all(len(flight) <= IN_FLIGHT for flight in seen)
    assert not job.chunks.filter(done=False).exists()
    assert s3_folder.import_finish_if_done(job_id=job.pk) is True
    assert job.dataset.images.count() == len(ALEXA_IMAGES)


def test_a_chunk_stored_but_never_queued_is_queued_by_the_replayed_listing(project, source_bucket):
    job = start_import(project, source_bucket)
    s3_folder.import_list(job_id=job.pk)
    # The listing's worker died after storing the pages, before it queued any or recorded the end.
    ImportChunk.objects.filter(job=job).update(queued=False)
    ImportJob.objects.filter(pk=job.pk).update(listing_done=False)

    s3_folder.import_list(job_id=job.pk)

    assert in_flight(job) == [1, 2]
    run_queued_chunks(job)
    assert s3_folder.import_finish_if_done(job_id=job.pk) is True


def test_a_chunk_left_unqueued_when_its_predecessor_died_is_queued_by_the_stalled_import_check(project, source_bucket):
    job = start_import(project, source_bucket)
    s3_folder.import_list(job_id=job.pk)
    run_queued_chunks(job)
    # Two chunks finished in transactions whose queueing of the next was lost: nothing is in flight.
    ImportChunk.objects.filter(job=job, seq__in=[3, 4]).update(queued=False, done=False)
    assert in_flight(job) == []

    recovery.imports_resume()

    assert in_flight(job) == [3, 4]
    recovery.imports_resume()  # idempotent: still two in flight, nothing queued twice
    assert in_flight(job) == [3, 4]


def test_a_finished_import_queues_nothing(project, source_bucket):
    job = start_import(project, source_bucket)
    s3_folder.import_list(job_id=job.pk)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED)

    recovery.imports_resume()

    assert in_flight(job) == [1, 2]
    assert job.chunks.filter(queued=False).count() == 2


def test_a_manifest_queues_its_chunks_a_few_at_a_time_once_it_is_read(project, make_bucket, s3, monkeypatch):
    from .test_manifest_import import classification, put_manifest

    monkeypatch.setattr(manifest_import, "CHUNK_SIZE", 2)
    bucket = make_bucket("images")
    seed(s3, bucket, {f"gt/{n}.png": png_bytes(64, 64) for n in range(7)})
    location = put_manifest(s3, bucket, [classification(f"s3://{bucket}/gt/{n}.png", f"l{n % 2}") for n in range(7)])
    dataset = manifest_import.dataset_create_from_manifest(project=project, name="gt", location=location)
    job = dataset.import_jobs.get()

    manifest_import.manifest_read(job_id=job.pk)

    assert in_flight(job) == [1, 2]
    seen = []
    while chunk := job.chunks.filter(queued=True, done=False).order_by("seq").first():
        seen.append(in_flight(job))
        manifest_import.manifest_chunk(chunk_id=chunk.pk)
    assert seen == [[1, 2], [2, 3], [3, 4], [4]]
    assert manifest_import.manifest_finish_if_done(job_id=job.pk) is True
    assert dataset.images.count() == 7


def test_chunks_carry_the_cached_counts_forward_so_no_poll_recounts_the_dataset(
    project, s3, make_bucket, django_capture_on_commit_callbacks
):
    bucket = make_bucket("source")
    objects = {f"alexa-devices/{label}/{n}.png": png_bytes(64, 64) for n in range(5) for label in ("echo", "dot")}
    objects["alexa-devices/tiny.png"] = png_bytes(8, 8)
    seed(s3, bucket, objects)
    job = start_import(project, bucket)
    dataset = job.dataset
    s3_folder.import_list(job_id=job.pk)
    counts.dataset_stats(dataset=dataset)  # someone watches: the counts of this version are cached

    while chunk := job.chunks.filter(queued=True, done=False).order_by("seq").first():
        with django_capture_on_commit_callbacks() as callbacks:
            s3_folder.import_chunk(chunk_id=chunk.pk)
        # What the chunk's commit would run, but the tasks it queues (there is no commit to wait for).
        for callback in callbacks:
            if "_counts_carry" in callback.__qualname__:
                callback()
        version = Dataset.objects.values_list("stats_version", flat=True).get(pk=dataset.pk)
        assert counts.counts_cached(dataset_id=dataset.pk, version=version)
        carried = counts._counts(dataset=dataset)
        cache.clear()
        assert counts._counts(dataset=dataset) == carried
    stats, labels = counts.dataset_counts(dataset=dataset)
    assert (stats.total, stats.labeled, stats.errors, stats.labels) == (11, 10, 1, 2)
    assert {label.name: label.image_count for label in labels} == {"echo": 5, "dot": 5}
