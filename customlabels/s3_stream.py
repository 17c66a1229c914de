"""Streamed reads of whole S3 objects: an object's bytes a block at a time, or its lines, never the
whole object in memory (a manifest file, an export's content). Part of the S3 module: it uses its
client and its error translation."""

from __future__ import annotations

from collections.abc import Iterator

from botocore.exceptions import BotoCoreError, ClientError

from .lines import lines_split
from .s3 import _translate, client

OBJECT_READ_SIZE = 1024 * 1024


def iter_object(bucket: str, key: str, *, read_size: int = OBJECT_READ_SIZE) -> Iterator[bytes]:
    """Yield an object's bytes as they stream in, `read_size` at a time (a megabyte unless asked):
    never the whole object. Raises S3Error subclasses, S3Unreachable when the stream breaks off."""
    try:
        resp = client().get_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, bucket=bucket, key=key) from exc
    body = resp["Body"]
    try:
        while True:
            try:
                block = body.read(read_size)
            except BotoCoreError as exc:
                raise _translate(exc, bucket=bucket, key=key) from exc
            if not block:
                return
            yield block
    finally:
        body.close()


LINE_READ_SIZE = 256 * 1024


def iter_lines(bucket: str, key: str, *, max_line_bytes: int) -> Iterator[bytes]:
    """Yield the lines of an object as it streams in, without their line breaks ("\\n" or "\\r\\n").

    Never holds the whole object: at most one read and one line. A line longer than
    `max_line_bytes` is yielded cut to `max_line_bytes + 1` bytes, so the caller can tell, and the
    rest of it is skipped as it streams past. A final line break does not start another line.
    Raises S3Error subclasses, S3Unreachable when the stream breaks off.
    """
    blocks = iter_object(bucket, key, read_size=LINE_READ_SIZE)
    try:
        yield from lines_split(blocks, max_line_bytes=max_line_bytes)
    finally:
        blocks.close()
