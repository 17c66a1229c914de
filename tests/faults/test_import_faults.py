"""Faults an import must survive, each against real services: Celery workers on Redis that this test
starts and kills, moto's S3 server over HTTP that it stops and starts, PostgreSQL, and Celery beat.

Every test imports a 2,000-image folder (two listing pages, so two chunk tasks) and ends by checking
the user-visible promise: exactly 2,000 images, none twice, none missing.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from django.db import transaction
from django.urls import reverse

from customlabels import s3 as s3_module
from customlabels.celery import app as celery_app
from datasets.imports import s3_folder
from datasets.models import Dataset, Image, ImportJob
from tests.datasets.support import jpeg_bytes, wait_until
from tests.factories import ProjectFactory

from .conftest import _free_port

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

N = 2000
LABELS = ("cat", "dog", "bird")


@pytest.fixture
def project(user):
    return ProjectFactory(owner=user, name="faults")


@pytest.fixture
def big_folder(s3, make_bucket, console_bucket) -> str:
    """A bucket holding N small JPEGs under photos/<label>/."""
    bucket = make_bucket("faults")
    body = jpeg_bytes(96, 64)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=key_of(i), Body=body), range(N)))
    return bucket


def key_of(i: int) -> str:
    return f"photos/{LABELS[i % 3]}/img-{i:05d}.jpg"


def submit(client, project, bucket: str) -> Dataset:
    form = {"name": "photos", "image_location": "s3", "s3_location": f"s3://{bucket}/photos/", "auto_label": "on"}
    response = client.post(reverse("datasets:create", args=[project.pk]), form)
    assert response.status_code == 302, response.content.decode()
    return Dataset.objects.get(project=project, name="photos")


def job_of(dataset: Dataset) -> ImportJob:
    return dataset.import_jobs.order_by("-id").first()


def wait_status(dataset: Dataset, status: str, *, timeout: float = 180) -> Dataset:
    def reached():
        dataset.refresh_from_db()
        return dataset.status == status

    wait_until(reached, timeout=timeout, what=f"the dataset to be {status} (it is {dataset.status})")
    return dataset


def wait_listed(dataset: Dataset) -> ImportJob:
    """Wait until every key is listed and both chunk tasks are out, with neither finished: mid-import."""

    def listed():
        job = job_of(dataset)
        return job if job.listing_done else None

    job = wait_until(listed, timeout=120, what="the listing to finish")
    assert job.chunks_total == 2
    assert job.chunks_done < 2, "the import finished before the fault could hit it"
    return job


def assert_exactly_the_folder(dataset: Dataset, bucket: str) -> None:
    refs = list(Image.objects.filter(dataset=dataset).values_list("source_ref", flat=True))
    assert len(refs) == N
    assert set(refs) == {f"s3://{bucket}/{key_of(i)}" for i in range(N)}
    per_label = {name: Image.objects.filter(dataset=dataset, labels__name=name).count() for name in LABELS}
    assert per_label == {"cat": 667, "dog": 667, "bird": 666}


def retry(client, dataset: Dataset) -> None:
    page = client.get(reverse("datasets:detail", args=[dataset.pk])).content.decode()
    assert "Retry import" in page
    response = client.post(reverse("datasets:import_retry", args=[dataset.pk]))
    assert response.status_code == 302


# --- 1. a worker killed mid-import ---------------------------------------------------------------


def test_a_worker_killed_mid_import_is_replaced_and_the_import_completes_exactly(
    processes, client_user, project, big_folder
):
    # Two header threads make each chunk take seconds, so the kill lands while both are running.
    first = processes.worker(IMPORT_HEADER_THREADS="2", CELERY_VISIBILITY_TIMEOUT="5")
    dataset = submit(client_user, project, big_folder)
    wait_listed(dataset)
    first.kill()
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_IN_PROGRESS

    # The chunk tasks the dead worker held come back to a new worker after the visibility timeout.
    processes.worker(CELERY_VISIBILITY_TIMEOUT="5")
    wait_status(dataset, Dataset.Status.CREATE_COMPLETE)

    assert_exactly_the_folder(dataset, big_folder)
    assert job_of(dataset).status == ImportJob.Status.SUCCEEDED


# --- 2. S3 stops mid-import ---------------------------------------------------------------------


def test_s3_stopping_mid_import_fails_it_with_a_message_and_retry_import_finishes_it(
    processes, stoppable_s3, client_user, project, big_folder
):
    worker = processes.worker(
        AWS_S3_ENDPOINT_URL=stoppable_s3.endpoint,
        IMPORT_HEADER_THREADS="2",
        IMPORT_RETRY_MAX="2",
        IMPORT_RETRY_BACKOFF_MAX="1",
    )
    dataset = submit(client_user, project, big_folder)
    wait_listed(dataset)
    stoppable_s3.stop()

    wait_status(dataset, Dataset.Status.CREATE_FAILED)
    assert "import_chunk_task" in worker.log_path.read_text() and "retry: Retry in" in worker.log_path.read_text()
    assert "S3 could not be reached" in dataset.status_message
    assert dataset.status_message_code == Dataset.StatusMessageCode.SERVICE_ERROR
    assert not ImportJob.objects.filter(dataset=dataset, status__in=["QUEUED", "IN_PROGRESS"]).exists()
    page = client_user.get(reverse("datasets:detail", args=[dataset.pk])).content.decode()
    assert "S3 could not be reached" in page

    stoppable_s3.start()
    retry(client_user, dataset)
    wait_status(dataset, Dataset.Status.CREATE_COMPLETE)
    assert_exactly_the_folder(dataset, big_folder)
    first, second = dataset.import_jobs.order_by("id")
    assert (first.status, second.status) == (ImportJob.Status.FAILED, ImportJob.Status.SUCCEEDED)


# --- 3. Redis down at submit ------------------------------------------------------------------


@contextmanager
def broker_down():
    """Point this process's Celery app at a port nobody listens on, as a stopped Redis looks to the web."""

    def reconnect(url: str) -> None:
        # The app's pools come from kombu's registry, keyed by URL: dropping the app's references is
        # enough, and the real broker's pool is found again, still open, on the way back.
        # Celery reads CELERY_BROKER_URL from the environment before its configuration.
        os.environ["CELERY_BROKER_URL"] = celery_app.conf.broker_url = url
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    real = os.environ["CELERY_BROKER_URL"]
    reconnect(f"redis://127.0.0.1:{_free_port()}/0")
    try:
        yield
    finally:
        reconnect(real)


def test_redis_down_at_submit_fails_the_dataset_visibly_and_retry_import_runs_it_later(
    processes, client_user, project, big_folder
):
    with broker_down():
        dataset = submit(client_user, project, big_folder)

    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_FAILED
    assert "could not be queued" in dataset.status_message
    assert not ImportJob.objects.filter(dataset=dataset, status__in=["QUEUED", "IN_PROGRESS"]).exists()
    page = client_user.get(reverse("datasets:detail", args=[dataset.pk])).content.decode()
    assert "The import could not be queued" in page

    processes.worker()
    retry(client_user, dataset)
    wait_status(dataset, Dataset.Status.CREATE_COMPLETE)
    assert_exactly_the_folder(dataset, big_folder)


# --- 4. two imports into one dataset at once ------------------------------------------------------


def test_two_imports_into_one_dataset_at_once_add_each_image_once_with_right_counts(
    processes, client_user, project, big_folder
):
    processes.worker()
    location = s3_module.parse_location(f"s3://{big_folder}/photos/")
    # The form refuses a second import while one runs; two at once still happen when a submit is
    # delivered twice. Both jobs start in one commit, so their chunks run side by side.
    with transaction.atomic():
        dataset = s3_folder.dataset_create_from_s3(project=project, name="photos", location=location, auto_label=True)
        s3_folder.import_job_start(dataset=dataset, location=location, auto_label=True)
    refused = client_user.post(
        reverse("datasets:add_images", args=[dataset.pk]),
        {"s3_location": f"s3://{big_folder}/photos/", "auto_label": "on"},
    )
    assert "being created or updated" in refused.content.decode()

    def both_done():
        return all(job.is_finished for job in dataset.import_jobs.all())

    wait_until(both_done, timeout=180, what="both imports to finish")
    wait_status(dataset, Dataset.Status.CREATE_COMPLETE)
    assert_exactly_the_folder(dataset, big_folder)
    jobs = list(dataset.import_jobs.all())
    assert all(job.status == ImportJob.Status.SUCCEEDED for job in jobs)
    assert sum(job.images.count() for job in jobs) == N
    for job in jobs:
        assert job.found == N
        assert job.images.count() + job.already_present == N


# --- 5. a worker that never returns ------------------------------------------------------------


def test_an_import_whose_worker_never_returns_is_failed_by_beat_and_retry_import_finishes_it(
    processes, client_user, project, big_folder
):
    first = processes.worker(IMPORT_HEADER_THREADS="2")  # the default visibility timeout: an hour
    dataset = submit(client_user, project, big_folder)
    wait_listed(dataset)
    first.kill()

    beat = processes.beat(IMPORT_STALL_CHECK_SECONDS="1", IMPORT_STALL_SECONDS="4")
    processes.worker(IMPORT_STALL_SECONDS="4")
    wait_status(dataset, Dataset.Status.CREATE_FAILED, timeout=60)
    assert "no worker has worked on it" in dataset.status_message
    assert dataset.status_message_code == Dataset.StatusMessageCode.SERVICE_ERROR
    assert job_of(dataset).status == ImportJob.Status.FAILED
    beat.stop()

    retry(client_user, dataset)
    wait_status(dataset, Dataset.Status.CREATE_COMPLETE)
    assert_exactly_the_folder(dataset, big_folder)
