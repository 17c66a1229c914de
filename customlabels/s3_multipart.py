"""Writing one S3 object in parts (multipart upload) as its bytes are produced, so a large file
never sits in memory whole. Part of the S3 module: it uses its client and its error translation."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from botocore.exceptions import BotoCoreError, ClientError

from .s3 import _translate, client, put_object

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
