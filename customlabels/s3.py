"""The one module that talks to S3 (boto3).

Everything else calls these functions and sees only plain values and the exceptions below,
whose messages are fit to show to a user.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from django.conf import settings

LIST_PAGE_SIZE = 1000


class S3Error(Exception):
    """Base of every S3 failure; str() is a message for the user."""


class S3LocationInvalid(S3Error):
    pass


class S3BucketNotFound(S3Error):
    pass


class S3AccessDenied(S3Error):
    pass


class S3ObjectNotFound(S3Error):
    pass


class S3Unreachable(S3Error):
    """The endpoint could not be reached (network, DNS, timeouts, 5xx). Worth retrying."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" for the bucket root, else ends with "/"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str


_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def parse_location(value: str) -> S3Location:
    """Parse `s3://bucket/prefix` or `bucket/prefix` (trailing slash optional) into a folder.

    The prefix always ends with "/" so that `alexa-devices` never matches `alexa-devices-2/`.
    """
    text = (value or "").strip()
    if not text:
        raise S3LocationInvalid("Enter an S3 folder location, for example s3://bucket/folder/.")
    if len(text) > 1024 + 70:
        raise S3LocationInvalid("The S3 folder location is too long.")
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://", text) and not text.startswith("s3://"):
        raise S3LocationInvalid("The S3 folder location must start with s3:// or a bucket name.")
    if text.startswith("s3://"):
        text = text[len("s3://") :]
    bucket, _, prefix = text.partition("/")
    if not bucket:
        raise S3LocationInvalid("The S3 folder location needs a bucket name, for example s3://bucket/folder/.")
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise S3LocationInvalid(
            f"“{bucket}” is not a valid bucket name: use 3–63 lower-case letters, digits, dots and hyphens."
        )
    prefix = prefix.strip("/")
    if any(ch in prefix for ch in "\x00\r\n"):
        raise S3LocationInvalid("The S3 folder location contains characters that are not allowed.")
    segments = prefix.split("/") if prefix else []
    if any(seg in ("", ".", "..") for seg in segments):
        raise S3LocationInvalid("The S3 folder location must not contain empty, “.” or “..” folders.")
    if len(prefix.encode()) > 1000:
        raise S3LocationInvalid("The S3 folder location is too long.")
    return S3Location(bucket=bucket, prefix=f"{prefix}/" if prefix else "")


_lock = threading.Lock()
_cached: tuple | None = None


def client():
    """The process's boto3 S3 client. Clients are thread-safe, so the header-reading threads share
    one (and its connection pool); building one costs tens of milliseconds and megabytes."""
    global _cached
    key = (os.getpid(), settings.AWS_S3_ENDPOINT_URL, settings.AWS_ACCESS_KEY_ID, settings.AWS_DEFAULT_REGION)
    cached = _cached
    if cached is not None and cached[0] == key:
        return cached[1]
    with _lock:
        if _cached is not None and _cached[0] == key:
            return _cached[1]
        _cached = (key, _client_new())
        return _cached[1]


def _client_new():
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=max(32, settings.IMPORT_HEADER_THREADS * 2),
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    session = boto3.session.Session()
    c = session.client(
        "s3",
        endpoint_url=settings.AWS_S3_ENDPOINT_URL,
        aws_access_key_id=settings.AWS_ACCESS_KEY_ID,
        aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY,
        region_name=settings.AWS_DEFAULT_REGION,
        config=config,
    )
    return c


def _translate(exc: Exception, *, bucket: str, key: str | None = None) -> S3Error:
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)):
        return S3Unreachable("S3 could not be reached. Check that the S3 endpoint is running and try again.")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchBucket",) or (status == 404 and key is None):
            return S3BucketNotFound(f"The bucket “{bucket}” does not exist.")
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            return S3ObjectNotFound(f"The object s3://{bucket}/{key} does not exist.")
        if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled") or status == 403:
            return S3AccessDenied(
                f"Access to the bucket “{bucket}” was denied. The console needs the s3:ListBucket and "
                "s3:GetObject permissions on it."
            )
        if code == "InvalidBucketName":
            return S3LocationInvalid(f"“{bucket}” is not a valid bucket name.")
        if status and status >= 500:
            return S3Unreachable(f"S3 answered with an error ({code or status}). Try again later.")
        return S3Error(f"S3 refused the request ({code or status}).")
    if isinstance(exc, BotoCoreError):
        return S3Unreachable(f"S3 could not be reached ({exc.__class__.__name__}).")
    return S3Error(str(exc))


def head_bucket(bucket: str) -> None:
    try:
        client().head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, bucket=bucket) from exc


def create_bucket(bucket: str) -> None:
    """Create the bucket; succeed quietly when we already own it."""
    params = {"Bucket": bucket}
    region = settings.AWS_DEFAULT_REGION
    if region and region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client().create_bucket(**params)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "BucketAlreadyOwnedByYou":
            return
        if code == "BucketAlreadyExists":
            # Some servers (rclone) say this for our own bucket too; if we can open it, it is ours.
            head_bucket(bucket)
            return
        raise _translate(exc, bucket=bucket) from exc
    except BotoCoreError as exc:
        raise _translate(exc, bucket=bucket) from exc


def list_pages(bucket: str, prefix: str, *, start_after: str = "") -> Iterator[list[S3Object]]:
    """Yield the objects under prefix, one ListObjectsV2 page (≤1,000 keys) at a time."""
    kwargs = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": LIST_PAGE_SIZE}
    if start_after:
        kwargs["StartAfter"] = start_after
    token = None
    while True:
        if token:
            kwargs["ContinuationToken"] = token
        try:
            resp = client().list_objects_v2(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, bucket=bucket) from exc
        yield [
            S3Object(key=o["Key"], size=int(o.get("Size", 0)), etag=str(o.get("ETag", "")).strip('"'))
            for o in resp.get("Contents", [])
        ]
        if not resp.get("IsTruncated"):
            return
        token = resp.get("NextContinuationToken")


def read_range(bucket: str, key: str, length: int, *, start: int = 0) -> bytes:
    """Read at most `length` bytes from the start of an object (a ranged GET).

    Some servers ignore Range and answer 200 with the whole body; we still stop reading after
    `length` bytes so a huge object never lands in memory.
    """
    try:
        resp = client().get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{start + length - 1}")
        body = resp["Body"]
        try:
            return body.read(length)
        finally:
            body.close()
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, bucket=bucket, key=key) from exc


def read_object(bucket: str, key: str, *, max_bytes: int) -> bytes:
    """Read a whole object, refusing one larger than max_bytes."""
    data = read_range(bucket, key, max_bytes + 1)
    if len(data) > max_bytes:
        raise S3Error(f"s3://{bucket}/{key} is larger than {max_bytes} bytes.")
    return data


def put_object(bucket: str, key: str, data: bytes, *, content_type: str) -> None:
    try:
        client().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, bucket=bucket, key=key) from exc


def delete_objects(bucket: str, keys: list[str]) -> None:
    for i in range(0, len(keys), 1000):
        batch = keys[i : i + 1000]
        try:
            client().delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, bucket=bucket) from exc


def presigned_get_url(bucket: str, key: str, *, expires: int | None = None) -> str:
    return client().generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": key},
        ExpiresIn=expires or settings.PRESIGNED_URL_EXPIRES,
    )


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key)."""
    if not uri.startswith("s3://"):
        raise S3LocationInvalid(f"{uri} is not an s3:// URI.")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key
