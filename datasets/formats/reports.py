"""CSV reports, written line by line so a long one streams: an import job's items it did not import."""

import csv
from collections.abc import Iterable, Iterator

IMPORT_REPORT_HEADER = ("item", "code", "reason")

# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """The text of a cell: empty for None, and quoted with a leading ' where a spreadsheet would see a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


class _Echo:
    """A file-like object whose write returns what it was given, so csv.writer yields lines."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[tuple], *, header: tuple = IMPORT_REPORT_HEADER, per_chunk: int = 500) -> Iterator[str]:
    """The header, then each row with its cells made safe, joined into chunks of `per_chunk` lines."""
    writer = csv.writer(_Echo())
    lines = [writer.writerow(header)]
    for row in rows:
        lines.append(writer.writerow([csv_cell(value) for value in row]))
        if len(lines) >= per_chunk:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)
