"""Where an export's files go: one zip streamed into the owner's console storage (the standard
library's zipfile writing to an unseekable stream that feeds a multipart upload, so neither the zip
nor an image is ever whole in memory), or one object per file
under an S3 folder the user may write (images copied there on the server side).

A member is (path, content): content is bytes, an iterable of bytes, or an ImageCopy (an image the
sink reads from S3 as the user may view it)."""

from __future__ import annotations

import io
import itertools
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

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


# An image the export can't read (gone from S3, or no longer granted) is left out and named.
UNREADABLE = (s3_names.S3ObjectNotFound, s3_names.S3AccessDenied, s3_names.S3AccessRefused, s3_names.S3BucketNotFound)


class _Forward(io.RawIOBase):
    """A write-only, unseekable file that hands every write to the multipart writer: zipfile then
    streams (a data descriptor after each member) instead of seeking back."""

    def __init__(self, writer):
        self.writer = writer

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.writer.write(bytes(data))
        return len(data)


def zip_write(members: Iterable[Member], *, user_s3: UserS3, bucket: str, key: str, missing: list[str]) -> int:
    """Stream the members as one zip to s3://bucket/key (checked for writing). Returns its size.
    An image that can't be read is left out and its URI appended to `missing`. On any other error
    the upload is aborted and no object is left."""
    stamp = datetime.now(UTC).timetuple()[:6]
    with user_s3.writer(bucket, key, content_type="application/zip") as writer:
        with zipfile.ZipFile(_Forward(writer), "w", allowZip64=True) as archive:
            for path, content in members:
                info = zipfile.ZipInfo(path, stamp)
                info.external_attr = 0o644 << 16
                if isinstance(content, ImageCopy):
                    stream = user_s3.iter_object(*s3_names.split_uri(content.uri))
                    try:
                        first = next(stream, b"")
                    except UNREADABLE:
                        missing.append(content.uri)
                        continue
                    # Stored, not deflated: JPEG and PNG are compressed already. One block at a time.
                    with archive.open(info, "w", force_zip64=True) as out:
                        for block in itertools.chain((first,), stream):
                            out.write(block)
                elif isinstance(content, bytes) and len(content) < SMALL_FILE:
                    # Label files are small and many (a YOLO export has one per image): stored as they are.
                    archive.writestr(info, content)
                else:
                    info.compress_type = zipfile.ZIP_DEFLATED
                    with archive.open(info, "w", force_zip64=True) as out:
                        for block in (content,) if isinstance(content, bytes) else content:
                            out.write(block)
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
