"""Splitting a stream of bytes into lines. Pure: no Django, no boto3."""

from collections.abc import Iterable, Iterator


def lines_split(blocks: Iterable[bytes], *, max_line_bytes: int) -> Iterator[bytes]:
    """Yield the lines of a stream of blocks without their line breaks ("\\n" or "\\r\\n").

    Holds at most one block and one line. A line longer than `max_line_bytes` is yielded cut to
    `max_line_bytes + 1` bytes, so the caller can tell, and the rest of it is skipped as it streams
    past. A final line break does not start another line.
    """
    limit = max_line_bytes + 1
    pending, cut = b"", False
    for block in blocks:
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


def _line_end(line: bytes, *, cut: bool, limit: int) -> bytes:
    """The line without its carriage return, or its first `limit` bytes when it is longer than that."""
    if cut or len(line) > limit:
        return line[:limit]
    return line[:-1] if line.endswith(b"\r") else line
