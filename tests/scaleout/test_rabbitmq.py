"""The Celery broker by URL: imports through real workers on RabbitMQ, beside the Redis ones.

Each test gets a RabbitMQ virtual host of its own (rabbitmqctl), so two test runs on one machine never
take each other's tasks, as each run takes a Redis database of its own. The settings give a RabbitMQ
URL none of Redis's transport options: tasks are acknowledged late there too, and RabbitMQ gives a
dead worker's unacknowledged tasks to another worker as soon as its connection drops.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from datasets.models import Dataset
from tests.factories import ProjectFactory

from .conftest import broker_switched, nodename
from .support import assert_exactly_the_folder, chunks_finished, job_of, submit, wait_complete, wait_mid_import

pytestmark = [pytest.mark.scaleout, pytest.mark.django_db(transaction=True)]

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
VHOST_PREFIX = "customlabels-tests-"
N = 6000


def rabbitmqctl(*args: str) -> str:
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("RabbitMQ is not installed: `make services` installs it (apt-get install rabbitmq-server).")
    result = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
    if result.returncode:
        pytest.fail(f"`rabbitmqctl {' '.join(args)}` failed; `make services` starts RabbitMQ:\n{result.stderr}")
    return result.stdout


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


@pytest.fixture
def broker_url():
    """A RabbitMQ virtual host of this run's, which this process and the workers use."""
    for name in rabbitmqctl("list_vhosts", "name").split():
        stale = re.fullmatch(rf"{VHOST_PREFIX}(\d+)-\w+", name)
        if stale and not _pid_alive(int(stale[1])):
            rabbitmqctl("delete_vhost", name)
    # A name never used before: this process's pooled connections to a deleted vhost are dead.
    vhost = f"{VHOST_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, urlsplit(RABBITMQ_URL).username or "guest", ".*", ".*", ".*")
        url = urlunsplit(urlsplit(RABBITMQ_URL)._replace(path=f"/{vhost}"))
        with broker_switched(url):
            yield url
    finally:
        rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def project(user):
    return ProjectFactory(owner=user, name="rabbitmq")


def test_an_import_runs_to_completion_through_a_real_worker_on_rabbitmq(
    broker_url, serve_folder, workers, chunk_ledger, client_user, project
):
    assert broker_url.startswith("amqp://")
    folder = serve_folder(N)
    worker = workers.start(nodename("rabbitmq"))

    dataset = submit(client_user, project, folder)
    wait_complete(dataset)

    assert_exactly_the_folder(dataset, folder, N)
    assert set(chunks_finished(chunk_ledger, dataset)) == {worker.nodename}


def test_a_worker_killed_on_rabbitmq_hands_its_chunks_to_the_other_as_its_connection_drops(
    serve_folder, workers, chunk_ledger, client_user, project
):
    folder = serve_folder(N)
    # Two header threads make the doomed worker's chunks take seconds, so the kill lands inside them.
    doomed = workers.start(nodename("rabbitmq-doomed"), IMPORT_HEADER_THREADS="2")
    survivor = workers.start(nodename("rabbitmq-survivor"))

    dataset = submit(client_user, project, folder)
    wait_mid_import(dataset, chunk_ledger, doomed.nodename)
    doomed.kill()
    killed_at = time.monotonic()
    time.sleep(0.5)  # the events the worker sent before it died, still on their way
    lost = chunk_ledger.unfinished_on(doomed.nodename)
    job = job_of(dataset)
    assert lost and job.chunks_done < job.chunks_total, "the import finished before the kill could hit it"
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_IN_PROGRESS

    # No visibility timeout to wait for (on Redis it is an hour by default): the rest of the import is
    # the survivor's work alone.
    wait_complete(dataset, timeout=90)
    assert time.monotonic() - killed_at < 90

    assert_exactly_the_folder(dataset, folder, N)
    assert {args[0] for args in lost} <= set(chunks_finished(chunk_ledger, dataset)[survivor.nodename])
