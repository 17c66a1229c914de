"""The one module that talks to S3 (boto3).

Everything else calls these functions and sees only plain values and the exceptions below,
whose messages are fit to show to a user.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

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

from .s3_names import bucket_name_valid

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
    if not bucket_name_valid(bucket):
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


def _presign_get(bucket: str, key: str, *, expires: int, now: datetime) -> str:
    """The URL botocore's generate_presigned_url gives for a GET with static keys (SigV4 query
    signing, path-style), made without botocore's per-call machinery: a gallery page signs 50
    thumbnails, and botocore spent a third of the page's time doing it. A test checks the two agree."""
    endpoint = urlsplit(settings.AWS_S3_ENDPOINT_URL or client().meta.endpoint_url)
    host = endpoint.netloc
    if (endpoint.scheme, endpoint.port) in (("http", 80), ("https", 443)):
        host = endpoint.hostname
    path = quote(f"{endpoint.path.rstrip('/')}/{bucket}/{key}", safe="/~")
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{settings.AWS_DEFAULT_REGION}/s3/aws4_request"
    query = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{settings.AWS_ACCESS_KEY_ID}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
    }
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()))
    canonical_request = f"GET\n{path}\n{canonical_query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    signature = hmac.new(_signing_key(amz_date[:8]), to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{endpoint.scheme}://{endpoint.netloc}{path}?{canonical_query}&X-Amz-Signature={signature}"


@functools.lru_cache(maxsize=8)
def _signing_key_for(secret: str, day: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _signing_key(day: str) -> bytes:
    return _signing_key_for(settings.AWS_SECRET_ACCESS_KEY, day, settings.AWS_DEFAULT_REGION)


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key)."""
    if not uri.startswith("s3://"):
        raise S3LocationInvalid(f"{uri} is not an s3:// URI.")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def copy_object(bucket: str, source_key: str, key: str) -> None:
    """Copy an object inside the bucket on the server side (CopyObject): no byte passes through us."""
    try:
        client().copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key})
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, bucket=bucket, key=source_key) from exc


MULTIPART_MIN_PART = 5 * 1024 * 1024  # S3's smallest part but the last
MULTIPART_PART_SIZE = 8 * 1024 * 1024


class MultipartWriter:
    """Write one object of any size from a stream of bytes, holding at most two parts in memory.

    Parts of `part_size` bytes go up as a multipart upload, each one uploaded by a helper thread
    while the caller produces the next. An object smaller than one part is stored with one PUT.
    Use it as a context manager: leaving it by an exception aborts the upload, so no object and no
    stray parts are left; leaving it normally completes the object.
    """

    def __init__(self, bucket: str, key: str, *, content_type: str, part_size: int = MULTIPART_PART_SIZE):
        if part_size < MULTIPART_MIN_PART:
            raise ValueError(f"S3 parts are at least {MULTIPART_MIN_PART} bytes.")
        self.bucket, self.key, self.content_type, self.part_size = bucket, key, content_type, part_size
        self.size = 0
        self.parts = 0
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._uploads: list[Future] = []
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False

    def __enter__(self) -> MultipartWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        if len(self._buffer) >= self.part_size:
            self._send(bytes(self._buffer))
            self._buffer.clear()

    def _send(self, body: bytes) -> None:
        if self._upload_id is None:
            try:
                resp = client().create_multipart_upload(Bucket=self.bucket, Key=self.key, ContentType=self.content_type)
            except (ClientError, BotoCoreError) as exc:
                raise _translate(exc, bucket=self.bucket, key=self.key) from exc
            self._upload_id = resp["UploadId"]
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-part")
        # One part in flight at a time: the caller builds the next part meanwhile, and memory stays bounded.
        if self._uploads:
            self._uploads[-1].result()
        self.parts += 1
        self._uploads.append(self._pool.submit(self._upload_part, self.parts, body))

    def _upload_part(self, number: int, body: bytes) -> dict:
        try:
            resp = client().upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=body
            )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, bucket=self.bucket, key=self.key) from exc
        return {"PartNumber": number, "ETag": resp["ETag"]}

    def close(self) -> int:
        """Finish the object; returns its size in bytes."""
        if self._closed:
            return self.size
        if self._upload_id is None:
            put_object(self.bucket, self.key, bytes(self._buffer), content_type=self.content_type)
            self._buffer.clear()
            self._closed = True
            return self.size
        try:
            if self._buffer:
                self._send(bytes(self._buffer))
                self._buffer.clear()
            parts = [upload.result() for upload in self._uploads]
            client().complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": parts}
            )
        except (ClientError, BotoCoreError) as exc:
            self.abort()
            raise _translate(exc, bucket=self.bucket, key=self.key) from exc
        except Exception:
            self.abort()
            raise
        self._shutdown()
        self._closed = True
        return self.size

    def abort(self) -> None:
        """Drop the upload and its parts. Never raises: it runs while another error is on its way up."""
        self._closed = True
        self._buffer.clear()
        self._shutdown()
        if self._upload_id is None:
            return
        try:
            client().abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
        except (ClientError, BotoCoreError):
            pass
        self._upload_id = None

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# --- the manifest import: a file's size, image headers with their object's size, lines of a file ---


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
    # "bytes 0-16383/52000"; a server that ignores Range answers 200 with the whole object instead.
    total = str(resp.get("ContentRange", "")).rpartition("/")[2]
    size = int(total) if total.isdigit() else int(resp.get("ContentLength", len(data)))
    return data, size, str(resp.get("ETag", "")).strip('"')


LINE_READ_SIZE = 256 * 1024


def iter_lines(bucket: str, key: str, *, max_line_bytes: int) -> Iterator[bytes]:
    """Yield the lines of an object as it streams in, without their line breaks ("\\n" or "\\r\\n").

    Never holds the whole object: at most one read and one line. A line longer than
    `max_line_bytes` is yielded cut to `max_line_bytes + 1` bytes, so the caller can tell, and the
    rest of it is skipped as it streams past. A final line break does not start another line.
    Raises S3Error subclasses, S3Unreachable when the stream breaks off.
    """
    try:
        resp = client().get_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, bucket=bucket, key=key) from exc
    body = resp["Body"]
    limit = max_line_bytes + 1
    pending, cut = b"", False
    try:
        while True:
            try:
                block = body.read(LINE_READ_SIZE)
            except BotoCoreError as exc:
                raise _translate(exc, bucket=bucket, key=key) from exc
            if not block:
                break
            parts = block.split(b"\n")
            for part in parts[:-1]:
                yield _line_end(pending if cut else pending + part, cut=cut, limit=limit)
                pending, cut = b"", False
            if not cut:
                pending += parts[-1]
                if len(pending) > limit:
                    pending, cut = pending[:limit], True
        if pending or cut:
            yield _line_end(pending, cut=cut, limit=limit)
    finally:
        body.close()


def _line_end(line: bytes, *, cut: bool, limit: int) -> bytes:
    """The line without its carriage return, or its first `limit` bytes when it is longer than that."""
    if cut or len(line) > limit:
        return line[:limit]
    return line[:-1] if line.endswith(b"\r") else line
