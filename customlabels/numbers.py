"""The one parser for whole numbers that come in a request (ids, positions, indexes).

Pure: no Django import, so every app's views and selectors can use it.
"""

from __future__ import annotations

# Every number of 18 digits fits PostgreSQL's bigint (19 digits may not).
MAX_DIGITS = 18


def int_or_none(value: str | None) -> int | None:
    """The number `value` spells in 1 to 18 ASCII digits, or None for anything else.

    `str.isdigit()` alone is not enough: it accepts "²", which `int()` refuses, and "٣", which
    `int()` reads as 3; and a number longer than bigint would reach the database.
    """
    if not isinstance(value, str) or not 0 < len(value) <= MAX_DIGITS:
        return None
    if not (value.isascii() and value.isdigit()):
        return None
    return int(value)
