"""customlabels.numbers.int_or_none: the one parser of whole numbers from requests."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from customlabels.numbers import int_or_none


@pytest.mark.parametrize(
    ("value", "number"),
    [("0", 0), ("7", 7), ("0042", 42), ("9" * 18, 10**18 - 1)],
)
def test_ascii_digits_up_to_eighteen_are_read(value, number):
    assert int_or_none(value) == number


@pytest.mark.parametrize(
    "value",
    [None, "", " 1", "1 ", "-1", "+1", "1.0", "1e3", "1_000", "²", "1²", "٣", "１", "9" * 19, "1\x00", 7],
)
def test_anything_else_is_none(value):
    assert int_or_none(value) is None


@given(st.text())
def test_any_text_gives_none_or_a_number_that_fits_a_bigint(value):
    number = int_or_none(value)
    assert number is None or 0 <= number < 2**63
