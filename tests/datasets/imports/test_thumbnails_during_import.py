"""Thumbnails are made while an import runs, chunk by chunk, not after it: through the workers as the
Procfile runs them (an import worker on the `celery` queue, a thumbnails worker on `thumbnails`),
Redis, PostgreSQL and moto over HTTP.

The listing page is lowered to PAGE keys, so the import has CHUNKS chunks; S3 holds its answer for
the last image's header until the test lets it go, so the last chunk cannot finish before then.
"""

import threading

import pytest
from django.db import transaction
from moto.s3.models import S3Backend

from customlabels.s3 import parse_location
from datasets.imports import s3_folder
from datasets.models import Dataset, Image
from projects import console_storage
from tests.conftest import procfile_workers

from ..support import jpeg_bytes, seed, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PAGE, CHUNKS = 10, 4
KEYS = [f"during/{'cat' if n % 2 else 'dog'}/{n:03}.jpg" for n in range(PAGE * CHUNKS)]
# ListObjectsV2 returns keys in order, so the last of them is in the last chunk.
LAST_KEY = max(KEYS)


@pytest.fixture
def procfile_workers_paged(celery_worker_proc, s3_server, tmp_path):
    """The Procfile's `worker:` and `thumbnails:` processes, listing PAGE keys a page; the suite's worker rests."""
    with procfile_workers(
        celery_worker_proc, s3_server=s3_server, log_dir=tmp_path, env={"IMPORT_LIST_PAGE_SIZE": str(PAGE)}
    ) as workers:
        yield workers


@pytest.fixture
def last_header_held(monkeypatch):
    """S3 (moto, serving from this process) answers a GET of LAST_KEY only once the event is set."""
    release = threading.Event()
    get_object = S3Backend.get_object

    def held(self, bucket_name, key_name, *args, **kwargs):
        if key_name == LAST_KEY:
            release.wait(timeout=25)  # under the worker's 30 s read timeout, so it is never retried
        return get_object(self, bucket_name, key_name, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "get_object", held)
    yield release
    release.set()


def made(dataset: Dataset) -> int:
    return Image.objects.filter(dataset=dataset).exclude(thumbnail_key="").count()


def test_thumbnails_appear_while_the_import_runs_and_each_image_gets_exactly_one(
    procfile_workers_paged, last_header_held, user, project, console_bucket, make_bucket, s3
):
    bucket = make_bucket("during")
    seed(s3, bucket, {key: jpeg_bytes(320, 240) for key in KEYS})
    with transaction.atomic():
        dataset = s3_folder.dataset_create_from_s3(
            project=project, name="during", location=parse_location(f"s3://{bucket}/during/"), auto_label=True
        )

    # Every chunk but the last, whose header read S3 holds, gets its thumbnails while the import runs.
    wait_until(lambda: made(dataset) == PAGE * (CHUNKS - 1), timeout=60, what="the first chunks' thumbnails")
    dataset.refresh_from_db()
    job = dataset.import_jobs.get()
    assert dataset.status == Dataset.Status.CREATE_IN_PROGRESS
    assert (job.chunks_done, job.chunks_total) == (CHUNKS - 1, CHUNKS)

    last_header_held.set()
    wait_until(
        lambda: (
            Dataset.objects.get(pk=dataset.pk).status == Dataset.Status.CREATE_COMPLETE and made(dataset) == len(KEYS)
        ),
        timeout=60,
        what="the import and every thumbnail",
    )
    assert not Image.objects.filter(dataset=dataset, needs_thumbnail=True).exists()

    # Exactly one thumbnail per image, each under its own key in the owner's console storage.
    images = dict(Image.objects.filter(dataset=dataset).values_list("pk", "thumbnail_key"))
    assert images == {pk: console_storage.thumbnail_key(user.pk, dataset.pk, pk) for pk in images}
    prefix = console_storage.thumbnail_prefix(user.pk, dataset.pk)
    stored = s3.list_objects_v2(Bucket=console_bucket.name, Prefix=prefix).get("Contents", [])
    assert sorted(obj["Key"] for obj in stored) == sorted(images.values())


def test_the_thumbnails_worker_takes_only_cpu_the_import_and_the_web_leave(procfile_workers_paged):
    """Its session's group has the lowest weight (the import worker's keeps the default): the kernel
    shares CPU between session groups before it looks at a process's policy."""
    import_worker, thumbnails_worker = procfile_workers_paged

    def group_nice(worker) -> str:
        with open(f"/proc/{worker.process.pid}/autogroup") as group:
            return group.read().split()[-1]

    assert group_nice(thumbnails_worker) == "19"
    assert group_nice(import_worker) == "0"
