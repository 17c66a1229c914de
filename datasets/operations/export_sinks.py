"""Where an export's files go: one zip streamed into the owner's console storage (stream-zip into a
multipart upload, so neither the zip nor an image is ever whole in memory), or one object per file
under an S3 folder the user may write (images copied there on the server side).

A member is (path, content): content is bytes, an iterable of bytes, or an ImageCopy (an image the
sink reads from S3 as the user may view it)."""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from stream_zip import NO_COMPRESSION_64, ZIP_64, stream_zip

from customlabels import s3_names
from projects.s3_access import Use, UserS3

CONTENT_TYPES = {
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".csv": "text/csv",
    ".xml": "application/xml",
}


@dataclass(frozen=True)
class ImageCopy:
    uri: str


Member = tuple[str, "bytes | Iterable[bytes] | ImageCopy"]


SMALL_FILE = 64 * 1024


def _compressobj():
    # The fastest level: the large files (a COCO document, a CSV) are text that compresses well anyway.
    return zlib.compressobj(level=1, wbits=-zlib.MAX_WBITS)


# An image the export can't read (gone from S3, or no longer granted) is left out and named.
UNREADABLE = (s3_names.S3ObjectNotFound, s3_names.S3AccessDenied, s3_names.S3AccessRefused, s3_names.S3BucketNotFound)


def zip_write(members: Iterable[Member], *, user_s3: UserS3, bucket: str, key: str, missing: list[str]) -> int:
    """Stream the members as one zip to s3://bucket/key (checked for writing). Returns its size.
    An image that can't be read is left out and its URI appended to `missing`. On any other error
    the upload is aborted and no object is left."""
    modified = datetime.now(UTC)

    def files() -> Iterator:
        for path, content in members:
            if isinstance(content, ImageCopy):
                stream = user_s3.iter_object(*s3_names.split_uri(content.uri))
                try:
                    first = next(stream, b"")
                except UNREADABLE:
                    missing.append(content.uri)
                    continue
                # Stored, not deflated: JPEG and PNG are compressed already.
                yield path, modified, 0o644, NO_COMPRESSION_64, itertools.chain((first,), stream)
            elif isinstance(content, bytes) and len(content) < SMALL_FILE:
                # Label files are small and many (a YOLO export has one per image): stored as they are,
                # each costs a few microseconds where a compressor of its own costs ten times that.
                yield path, modified, 0o644, NO_COMPRESSION_64, (content,)
            else:
                yield path, modified, 0o644, ZIP_64, (content,) if isinstance(content, bytes) else content

    with user_s3.writer(bucket, key, content_type="application/zip") as writer:
        for chunk in stream_zip(files(), get_compressobj=_compressobj):
            writer.write(chunk)
    return writer.size


def s3_write(members: Iterable[Member], *, user_s3: UserS3, bucket: str, prefix: str, missing: list[str]) -> int:
    """Write each member as an object under s3://bucket/prefix (every key checked for writing),
    IMPORT_HEADER_THREADS at a time; images are copied on the server side, and one that can't be
    read is left out and its URI appended to `missing`. Returns the files handled."""

    def put(member: Member) -> None:
        path, content = member
        key = f"{prefix}{path}"
        if isinstance(content, ImageCopy):
            user_s3.check(bucket, key, use=Use.WRITE)  # a refusal here is the export's, not the image's
            try:
                user_s3.copy_object(*s3_names.split_uri(content.uri), bucket, key)
            except UNREADABLE:
                missing.append(content.uri)
            return
        data = content if isinstance(content, bytes) else b"".join(content)
        suffix = path[path.rfind(".") :].lower() if "." in path else ""
        user_s3.put_object(bucket, key, data, content_type=CONTENT_TYPES.get(suffix, "text/plain"))

    written = 0
    with ThreadPoolExecutor(max_workers=settings.IMPORT_HEADER_THREADS) as pool:
        pending = []
        for member in members:
            pending.append(pool.submit(put, member))
            if len(pending) >= 256:
                for future in pending:
                    future.result()
                written += len(pending)
                pending = []
        for future in pending:
            future.result()
        written += len(pending)
    return written
