"""Fault tests start, kill and restart their own Celery workers, beat and S3 server.

They run in a pytest run of their own (`make test` runs `pytest tests/faults` after the rest): the
suite's shared worker (`celery_worker_proc`) would otherwise take the tasks these tests strand on
purpose, and finish the import the test is about to see fail.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

import tests.conftest as suite
from customlabels.celery import app as celery_app
from tests.conftest import AWS_ENV, BROKER_OWNER_KEY, _worker_queues

pytestmark = pytest.mark.faults


def pytest_collection_modifyitems(config, items):
    others = [item for item in items if "/tests/faults/" not in str(item.path)]
    if others and any("/tests/faults/" in str(item.path) for item in items):
        raise pytest.UsageError(
            "Run tests/faults in a pytest run of its own (`make test` does): the suite's shared Celery "
            "worker would take the tasks these tests strand on purpose."
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StoppableS3:
    """A moto S3 server on a fixed port that a test can stop and start again. Its buckets live in
    the test process (moto's backends), so they survive a stop."""

    def __init__(self):
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def stoppable_s3(s3):
    server = StoppableS3()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Proc:
    process: subprocess.Popen
    log_path: Path
    nodename: str = ""

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a pulled plug would: no shutdown, no acks."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)


@dataclass
class Processes:
    """Workers and beat started by one test, with the environment they share; all stopped after it."""

    env: dict
    tmp: Path
    started: list[Proc] = field(default_factory=list)

    def _spawn(self, name: str, args: list[str], env: dict) -> Proc:
        log_path = self.tmp / f"{name}-{len(self.started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                args, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        proc = Proc(process=process, log_path=log_path)
        self.started.append(proc)
        return proc

    def worker(self, **env_overrides: str) -> Proc:
        """A worker as the Procfile runs it (one process, four threads), answering pings before it returns."""
        nodename = f"faults-{os.getpid()}-{len(self.started)}@{socket.gethostname()}"
        args = [
            str(Path(sys.executable).with_name("celery")), "-A", "customlabels", "worker",
            "--loglevel=INFO", "--pool=threads", "--concurrency=4", f"--queues={_worker_queues()}",
            f"--hostname={nodename}", "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        proc = self._spawn("worker", args, {**self.env, **env_overrides})
        proc.nodename = nodename
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.process.poll() is not None:
                pytest.fail(f"The worker exited at start:\n{proc.log_tail()}")
            if celery_app.control.ping(destination=[nodename], timeout=0.5):
                return proc
        pytest.fail(f"The worker did not answer a ping:\n{proc.log_tail()}")

    def beat(self, **env_overrides: str) -> Proc:
        args = [
            str(Path(sys.executable).with_name("celery")), "-A", "customlabels", "beat", "--loglevel=INFO",
            "--schedule", str(self.tmp / "celerybeat-schedule"),
        ]  # fmt: skip
        return self._spawn("beat", args, {**self.env, **env_overrides})

    def logs(self) -> str:
        return "\n\n".join(f"--- {p.log_path.name}\n{p.log_tail()}" for p in self.started)


@pytest.fixture
def processes(transactional_db, s3_server, tmp_path):
    from django.db import connection

    if connection.vendor != "postgresql" or suite._broker_url is None:
        pytest.fail("Fault tests need PostgreSQL and Redis: run them with `make test`.")
    database_url = urlunsplit(
        urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{connection.settings_dict['NAME']}")
    )
    env = {
        **os.environ,
        **AWS_ENV,
        "DJANGO_SETTINGS_MODULE": "customlabels.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "AWS_S3_ENDPOINT_URL": s3_server,
    }
    procs = Processes(env=env, tmp=tmp_path)
    try:
        yield procs
    finally:
        for proc in procs.started:
            proc.stop()
        # Tasks a test stranded on purpose must not reach the next test's worker.
        import redis

        conn = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        stale = [key for key in conn.scan_iter() if key != BROKER_OWNER_KEY.encode()]
        if stale:
            conn.delete(*stale)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call":
        procs = item.funcargs.get("processes") if hasattr(item, "funcargs") else None
        if report.failed and procs is not None:
            report.sections.append(("worker and beat logs", procs.logs()))
    return report
