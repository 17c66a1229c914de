"""The one module that talks to S3 (boto3).

Everything else calls these functions and sees only plain values and the exceptions below,
whose messages are fit to show to a user.
"""

from __future__ import annotations

import os
import threading
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

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

from . import s3_http, sigv4
from .s3_names import (
    S3AccessDenied,
    S3AccessRefused,
    S3BucketNotFound,
    S3Error,
    S3Location,
    S3LocationInvalid,
    S3Object,
    S3ObjectNotFound,
    S3Unreachable,
    parse_location,
    split_uri,
)

# The names of locations and errors live in s3_names (pure); callers reach them here with the rest.
__all__ = [
    "S3AccessDenied",
    "S3AccessRefused",
    "S3BucketNotFound",
    "S3Error",
    "S3Location",
    "S3LocationInvalid",
    "S3Object",
    "S3ObjectNotFound",
    "S3Unreachable",
    "parse_location",
    "split_uri",
]

# Keys a ListObjectsV2 page holds (1,000, S3's most, unless IMPORT_LIST_PAGE_SIZE lowers it).
LIST_PAGE_SIZE = settings.IMPORT_LIST_PAGE_SIZE


_lock = threading.RLock()
_cached: dict[str, tuple] = {}


def _per_process(name: str, factory: Callable[[], object]):
    """What `factory` makes, once per process and S3 configuration (tests and forks change them)."""
    key = (os.getpid(), settings.AWS_S3_ENDPOINT_URL, settings.AWS_ACCESS_KEY_ID, settings.AWS_DEFAULT_REGION)
    cached = _cached.get(name)
    if cached is None or cached[0] != key:
        with _lock:
            cached = _cached.get(name)
            if cached is None or cached[0] != key:
                cached = _cached[name] = (key, factory())
    return cached[1]


def client():
    """The process's boto3 S3 client. Clients are thread-safe, so the header-reading threads share
    one (and its connection pool); building one costs tens of milliseconds and megabytes."""
    return _per_process("client", _client_new)


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
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, s3_http.Unreachable)):
        return S3Unreachable("S3 could not be reached. Check that the S3 endpoint is running and try again.")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return _translate_code(code, status, bucket=bucket, key=key)
    if isinstance(exc, BotoCoreError):
        return S3Unreachable(f"S3 could not be reached ({exc.__class__.__name__}).")
    return S3Error(str(exc))


def _translate_code(code: str, status: int | None, *, bucket: str, key: str | None) -> S3Error:
    """The exception for S3's error `code` and HTTP `status`, from boto3 or from s3_http alike."""
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
    `length` bytes so a huge object never lands in memory. An empty object, whose every range S3
    refuses (416 InvalidRange), reads as no bytes.
    """
    getter = _getter()
    if getter is not None:
        reply = _get(getter, bucket, key, start=start, length=length)
        if start == 0 and reply.status == 416 and reply.code in ("InvalidRange", ""):
            return b""
        return _reply_checked(reply, bucket=bucket, key=key).data
    try:
        resp = client().get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{start + length - 1}")
        body = resp["Body"]
        try:
            return body.read(length)
        finally:
            body.close()
    except ClientError as exc:
        if start == 0 and exc.response.get("Error", {}).get("Code") == "InvalidRange":
            return b""
        raise _translate(exc, bucket=bucket, key=key) from exc
    except BotoCoreError as exc:
        raise _translate(exc, bucket=bucket, key=key) from exc


def _getter() -> s3_http.HttpClient | None:
    """The process's plain-HTTP client (s3_http) for ranged reads and small writes, or None where boto3
    must make them: no static keys (an instance role's credentials), or a proxy in the environment."""
    return _per_process("getter", _getter_new)


def _getter_new() -> s3_http.HttpClient | None:
    if not (settings.AWS_ACCESS_KEY_ID and settings.AWS_SECRET_ACCESS_KEY) or os.environ.get("AWS_SESSION_TOKEN"):
        return None
    endpoint = settings.AWS_S3_ENDPOINT_URL or client().meta.endpoint_url
    if urllib.request.getproxies() and not urllib.request.proxy_bypass(urlsplit(endpoint).hostname or ""):
        return None
    return s3_http.HttpClient(
        endpoint_url=endpoint,
        access_key=settings.AWS_ACCESS_KEY_ID,
        secret_key=settings.AWS_SECRET_ACCESS_KEY,
        region=settings.AWS_DEFAULT_REGION,
        pool_size=max(32, settings.IMPORT_HEADER_THREADS * 2),
        connect_timeout=5,
        read_timeout=30,
        ca_certs=os.environ.get("AWS_CA_BUNDLE") or None,
    )


def _get(getter: s3_http.HttpClient, bucket: str, key: str, *, start: int, length: int) -> s3_http.Reply:
    try:
        return getter.get(bucket, key, start=start, length=length)
    except s3_http.Unreachable as exc:
        raise _translate(exc, bucket=bucket, key=key) from exc


def _reply_checked(reply: s3_http.Reply, *, bucket: str, key: str) -> s3_http.Reply:
    if reply.status not in (200, 206):
        raise _translate_code(reply.code, reply.status, bucket=bucket, key=key)
    return reply


def read_object(bucket: str, key: str, *, max_bytes: int) -> bytes:
    """Read a whole object, refusing one larger than max_bytes."""
    data = read_range(bucket, key, max_bytes + 1)
    if len(data) > max_bytes:
        raise S3Error(f"s3://{bucket}/{key} is larger than {max_bytes} bytes.")
    return data


def put_object(bucket: str, key: str, data: bytes, *, content_type: str) -> None:
    """Store one small object (a thumbnail, a prepared manifest); over plain HTTP where reads go so."""
    getter = _getter()
    if getter is not None:
        try:
            reply = getter.put(bucket, key, data, content_type=content_type)
        except s3_http.Unreachable as exc:
            raise _translate(exc, bucket=bucket, key=key) from exc
        _reply_checked(reply, bucket=bucket, key=key)
        return
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


def presigned_get_url(
    bucket: str, key: str, *, expires: int | None = None, content_disposition: str | None = None
) -> str:
    """A GET URL for the object; `content_disposition` (e.g. `attachment; filename="x"`) overrides the
    response's Content-Disposition header, so a browser saves the object instead of showing it."""
    expires = expires or settings.PRESIGNED_URL_EXPIRES
    if not content_disposition and settings.AWS_ACCESS_KEY_ID and settings.AWS_SECRET_ACCESS_KEY:
        return _presign_get(bucket, key, expires=expires, now=datetime.now(UTC))
    params = {"Bucket": bucket, "Key": key}
    if content_disposition:
        params["ResponseContentDisposition"] = content_disposition
    return client().generate_presigned_url("get_object", Params=params, ExpiresIn=expires)


def presigner(*, expires: int | None = None) -> Callable[[str, str], str]:
    """presigned_get_url as a function of (bucket, key), for many URLs at once: with static keys,
    what the URLs share (the query, the scope, the signing key) is computed once, and each URL costs
    two hashes (a gallery page signs fifty)."""
    expires = expires or settings.PRESIGNED_URL_EXPIRES
    if settings.AWS_ACCESS_KEY_ID and settings.AWS_SECRET_ACCESS_KEY:
        return _signer(expires=expires, now=datetime.now(UTC)).url
    return lambda bucket, key: presigned_get_url(bucket, key, expires=expires)


def _presign_get(bucket: str, key: str, *, expires: int, now: datetime) -> str:
    """The URL botocore's generate_presigned_url gives for a GET with static keys, made without
    botocore's per-call machinery (customlabels.sigv4): a gallery page signs 50 thumbnails, and
    botocore spent a third of the page's time doing it. A test checks the two agree."""
    return _signer(expires=expires, now=now).url(bucket, key)


def _signer(*, expires: int, now: datetime) -> sigv4.UrlSigner:
    return sigv4.UrlSigner(
        endpoint_url=settings.AWS_S3_ENDPOINT_URL or client().meta.endpoint_url,
        access_key=settings.AWS_ACCESS_KEY_ID,
        secret_key=settings.AWS_SECRET_ACCESS_KEY,
        region=settings.AWS_DEFAULT_REGION,
        expires=expires,
        now=now,
    )


def copy_object(bucket: str, source_key: str, key: str) -> None:
    """Copy an object inside the bucket on the server side (CopyObject): no byte passes through us."""
    try:
        client().copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key})
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, bucket=bucket, key=source_key) from exc


def copy_object_across(source_bucket: str, source_key: str, bucket: str, key: str) -> None:
    """Copy an object to another bucket or key on the server side (CopyObject)."""
    try:
        client().copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": source_key})
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, bucket=source_bucket, key=source_key) from exc


# --- the manifest import: a file's size, image headers with their object's size ---


def head_object(bucket: str, key: str) -> S3Object:
    """The object's size and ETag (HeadObject). Raises S3ObjectNotFound, S3AccessDenied, S3Unreachable."""
    try:
        resp = client().head_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, bucket=bucket, key=key) from exc
    return S3Object(key=key, size=int(resp.get("ContentLength", 0)), etag=str(resp.get("ETag", "")).strip('"'))


def read_range_sized(bucket: str, key: str, length: int) -> tuple[bytes, int, str]:
    """Read at most `length` bytes from the start of an object, with the object's full size and ETag.

    One ranged GET: the size comes from its Content-Range, so a reader that only knows a key (a
    manifest's source-ref) needs no HeadObject. An empty object, whose every range S3 refuses
    (416 InvalidRange), reads as no bytes.
    """
    getter = _getter()
    if getter is not None:
        reply = _get(getter, bucket, key, start=0, length=length)
        if reply.status == 416 and reply.code in ("InvalidRange", ""):
            return b"", 0, ""
        reply = _reply_checked(reply, bucket=bucket, key=key)
        return reply.data, _object_size(reply.content_range, reply.content_length, reply.data), reply.etag
    try:
        resp = client().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{length - 1}")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "InvalidRange":
            return b"", 0, ""
        raise _translate(exc, bucket=bucket, key=key) from exc
    except BotoCoreError as exc:
        raise _translate(exc, bucket=bucket, key=key) from exc
    body = resp["Body"]
    try:
        data = body.read(length)
    except BotoCoreError as exc:
        raise _translate(exc, bucket=bucket, key=key) from exc
    finally:
        body.close()
    return (
        data,
        _object_size(str(resp.get("ContentRange", "")), resp.get("ContentLength"), data),
        str(resp.get("ETag", "")).strip('"'),
    )


def _object_size(content_range: str, content_length: int | None, data: bytes) -> int:
    # "bytes 0-16383/52000"; a server that ignores Range answers 200 with the whole object instead.
    total = content_range.rpartition("/")[2]
    return int(total) if total.isdigit() else int(content_length if content_length is not None else len(data))
