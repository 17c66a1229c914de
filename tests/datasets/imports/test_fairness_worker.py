"""One user's large import does not stall another's: through a real worker as the Procfile runs it
(one process, four threads), Redis and moto over HTTP.

User A imports 6,000 images in 60 chunks (the listing page lowered to 100 keys for the test; the
20,000-image case is tests/bench/bench_fairness.py); user B's 100-image import, started while A's
runs, finishes within 3× its time on the idle worker (medians of three), and A never has more than
IMPORT_CHUNKS_IN_FLIGHT chunks queued and not done.
"""

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import transaction

from customlabels.s3 import parse_location
from datasets.imports import s3_folder
from datasets.models import Dataset, Image, ImportChunk
from tests.conftest import procfile_workers
from tests.factories import ProjectFactory, UserFactory

from ..support import png_bytes, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

A_IMAGES, B_IMAGES, PAGE = 6_000, 100, 100
TARGET_RATIO = 3


@pytest.fixture
def fair_worker(celery_worker_proc, s3_server, tmp_path):
    """The workers as the Procfile runs them, listing PAGE keys a page; the suite's worker takes no task meanwhile."""
    with procfile_workers(
        celery_worker_proc, s3_server=s3_server, log_dir=tmp_path, env={"IMPORT_LIST_PAGE_SIZE": str(PAGE)}
    ) as workers:
        yield workers[0]


@pytest.fixture
def folders(s3, make_bucket) -> str:
    bucket = make_bucket("fair")
    body = png_bytes(64, 64)
    keys = [f"a/{n:05}.png" for n in range(A_IMAGES)] + [f"b/{n:03}.png" for n in range(B_IMAGES)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=body), keys))
    return bucket


def start(user, bucket: str, folder: str, name: str) -> Dataset:
    with transaction.atomic():
        return s3_folder.dataset_create_from_s3(
            project=ProjectFactory(owner=user),
            name=name,
            location=parse_location(f"s3://{bucket}/{folder}/"),
            auto_label=False,
        )


def status(dataset: Dataset) -> str:
    return Dataset.objects.values_list("status", flat=True).get(pk=dataset.pk)


def timed_import(user, bucket: str, name: str, *, watch: Dataset | None = None) -> tuple[float, int]:
    """Seconds B's import takes to complete, and the most chunks `watch`'s import had in flight meanwhile."""
    t0 = time.perf_counter()
    dataset = start(user, bucket, "b", name)
    most = 0
    while status(dataset) != Dataset.Status.CREATE_COMPLETE:  # finer steps than wait_until's
        if watch is not None:
            most = max(most, ImportChunk.objects.filter(job__dataset=watch, queued=True, done=False).count())
        assert time.perf_counter() - t0 < 120, f"{name} did not complete in 120 s"
        time.sleep(0.02)
    seconds = time.perf_counter() - t0
    assert dataset.images.count() == B_IMAGES
    return seconds, most


def thumbnails_made(name: str) -> None:
    wait_until(
        lambda: not Image.objects.filter(dataset__name=name, needs_thumbnail=True).exists(),
        timeout=60,
        what=f"the thumbnails of {name}",
    )


def test_a_small_import_finishes_within_three_times_its_idle_time_while_a_large_one_runs(
    fair_worker, folders, console_bucket, user, grant
):
    # alice (the suite's user) was granted the bucket when it was made; bob is granted it too.
    alice, bob = user, UserFactory(username="bob")
    grant(folders, user=bob)
    timed_import(bob, folders, "warm-up")  # the worker's first task pays for its connections
    thumbnails_made("warm-up")
    alone = []
    for n in range(3):
        alone.append(timed_import(bob, folders, f"alone-{n}")[0])
        thumbnails_made(f"alone-{n}")

    large = start(alice, folders, "a", "a-large")
    wait_until(lambda: large.import_jobs.get().chunks_done >= 1, timeout=120, what="the large import to finish a chunk")
    during = []
    for n in range(3):  # each after the last one's thumbnails, as alone: B's own work never competes
        during.append(timed_import(bob, folders, f"during-{n}", watch=large))
        assert status(large) == Dataset.Status.CREATE_IN_PROGRESS, f"the large import ended before during-{n}"
        thumbnails_made(f"during-{n}")

    idle, busy = statistics.median(alone), statistics.median(seconds for seconds, _ in during)
    assert busy <= TARGET_RATIO * idle, f"{busy:.2f} s during the large import, {idle:.2f} s alone"
    assert 1 <= max(most for _, most in during) <= settings.IMPORT_CHUNKS_IN_FLIGHT
    wait_until(lambda: status(large) == Dataset.Status.CREATE_COMPLETE, timeout=300, what="the large import")
    assert large.images.count() == A_IMAGES
    job = large.import_jobs.get()
    assert (job.chunks_total, job.chunks_done) == (A_IMAGES // PAGE, A_IMAGES // PAGE)
