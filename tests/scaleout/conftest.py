"""Scale-out tests start, kill and restart their own Celery workers, on worker hosts in network
namespaces (hosts.py) or on RabbitMQ, with an S3 server of their own (rclone.py).

They run in a pytest run of their own (`make test` runs `pytest tests/scaleout` after the rest), as
tests/faults do: the suite's shared worker would take the tasks these tests strand on purpose.

    hosts          function  two worker hosts, with relays to this run's PostgreSQL and Redis
    serve_folder   function  serve_folder(n, addresses) -> the bucket: n JPEGs under photos/<label>/
                             on an rclone S3 server, granted to `user`; the console bucket made there
    broker_url     function  the broker the workers and this process use (this run's Redis database;
                             tests/scaleout/test_rabbitmq.py overrides it with a RabbitMQ vhost)
    workers        function  workers.start(nodename, host=None, **env) -> Proc; all stopped after the test
    chunk_ledger   function  TaskLedger of import_chunk_task: which worker ran which chunk
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.test.utils import override_settings

import tests.conftest as suite
from customlabels.celery import app as celery_app
from tests.conftest import AWS_ENV, BROKER_OWNER_KEY
from tests.datasets.support import jpeg_bytes
from tests.faults.conftest import Proc

from .hosts import Host, Hosts, HostsUnavailable
from .ledger import TaskLedger
from .rclone import RcloneS3, objects_write
from .support import key_of

CHUNK_TASK = "datasets.tasks.import_chunk_task"


def pytest_collection_modifyitems(config, items):
    others = [item for item in items if "/tests/scaleout/" not in str(item.path)]
    if others and any("/tests/scaleout/" in str(item.path) for item in items):
        raise pytest.UsageError(
            "Run tests/scaleout in a pytest run of its own (`make test` does): the suite's shared Celery "
            "worker would take the tasks these tests strand on purpose."
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call" and report.failed and hasattr(item, "funcargs"):
        workers = item.funcargs.get("workers")
        if workers is not None:
            report.sections.append(("worker logs", workers.logs()))
    return report


def worker_database_url() -> str:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.fail("Scale-out tests need PostgreSQL: run them with `make test`.")
    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{connection.settings_dict['NAME']}"))


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


@pytest.fixture
def hosts(transactional_db):
    """Two worker hosts. A machine where they cannot be made fails the test with the reason: CI runs
    as root on a machine of this kind, so a skip would only hide a broken set-up."""
    if suite._broker_url is None:
        pytest.fail("Scale-out tests need Redis: run them with `make test`.")
    relay = [_address(worker_database_url()), _address(settings.CELERY_BROKER_URL)]
    try:
        with Hosts(2, relay=relay) as made:
            yield made
    except HostsUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture
def serve_folder(user, tmp_path):
    """serve_folder(n, addresses=("127.0.0.1",)) -> bucket: n small JPEGs under photos/<label>/ of a
    new bucket on an rclone S3 server listening on `addresses`; this process's settings point at it
    (on 127.0.0.1), the bucket is granted to `user`, and the console bucket is made there."""
    from projects.models import S3AccessGrant
    from projects.services import console_bucket_create

    started: list[tuple[RcloneS3, override_settings]] = []

    def serve(n: int, addresses: tuple[str, ...] = ("127.0.0.1",)) -> str:
        bucket = f"scaleout-{os.getpid()}"
        body = jpeg_bytes(96, 64)
        objects_write(tmp_path / "s3", bucket, ((key_of(i), body) for i in range(n)))
        server = RcloneS3(
            tmp_path / "s3",
            addresses=list(addresses),
            access_key=AWS_ENV["AWS_ACCESS_KEY_ID"],
            secret_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            log_path=tmp_path / "rclone.log",
        )
        server.start()
        endpoint = override_settings(AWS_S3_ENDPOINT_URL=server.endpoint)
        endpoint.enable()
        started.append((server, endpoint))
        S3AccessGrant.objects.create(user=user, bucket=bucket)
        console_bucket_create()
        return bucket

    yield serve
    for server, endpoint in started:
        endpoint.disable()
        server.stop()


@pytest.fixture
def broker_url() -> str:
    return settings.CELERY_BROKER_URL


@dataclass
class Workers:
    """Celery workers as the Procfile runs them (one process, four threads), on `broker_url`, on a
    host or on this machine. They consume the import queue only: thumbnails are not what these tests
    are about, and would take the two cores every worker here shares."""

    env: dict
    tmp: Path
    started: list[Proc] = field(default_factory=list)

    def start(self, nodename: str, *, host: Host | None = None, **env_overrides: str) -> Proc:
        # The S3 server the test serves its folder on (serve_folder), as this process sees it now.
        env = {**self.env, "AWS_S3_ENDPOINT_URL": settings.AWS_S3_ENDPOINT_URL, **env_overrides}
        if host is not None:
            for name in ("DATABASE_URL", "CELERY_BROKER_URL", "AWS_S3_ENDPOINT_URL"):
                env[name] = host.url(env[name])
        args = [
            str(Path(sys.executable).with_name("celery")), "-A", "customlabels", "worker",
            "--loglevel=INFO", "--pool=threads", "--concurrency=4", f"--queues={celery_app.conf.task_default_queue}",
            f"--hostname={nodename}", "--task-events", "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        if host is not None:
            args = host.command(args)
        log_path = self.tmp / f"{nodename.partition('@')[0]}-{len(self.started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                args, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        proc = Proc(process=process, log_path=log_path, nodename=nodename)
        self.started.append(proc)
        _wait_until_ready(proc)
        return proc

    def logs(self) -> str:
        return "\n\n".join(f"--- {p.nodename} ({p.log_path.name})\n{p.log_tail()}" for p in self.started)

    def stop_all(self) -> None:
        with ThreadPoolExecutor(max(1, len(self.started))) as pool:
            list(pool.map(Proc.stop, self.started))


def _wait_until_ready(proc: Proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            pytest.fail(f"The worker {proc.nodename} exited at start:\n{proc.log_tail()}")
        if celery_app.control.ping(destination=[proc.nodename], timeout=0.5):
            return
    pytest.fail(f"The worker {proc.nodename} did not answer a ping within {timeout:.0f} s:\n{proc.log_tail()}")


@pytest.fixture
def workers(transactional_db, broker_url, tmp_path):
    env = {
        **os.environ,
        **AWS_ENV,
        "DJANGO_SETTINGS_MODULE": "customlabels.settings",
        "DATABASE_URL": worker_database_url(),
        "CELERY_BROKER_URL": broker_url,
        # One import spread over every host: by default an import keeps one chunk in flight (fair use).
        "IMPORT_CHUNKS_IN_FLIGHT": "8",
    }
    started = Workers(env=env, tmp=tmp_path)
    try:
        yield started
    finally:
        started.stop_all()
        if broker_url.startswith("redis://"):
            # Tasks a test stranded on purpose (and the thumbnails no worker here makes) must not
            # reach the next test's workers.
            import redis

            conn = redis.Redis.from_url(broker_url)
            stale = [key for key in conn.scan_iter() if key != BROKER_OWNER_KEY.encode()]
            if stale:
                conn.delete(*stale)


@pytest.fixture
def chunk_ledger(broker_url):
    ledger = TaskLedger(celery_app, CHUNK_TASK)
    ledger.start()
    try:
        yield ledger
    finally:
        ledger.stop()


def nodename(label: str) -> str:
    """A worker's nodename on this machine."""
    return f"{label}-{os.getpid()}@{socket.gethostname()}"


@contextmanager
def broker_switched(url: str):
    """Point this process's Celery app (submits, pings, the ledger) at another broker for a while."""

    def switch(to: str, options: dict) -> None:
        # Celery reads CELERY_BROKER_URL from the environment before its configuration. The app's
        # pools come from kombu's registry, keyed by URL: dropping the app's references is enough.
        os.environ["CELERY_BROKER_URL"] = celery_app.conf.broker_url = to
        celery_app.conf.broker_transport_options = options
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    real, real_options = os.environ["CELERY_BROKER_URL"], celery_app.conf.broker_transport_options
    # As the settings do for a RabbitMQ URL: no transport options (the visibility timeout is Redis's).
    switch(url, {})
    try:
        yield
    finally:
        switch(real, real_options)
