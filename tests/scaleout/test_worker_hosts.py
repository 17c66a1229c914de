"""Two worker hosts share one import: each a network namespace with an address of its own, running
its own Celery worker, which reaches PostgreSQL, Redis and the S3 server over its veth (hosts.py).

Each import is of 10,000 images, ten listing pages and so ten chunk tasks. Which host ran which chunk
comes from Celery's task events (ledger.py); what the user sees comes from the database: exactly
10,000 images, none twice, none missing.
"""

from __future__ import annotations

import time

import pytest

from datasets.models import Dataset
from tests.factories import ProjectFactory

from .support import assert_exactly_the_folder, chunks_finished, job_of, submit, wait_complete, wait_mid_import

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


def test_two_hosts_share_one_import_each_taking_chunks_and_every_image_is_imported_once(
    hosts, folder, workers, chunk_ledger, client_user, project
):
    first = workers.start(f"worker@{hosts[0].name}", host=hosts[0])
    second = workers.start(f"worker@{hosts[1].name}", host=hosts[1])

    dataset = submit(client_user, project, folder)
    wait_complete(dataset)

    assert_exactly_the_folder(dataset, folder, N)
    by_host = chunks_finished(chunk_ledger, dataset)
    assert set(by_host) == {first.nodename, second.nodename}, f"one host ran every chunk: {by_host}"
    # Each chunk ran once, on one host: nothing was redelivered, nothing done twice.
    ran = [chunk for chunks in by_host.values() for chunk in chunks]
    assert sorted(ran) == sorted(job_of(dataset).chunks.values_list("id", flat=True))
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
    wait_mid_import(dataset, chunk_ledger, doomed.nodename)
    doomed.kill()
    time.sleep(0.5)  # the events the host sent before it died, still on their way
    lost = chunk_ledger.unfinished_on(doomed.nodename)
    job = job_of(dataset)
    assert lost and job.chunks_done < job.chunks_total, "the import finished before the kill could hit it"
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_IN_PROGRESS

    wait_complete(dataset)

    assert_exactly_the_folder(dataset, folder, N)
    by_host = chunks_finished(chunk_ledger, dataset)
    assert {args[0] for args in lost} <= set(by_host[survivor.nodename]), by_host
