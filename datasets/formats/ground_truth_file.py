"""A whole Ground Truth manifest (spec §5.4, §5.5 lists A and C): the file rules, one line at a time.

Pure, like `ground_truth`: it reads lines through `ground_truth.parse_line` and counts them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ErrorCode
from ..rules import too_many_invalid
from .ground_truth import Blank, Dropped, EntryError, ManifestEntry, parse_line

MAX_LINES = 250_000
MAX_LABELS = 250
MAX_MANIFEST_BYTES = 1024**3


@dataclass(frozen=True)
class FileVerdict:
    """The outcome of a whole manifest. total_lines = valid_entries + ignored_entries + invalid_lines."""

    error: EntryError | None  # the terminal file error, if any
    total_lines: int
    valid_entries: int
    ignored_entries: int  # valid lines with nothing to train on (warnings only)
    invalid_lines: int  # blank, dropped, and entries that are not `is_valid`
    dropped: dict[str, int]  # reason code → lines
    labels: tuple[str, ...]  # every label of the entries, in the order first seen
    bucket: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


class ManifestValidator:
    """The file-level rules of §5.4/§5.5, one line at a time.

    Feed every line of the file in order (a final line break does not start another line), then
    call finish(). `error` holds the first terminal file error as soon as one is known, so an
    import can stop reading; feeding more lines never raises and never replaces it.
    """

    def __init__(self, *, size_bytes: int):
        self.error: EntryError | None = None
        self.total_lines = 0
        self.valid_entries = 0
        self.ignored_entries = 0
        self.invalid_lines = 0
        self.dropped: dict[str, int] = {}
        self.bucket: str | None = None
        self._labels: dict[str, None] = {}
        self._source_refs: set[str] = set()
        if size_bytes > MAX_MANIFEST_BYTES:
            self._fail(ErrorCode.ERROR_MANIFEST_SIZE_TOO_LARGE)

    def _fail(self, code: str) -> None:
        if self.error is None:
            self.error = EntryError.of(code)

    def feed(self, line: str) -> ManifestEntry | Dropped | Blank:
        """Parse the next line and count it. A source-ref seen before gives a Dropped."""
        self.total_lines += 1
        if self.total_lines > MAX_LINES:
            self._fail(ErrorCode.ERROR_MANIFEST_ROWS_EXCEEDS_MAXIMUM)
        result = parse_line(line)
        if isinstance(result, ManifestEntry) and result.source_ref in self._source_refs:
            result = Dropped.of(ErrorCode.ERROR_DUPLICATE_SOURCE_REF)
        if isinstance(result, Dropped):
            self.dropped[result.reason_code] = self.dropped.get(result.reason_code, 0) + 1
            self.invalid_lines += 1
        elif isinstance(result, Blank):
            self.invalid_lines += 1
        else:
            self._source_refs.add(result.source_ref)
            if self.bucket is None:
                self.bucket = result.bucket
            elif result.bucket != self.bucket:
                self._fail(ErrorCode.ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS)
            self._labels.update(dict.fromkeys(result.all_labels))
            if len(self._labels) > MAX_LABELS:
                self._fail(ErrorCode.ERROR_MANIFEST_TOO_MANY_LABELS)
            if not result.is_valid:
                self.invalid_lines += 1
            elif result.is_ignored:
                self.ignored_entries += 1
            else:
                self.valid_entries += 1
        return result

    def finish(self) -> FileVerdict:
        error = self.error
        if error is None and self.total_lines == 0:
            error = EntryError.of(ErrorCode.ERROR_EMPTY_MANIFEST)
        if error is None and too_many_invalid(invalid=self.invalid_lines, total=self.total_lines):
            error = EntryError.of(ErrorCode.ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST)
        return FileVerdict(
            error=error,
            total_lines=self.total_lines,
            valid_entries=self.valid_entries,
            ignored_entries=self.ignored_entries,
            invalid_lines=self.invalid_lines,
            dropped=dict(self.dropped),
            labels=tuple(self._labels),
            bucket=self.bucket,
        )
