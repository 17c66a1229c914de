"""Two worker hosts share one import: each a network namespace with an address of its own, running
its own Celery worker, which reaches PostgreSQL, Redis and the S3 server over its veth (hosts.py).

Each import is of 10,000 images, ten listing pages and so ten chunk tasks. Which host ran which chunk
comes from Celery's task events (ledger.py); what the user sees comes from the database: exactly
10,000 images, none twice, none missing.
"""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from datasets.models import Dataset, Image, ImportJob
from tests.datasets.support import wait_until
from tests.factories import ProjectFactory

from .conftest import LABELS, key_of

pytestmark = [pytest.mark.scaleout, pytest.mark.django_db(transaction=True)]

N = 10_000
PG_PORT, REDIS_PORT = 5432, 6379


@pytest.fixture
def project(user):
    return ProjectFactory(owner=user, name="scaleout")


@pytest.fixture
def folder(hosts, serve_folder) -> str:
    """N images on an S3 server that listens on 127.0.0.1 (this process) and on both hosts' gateways."""
    return serve_folder(N, ("127.0.0.1", *(host.gateway for host in hosts)))


def submit(client, project, bucket: str) -> Dataset:
    form = {"name": "photos", "image_location": "s3", "s3_location": f"s3://{bucket}/photos/", "auto_label": "on"}
    response = client.post(reverse("datasets:create", args=[project.pk]), form)
    assert response.status_code == 302, response.content.decode()
    return Dataset.objects.get(project=project, name="photos")


def job_of(dataset: Dataset) -> ImportJob:
    return dataset.import_jobs.get()


def wait_complete(dataset: Dataset, *, timeout: float = 150) -> None:
    def complete():
        dataset.refresh_from_db()
        assert dataset.status != Dataset.Status.CREATE_FAILED, dataset.status_message
        return dataset.status == Dataset.Status.CREATE_COMPLETE

    wait_until(complete, timeout=timeout, what=f"the import to complete (it is {dataset.status})")


def assert_exactly_the_folder(dataset: Dataset, bucket: str) -> None:
    refs = list(Image.objects.filter(dataset=dataset).values_list("source_ref", flat=True))
    assert len(refs) == N
    assert set(refs) == {f"s3://{bucket}/{key_of(i)}" for i in range(N)}
    per_label = {name: Image.objects.filter(dataset=dataset, labels__name=name).count() for name in LABELS}
    assert per_label == {"cat": 3334, "dog": 3333, "bird": 3333}
    assert not Image.objects.filter(dataset=dataset).exclude(error_code="").exists()
    job = job_of(dataset)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.found, job.chunks_done, job.chunks_total) == (N, 10, 10)


def chunks_finished(ledger, chunk_ids: set[int]) -> dict[str, list[int]]:
    """{nodename: chunk ids it finished}, once every chunk has been finished by some worker (the
    last chunk's event can arrive just after the dataset is seen complete)."""

    def all_in():
        by_host = {host: [args[0] for args in runs] for host, runs in ledger.succeeded_by_host().items()}
        return by_host if {c for ids in by_host.values() for c in ids} == chunk_ids else None

    return wait_until(all_in, timeout=15, what="a task event for every chunk")


def test_two_hosts_share_one_import_each_taking_chunks_and_every_image_is_imported_once(
    hosts, folder, workers, chunk_ledger, client_user, project
):
    first = workers.start(f"worker@{hosts[0].name}", host=hosts[0])
    second = workers.start(f"worker@{hosts[1].name}", host=hosts[1])

    dataset = submit(client_user, project, folder)
    wait_complete(dataset)

    assert_exactly_the_folder(dataset, folder)
    chunk_ids = set(job_of(dataset).chunks.values_list("id", flat=True))
    by_host = chunks_finished(chunk_ledger, chunk_ids)
    assert set(by_host) == {first.nodename, second.nodename}, f"one host ran every chunk: {by_host}"
    # Each chunk ran once, on one host: nothing was redelivered, nothing done twice.
    assert sorted(c for ids in by_host.values() for c in ids) == sorted(chunk_ids)
    # And the hosts worked over their own network: both reached PostgreSQL and Redis through their veth.
    for host in hosts:
        assert hosts.connections(host, PG_PORT) > 0 and hosts.connections(host, REDIS_PORT) > 0, host


def test_a_host_killed_mid_import_leaves_the_other_to_finish_it_with_nothing_lost(
    hosts, folder, workers, chunk_ledger, client_user, project
):
    # Redis hands a dead worker's unacknowledged tasks to another worker once the visibility timeout
    # passes (an hour by default). Two header threads make the doomed host's chunks take seconds,
    # so the kill lands inside them.
    doomed = workers.start(
        f"worker@{hosts[0].name}", host=hosts[0], IMPORT_HEADER_THREADS="2", CELERY_VISIBILITY_TIMEOUT="10"
    )
    survivor = workers.start(f"worker@{hosts[1].name}", host=hosts[1], CELERY_VISIBILITY_TIMEOUT="10")

    dataset = submit(client_user, project, folder)
    wait_until(
        lambda: job_of(dataset).listing_done and chunk_ledger.unfinished_on(doomed.nodename),
        timeout=60,
        what="the listing to finish and the first host to be inside a chunk",
    )
    doomed.kill()
    time.sleep(0.5)  # the events the host sent before it died, still on their way
    lost = chunk_ledger.unfinished_on(doomed.nodename)
    job = job_of(dataset)
    assert lost and job.chunks_done < job.chunks_total, "the import finished before the kill could hit it"
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_IN_PROGRESS

    wait_complete(dataset)

    assert_exactly_the_folder(dataset, folder)
    chunk_ids = set(job_of(dataset).chunks.values_list("id", flat=True))
    by_host = chunks_finished(chunk_ledger, chunk_ids)
    assert {args[0] for args in lost} <= set(by_host[survivor.nodename]), by_host
