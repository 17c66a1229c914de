"""Reading an image's format and size from S3 without reading the image: ranged GETs of its first
bytes (rules.HEADER_BYTES, more only when a JPEG's size comes later), many images at a time."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings

from customlabels import s3_names
from projects.s3_access import UserS3

from .. import rules
from . import fair_share


@dataclass(frozen=True)
class Header:
    """What the first bytes of an image told: its format and pixels, its size and ETag when the
    read learned them, and `error`, why the image can't be used ("" when it is within the limits)."""

    format: str = ""
    width: int | None = None
    height: int | None = None
    size: int | None = None
    etag: str = ""
    error: str = ""


def header_read(
    reader: UserS3, bucket: str, key: str, *, size: int | None, s3_error: Callable[[s3_names.S3Error], str | None]
) -> Header:
    """Read one image's header with ranged GETs, as the user `reader` may (each in the user's fair
    share of the process's reads), and check it against the image limits.

    `size` is the object's size when the listing gave it; otherwise the read learns it and the
    ETag. `s3_error` turns a failed read into the image's error, or None to raise it.
    Raises S3Unreachable, worth a retry, and S3AccessRefused when the user may not read the key.
    """
    if size == 0:
        # Real S3 answers a ranged GET of an empty object with 416, which is no reason to fail the import.
        return Header(error="The image is invalid: the file is empty.")
    length, etag = rules.HEADER_BYTES, ""
    share = fair_share.reads()
    while True:
        try:
            with share.slot(reader.user_id):
                if size is None:
                    data, size, etag = reader.read_range_sized(bucket, key, length)
                else:
                    data = reader.read_range(bucket, key, length)
        except (s3_names.S3Unreachable, s3_names.S3AccessRefused):
            raise
        except s3_names.S3Error as exc:
            error = s3_error(exc)
            if error is None:
                raise
            return Header(error=error)
        complete = len(data) < length or len(data) >= size
        try:
            header = rules.image_header_parse(data, complete=complete)
            break
        except rules.HeaderIncomplete:
            if length >= rules.HEADER_BYTES_MAX:
                return Header(
                    size=size, etag=etag[:128], error="The image is invalid: no image size found in its first 1 MB."
                )
            length *= 8
        except rules.InvalidImage as exc:
            return Header(size=size, etag=etag[:128], error=f"The image is invalid: {exc}.")
    error = rules.image_limits_error(width=header.width, height=header.height, size=size) or ""
    return Header(header.format, header.width, header.height, size, etag[:128], error)


def headers_read(
    reader: UserS3, bucket: str, items: list[dict], *, sized: bool, s3_error: Callable[[s3_names.S3Error], str | None]
) -> list[Header]:
    """The headers of a chunk's items ({"key", and "size" when `sized`}), IMPORT_HEADER_THREADS at a time."""

    def read(item: dict) -> Header:
        return header_read(reader, bucket, item["key"], size=item["size"] if sized else None, s3_error=s3_error)

    with ThreadPoolExecutor(max_workers=settings.IMPORT_HEADER_THREADS) as pool:
        return list(pool.map(read, items))
