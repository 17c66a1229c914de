"""Ranged GETs and small PUTs of S3 objects over one urllib3 pool, each signed as a presigned URL
(customlabels.sigv4).

Why not boto3 here: an import reads the first KB of every image, sixteen at a time, and a thumbnail
is a GET and a PUT. botocore spends about 1.2 ms of interpreter time on each request (its event
hooks, parameter validation, signing and response parsing), this path about 0.45 ms. In a threads pool the interpreter is shared, so that
time is what another user's import, running beside a large one in the same worker, waits for
(tests/bench/bench_fairness.py), and what an import's own speed is bound by.

Only for static keys, as the presigner: customlabels.s3 falls back to boto3 for other credentials
and behind a proxy. Plain values out; customlabels.s3 turns a status and an S3 error code into the
exceptions the rest of the code knows, the same ones as for boto3's ClientError.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import urllib3

from . import sigv4

# A URL is used the moment it is made; a signer serves a minute, its URLs stay valid for two.
SIGNER_SECONDS = 60
ERROR_BODY_BYTES = 16 * 1024
_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")


class Unreachable(Exception):
    """The server could not be reached, or the connection broke off, after the retries."""


@dataclass(frozen=True)
class Reply:
    """A request's status and, when a GET succeeded (200/206), at most the bytes asked for; when it
    failed, the S3 error code of the body ("" when it had none)."""

    status: int
    data: bytes = b""
    content_range: str = ""
    content_length: int | None = None
    etag: str = ""
    code: str = ""


class HttpClient:
    """Ranged GETs and PUTs for one endpoint and key pair; thread-safe, one connection pool per process."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        access_key: str,
        secret_key: str,
        region: str,
        pool_size: int,
        connect_timeout: float,
        read_timeout: float,
        ca_certs: str | None = None,
    ):
        self._signer_args = {
            "endpoint_url": endpoint_url,
            "access_key": access_key,
            "secret_key": secret_key,
            "region": region,
            "expires": 2 * SIGNER_SECONDS,
        }
        # As botocore's "standard" retries: three attempts for a broken connection or a 5xx.
        retries = urllib3.Retry(
            total=2,
            connect=2,
            read=2,
            status=2,
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=["GET", "PUT"],  # a PUT of the same bytes again is harmless
            backoff_factor=0.2,
            raise_on_status=False,
            raise_on_redirect=False,
            redirect=0,
        )
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=pool_size,
            retries=retries,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            ca_certs=ca_certs,
        )
        self._lock = threading.Lock()
        self._signer: tuple[float, sigv4.UrlSigner] | None = None

    def _url(self, bucket: str, key: str, method: str = "GET") -> str:
        current = self._signer
        if current is None or time.monotonic() - current[0] > SIGNER_SECONDS:
            with self._lock:
                current = self._signer
                if current is None or time.monotonic() - current[0] > SIGNER_SECONDS:
                    signer = sigv4.UrlSigner(**self._signer_args, now=datetime.now(UTC))
                    current = self._signer = (time.monotonic(), signer)
        return current[1].url(bucket, key, method=method)

    def get(self, bucket: str, key: str, *, start: int, length: int) -> Reply:
        """GET bytes start…start+length-1 of s3://bucket/key. A server that ignores Range answers
        200 with the whole object; still at most `length` bytes are read. Raises Unreachable."""
        try:
            resp = self._pool.request(
                "GET",
                self._url(bucket, key),
                headers={"Range": f"bytes={start}-{start + length - 1}"},
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable(exc.__class__.__name__) from exc
        reusable = False
        try:
            if resp.status in (200, 206):
                data = resp.read(length)
                length_header = resp.headers.get("Content-Length")
                reusable = length_header is not None and int(length_header) == len(data)
                return Reply(
                    status=resp.status,
                    data=data,
                    content_range=resp.headers.get("Content-Range", ""),
                    content_length=int(length_header) if length_header else None,
                    etag=resp.headers.get("ETag", "").strip('"'),
                )
            body = resp.read(ERROR_BODY_BYTES)
            match = _CODE.search(body)
            return Reply(status=resp.status, code=match.group(1).decode(errors="replace") if match else "")
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable(exc.__class__.__name__) from exc
        finally:
            if reusable:
                resp.release_conn()
            else:
                # Unread bytes are left on the connection: close it rather than reuse it.
                resp.close()

    def put(self, bucket: str, key: str, data: bytes, *, content_type: str) -> Reply:
        """PUT `data` as s3://bucket/key (one request: a thumbnail, not a large file). Raises Unreachable."""
        try:
            resp = self._pool.request(
                "PUT",
                self._url(bucket, key, "PUT"),
                body=data,
                headers={"Content-Type": content_type, "Content-Length": str(len(data))},
            )
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable(exc.__class__.__name__) from exc
        if resp.status == 200:
            return Reply(status=200, etag=resp.headers.get("ETag", "").strip('"'))
        match = _CODE.search(resp.data[:ERROR_BODY_BYTES])
        return Reply(status=resp.status, code=match.group(1).decode(errors="replace") if match else "")
