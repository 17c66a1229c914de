"""Fixtures the whole suite shares.

Tests talk to real services: S3 is a moto server on a free local port, Celery is a real worker
process on Redis, the browser is Debian's Chromium driven by Playwright. Nothing the app
integrates with is mocked.

    s3_server           session  endpoint URL of the moto server; settings point at it
    s3                  function boto3 client on that server, which starts the test empty
    make_bucket         function make_bucket(prefix="bucket") -> a new, uniquely named bucket
    console_bucket      function the region's console bucket, created through the service
    user, other_user    function two users (password factories.PASSWORD)
    client_user         function Django test client signed in as `user` (client_other_user: as `other_user`)
    celery_worker_proc  session  a Celery worker subprocess on this run's test database and moto;
                                 tests that use it need `transactional_db`
    browser             session  headless Chromium (Playwright, sync API)
    page                function a fresh browser context on the live server (implies transactional_db)
    login               function login(page, user) signs in through the sign-in form
"""

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from urllib.request import Request, urlopen

import boto3
import pytest
import redis
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings

from customlabels import celery_app
from customlabels.cpu_priority import spare_cpu_prefix
from tests.factories import PASSWORD, UserFactory

# Playwright's sync API keeps an event loop running in the test thread, and Django refuses ORM
# calls while one runs; the loop is idle whenever our code runs, so the check is safe to lift.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

# Dummy credentials, so no test can reach a real AWS account. The worker subprocess inherits them.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
os.environ.update(AWS_ENV)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Several developers run the suite on this machine at once. Each run takes a Redis database of
# its own from these, so one run's worker never takes another run's tasks.
BROKER_DATABASES = range(15, 7, -1)
BROKER_OWNER_KEY = "customlabels-tests:owner-pid"

_test_settings = override_settings(
    # The live server speaks plain http, where a browser drops Secure cookies.
    SESSION_COOKIE_SECURE=False,
    CSRF_COOKIE_SECURE=False,
    # The manifest storage needs collectstatic; the finders serve the source files instead.
    STORAGES={**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}},
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    AWS_ACCESS_KEY_ID=AWS_ENV["AWS_ACCESS_KEY_ID"],
    AWS_SECRET_ACCESS_KEY=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    AWS_DEFAULT_REGION=AWS_ENV["AWS_DEFAULT_REGION"],
)
_broker_url: str | None = None  # the Redis database this run claimed


def pytest_configure(config):
    global _broker_url
    # WhiteNoise looks for collectstatic's output, which tests do without (see STORAGES above).
    config.addinivalue_line("filterwarnings", "ignore:No directory at:UserWarning")
    _test_settings.enable()
    _broker_url = _claim_broker_database(settings.CELERY_BROKER_URL)
    if _broker_url is not None:
        settings.CELERY_BROKER_URL = _broker_url
        # Celery reads the environment variable before its configuration; the worker inherits it too.
        os.environ["CELERY_BROKER_URL"] = _broker_url


def pytest_unconfigure(config):
    if _broker_url is not None:
        redis.Redis.from_url(_broker_url).flushdb()
    _test_settings.disable()


def pytest_collection_modifyitems(items):
    for item in items:
        if {"browser", "page"} & set(item.fixturenames):
            item.add_marker(pytest.mark.browser)
        if "celery_worker_proc" in item.fixturenames:
            item.add_marker(pytest.mark.worker)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    worker = item.funcargs.get("celery_worker_proc") if hasattr(item, "funcargs") else None
    if report.failed and worker is not None:
        report.sections.append(("Celery worker log (last lines)", worker.log_tail()))
    return report


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and another user's
        pass
    return True


def _claim_broker_database(url: str) -> str | None:
    """The URL of a Redis database no live test run holds, taken and emptied of what an older run left.

    None when the broker is not Redis or Redis is down; the worker fixture then says so.
    """
    if not url.startswith("redis://"):
        return None

    def take(pipe) -> bool:
        owner = pipe.get(BROKER_OWNER_KEY)
        if owner is not None and _pid_alive(int(owner)):
            return False
        pipe.multi()
        pipe.set(BROKER_OWNER_KEY, os.getpid())
        return True

    for db in BROKER_DATABASES:
        claimed = urlunsplit(urlsplit(url)._replace(path=f"/{db}"))
        conn = redis.Redis.from_url(claimed, socket_connect_timeout=2)
        try:
            taken = conn.transaction(take, BROKER_OWNER_KEY, value_from_callable=True)
        except redis.ConnectionError:
            return None
        if taken:
            stale = [key for key in conn.scan_iter() if key != BROKER_OWNER_KEY.encode()]
            if stale:
                conn.delete(*stale)
            return claimed
    return None


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, request):
    """A PostgreSQL test database per run, so two developers' runs never drop each other's.

    With --reuse-db the usual test_<name> is kept, since that is the database to reuse.
    """
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.postgresql" and not request.config.getvalue("reuse_db"):
        db.setdefault("TEST", {})["NAME"] = f"test_{db['NAME']}_{os.getpid()}"


# --- S3 -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server():
    """The endpoint URL of a moto S3 server running for the whole session; settings point at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with override_settings(AWS_S3_ENDPOINT_URL=endpoint):
        yield endpoint
    server.stop()


@pytest.fixture
def s3(s3_server):
    """A boto3 client on the moto server for seeding and checking; the server starts the test empty."""
    urlopen(Request(f"{s3_server}/moto-api/reset", method="POST"), timeout=10).close()
    return boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def make_bucket(s3, request):
    """make_bucket(prefix="bucket") creates a bucket with a unique name and returns the name.

    The bucket is granted (read and write) to the `user` fixture's user, as an administrator would
    for the bucket a team imports from; `grant=False` leaves it ungranted (default deny)."""

    def make_bucket(prefix: str = "bucket", *, grant: bool = True) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=name)
        if grant:
            from projects.models import S3AccessGrant

            S3AccessGrant.objects.create(user=request.getfixturevalue("user"), bucket=name, can_write=True)
        return name

    return make_bucket


@pytest.fixture
def grant(request):
    """grant(bucket, prefix="", *, user=None, write=False): an S3 access grant, to the `user` fixture's
    user unless another is given; the bucket need not exist (a grant names a location, not an object)."""

    def grant(bucket: str, prefix: str = "", *, user=None, write: bool = False):
        from projects.models import S3AccessGrant

        owner = user if user is not None else request.getfixturevalue("user")
        return S3AccessGrant.objects.create(user=owner, bucket=bucket, prefix=prefix, can_write=write)

    return grant


@pytest.fixture
def console_bucket(s3, db):
    """The region's console bucket, created on the moto server through the service, so console pages open."""
    from projects.services import console_bucket_create

    return console_bucket_create()


# --- Users ----------------------------------------------------------------------------------


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


@pytest.fixture
def other_user(db):
    return UserFactory(username="mallory")


@pytest.fixture
def client_user(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def client_other_user(other_user):
    client = Client()
    client.force_login(other_user)
    return client


# --- Celery ---------------------------------------------------------------------------------


@dataclass
class CeleryWorker:
    process: subprocess.Popen
    log_path: Path
    nodename: str

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _worker_queues() -> str:
    """Every queue a task can be routed to, so no task waits for a worker that is not there."""
    celery_app.loader.import_default_modules()
    queues = {celery_app.conf.task_default_queue}
    routes = celery_app.conf.task_routes
    if isinstance(routes, dict):
        queues |= {route["queue"] for route in routes.values() if isinstance(route, dict) and "queue" in route}
    return ",".join(sorted(queues))


@pytest.fixture(scope="session")
def celery_worker_proc(django_db_setup, django_db_blocker, s3_server, tmp_path_factory):
    """A real Celery worker (prefork, 2 processes) on this run's Redis database, test database and moto.

    The worker sees only committed rows: tests that use it need `transactional_db`.
    """
    worker = worker_start(
        s3_server=s3_server,
        log_path=tmp_path_factory.mktemp("celery") / "worker.log",
        nodename=f"tests-{os.getpid()}@{socket.gethostname()}",
        pool="prefork",
        concurrency=2,
    )
    try:
        yield worker
    finally:
        _stop(worker.process)


def worker_start(
    *,
    s3_server: str,
    log_path: Path,
    nodename: str,
    pool: str,
    concurrency: int,
    env: dict | None = None,
    queues: str | None = None,
    spare_cpu: bool = False,
) -> CeleryWorker:
    """A Celery worker subprocess on this run's Redis database, test database and moto, with the
    settings of `env` on top, consuming `queues` (default: every queue), on spare CPU only if `spare_cpu`,
    once it answers a ping. The caller stops it (`_stop`)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.fail("The Celery worker needs the PostgreSQL test database: run the suite with `make test`.")
    if _broker_url is None:
        pytest.fail(f"The Celery worker needs Redis, and {settings.CELERY_BROKER_URL} is not a reachable Redis.")

    database_url = urlunsplit(
        urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{connection.settings_dict['NAME']}")
    )
    worker_env = {
        **os.environ,
        **AWS_ENV,
        "DJANGO_SETTINGS_MODULE": "customlabels.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "AWS_S3_ENDPOINT_URL": s3_server,
        **(env or {}),
    }
    command = [
        *(spare_cpu_prefix() if spare_cpu else []),
        str(Path(sys.executable).with_name("celery")),
        "-A", "customlabels", "worker",
        "--loglevel=INFO", f"--pool={pool}", f"--concurrency={concurrency}",
        f"--queues={queues or _worker_queues()}", f"--hostname={nodename}",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = CeleryWorker(process=process, log_path=log_path, nodename=nodename)
    try:
        _wait_until_ready(worker)
    except BaseException:
        _stop(process)
        raise
    return worker


# The Procfile's `thumbnails:` process: the thumbnails queue, two child processes, on spare CPU only.
THUMBNAILS_WORKER = {"queues": "thumbnails", "pool": "prefork", "concurrency": 2, "spare_cpu": True}


@contextlib.contextmanager
def suite_worker_paused(suite_worker: CeleryWorker):
    """The suite's worker takes no task while a test runs workers of its own (its consumers
    cancelled, then added back); what the test's workers leave queued is dropped first."""
    queues = _worker_queues().split(",")
    for queue in queues:
        celery_app.control.cancel_consumer(queue, destination=[suite_worker.nodename], reply=True)
    try:
        yield
    finally:
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(*queues)
        for queue in queues:
            celery_app.control.add_consumer(queue, destination=[suite_worker.nodename], reply=True)


@contextlib.contextmanager
def procfile_workers(suite_worker: CeleryWorker, *, s3_server: str, log_dir: Path, env: dict | None = None):
    """The Procfile's `worker:` (threads:4 on `celery`) and `thumbnails:` processes with the settings of
    `env`, while the suite's worker takes no task; yields [import worker, thumbnails worker]."""
    with suite_worker_paused(suite_worker):
        started = []
        try:
            for name, options in (
                ("import", {"queues": "celery", "pool": "threads", "concurrency": 4}),
                ("thumbnails", THUMBNAILS_WORKER),
            ):
                started.append(
                    worker_start(
                        s3_server=s3_server,
                        log_path=log_dir / f"{name}-worker.log",
                        nodename=f"procfile-{name}-{os.getpid()}@{socket.gethostname()}",
                        env=env,
                        **options,
                    )
                )
            yield started
        finally:
            for worker in started:
                _stop(worker.process)


def _wait_until_ready(worker: CeleryWorker, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(f"The Celery worker exited with code {worker.process.returncode}:\n{worker.log_tail()}")
        if celery_app.control.ping(destination=[worker.nodename], timeout=0.5):
            return
    pytest.fail(f"The Celery worker did not answer a ping within {timeout:.0f} s:\n{worker.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    """Warm shutdown first; the worker's own process group is killed if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# --- Browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=10_000)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server, transactional_db):
    """A page in a fresh browser context (no cookies) whose relative URLs go to the live server."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def login():
    """login(page, user, password=PASSWORD) signs in through the sign-in form, as a person would."""
    from playwright.sync_api import expect

    def login(page, user, password: str = PASSWORD) -> None:
        page.goto("/accounts/login/")
        page.get_by_label("User name").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    return login


@pytest.fixture(autouse=True)
def _empty_cache():
    """Cached gallery counts are keyed by dataset id and version; no test sees another's."""
    from django.core.cache import cache

    cache.clear()
