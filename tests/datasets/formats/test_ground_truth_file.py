"""The file rules of a Ground Truth manifest (spec §5.4, §5.5 lists A and C)."""

import json

from hypothesis import given
from hypothesis import strategies as st

from datasets.errors import MESSAGES, ErrorCode
from datasets.formats.ground_truth import (
    Blank,
    Dropped,
    EntryError,
    ManifestEntry,
)
from datasets.formats.ground_truth_file import ManifestValidator
from datasets.formats.ground_truth_writer import write_line

from .support import (
    PROPERTY_SETTINGS,
    WHEN,
    any_line,
    boxes_line,
    classification,
    entries,
    line,
)


def label_line(n: int, label: str = "cat", bucket: str = "bucket") -> str:
    return line(source_ref=f"s3://{bucket}/{n}.png", a=(1, classification(label)))


def validate(lines, size_bytes: int = 1000):
    validator = ManifestValidator(size_bytes=size_bytes)
    results = [validator.feed(text) for text in lines]
    return validator.finish(), results


def test_a_manifest_without_lines_is_empty():
    verdict, _ = validate([])
    assert verdict.error == EntryError(ErrorCode.ERROR_EMPTY_MANIFEST, "The manifest file is empty.")
    assert not verdict.ok


def test_a_manifest_over_1_gb_fails_before_a_line_is_read():
    assert ManifestValidator(size_bytes=1024**3).error is None
    validator = ManifestValidator(size_bytes=1024**3 + 1)
    assert validator.error == EntryError(
        ErrorCode.ERROR_MANIFEST_SIZE_TOO_LARGE, "The manifest file size exceeds the maximum supported size."
    )
    validator.feed(label_line(1))
    assert validator.finish().error.code == ErrorCode.ERROR_MANIFEST_SIZE_TOO_LARGE


def test_a_manifest_of_more_than_250000_lines_has_too_many_rows():
    validator = ManifestValidator(size_bytes=1000)
    validator.feed(label_line(0))
    for _ in range(249_999):
        validator.feed("")
    assert validator.error is None
    assert validator.finish().error.code == ErrorCode.ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST
    validator.feed(label_line(1))
    assert validator.error == EntryError(
        ErrorCode.ERROR_MANIFEST_ROWS_EXCEEDS_MAXIMUM, "The manifest file has too many rows."
    )
    assert validator.finish().total_lines == 250_001


def test_a_second_line_for_the_same_source_ref_is_dropped_and_counted():
    verdict, results = validate(
        [label_line(1, "cat"), label_line(1, "dog"), label_line(2)] + [label_line(n) for n in range(3, 10)]
    )
    assert results[0].labels == ("cat",)
    assert results[1] == Dropped(ErrorCode.ERROR_DUPLICATE_SOURCE_REF, MESSAGES[ErrorCode.ERROR_DUPLICATE_SOURCE_REF])
    assert verdict.dropped == {ErrorCode.ERROR_DUPLICATE_SOURCE_REF: 1}
    assert verdict.labels == ("cat",)
    assert verdict.ok and verdict.total_lines == 10 and verdict.invalid_lines == 1


def test_images_from_two_buckets_fail_the_manifest_at_the_first_foreign_image():
    validator = ManifestValidator(size_bytes=1000)
    validator.feed(label_line(1, bucket="bucket-one"))
    validator.feed(label_line(2, bucket="bucket-one"))
    assert validator.error is None
    validator.feed(label_line(3, bucket="bucket-two"))
    assert validator.error == EntryError(
        ErrorCode.ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS, "The manifest file contains images from multiple S3 buckets."
    )
    validator.feed(label_line(4, bucket="bucket-one"))
    verdict = validator.finish()
    assert verdict.error.code == ErrorCode.ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS and verdict.bucket == "bucket-one"


def test_250_labels_are_allowed_and_a_251st_fails_the_manifest():
    lines = [label_line(n, f"label {n}") for n in range(250)]
    verdict, _ = validate(lines)
    assert verdict.ok and len(verdict.labels) == 250
    verdict, _ = validate([*lines, boxes_line([(0, 10, 10, 30, 30)], labels=("one more",))])
    assert verdict.error == EntryError(
        ErrorCode.ERROR_MANIFEST_TOO_MANY_LABELS, "The manifest file has too many labels."
    )


def test_blank_dropped_and_invalid_lines_count_together_towards_20_percent():
    valid = [label_line(n) for n in range(8)]
    bad = ["", "{", json.dumps({"source-ref": "s3://bucket/x.png"})]
    verdict, _ = validate([*valid, bad[0], bad[1]])  # 2 of 10
    assert verdict.ok
    verdict, _ = validate([*valid, *bad])  # 3 of 11
    assert verdict.error == EntryError(
        ErrorCode.ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST, "The manifest file contains too many invalid rows."
    )
    assert (verdict.valid_entries, verdict.invalid_lines, verdict.dropped) == (
        8,
        3,
        {ErrorCode.ERROR_INVALID_JSON_LINE: 1},
    )


def test_ignored_lines_do_not_count_as_invalid():
    ignored = [boxes_line([], size=(640, 480)).replace("a.png", f"{n}.png") for n in range(5)]
    verdict, _ = validate([label_line(0), *ignored])
    assert verdict.ok
    assert (verdict.valid_entries, verdict.ignored_entries, verdict.invalid_lines) == (1, 5, 0)


def test_the_verdict_counts_every_kind_of_line():
    lines = [
        label_line(1, "cat"),
        boxes_line([(1, 10, 10, 30, 30)]).replace("a.png", "2.png"),
        "",
        "x" * 100_001,
        json.dumps({"a": 1}),
        label_line(1),
        json.dumps({"source-ref": "s3://bucket/3.png", "cl-metadata": {"is_labeled": False}}),
        json.dumps({"source-ref": "s3://bucket/4.png"}),
    ]
    verdict, _ = validate(lines)
    assert verdict.total_lines == 8
    assert (verdict.valid_entries, verdict.ignored_entries, verdict.invalid_lines) == (2, 1, 5)
    assert verdict.dropped == {
        ErrorCode.ERROR_JSON_LINE_TOO_LONG: 1,
        ErrorCode.ERROR_MISSING_SOURCE_REF: 1,
        ErrorCode.ERROR_DUPLICATE_SOURCE_REF: 1,
    }
    assert verdict.labels == ("cat", "dog") and verdict.bucket == "bucket"
    assert verdict.error.code == ErrorCode.ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST


@PROPERTY_SETTINGS
@given(st.lists(st.one_of(any_line, entries().map(lambda d: write_line(source_ref=d[0], labels=d[1], boxes=d[2], image_size=d[3], creation_date=WHEN))), max_size=30), st.integers(0, 2 * 1024**3))  # fmt: skip
def test_the_validator_never_raises_and_its_counts_add_up(lines, size_bytes):
    validator = ManifestValidator(size_bytes=size_bytes)
    for text in lines:
        assert isinstance(validator.feed(text), ManifestEntry | Dropped | Blank)
    verdict = validator.finish()
    assert verdict.total_lines == len(lines)
    assert verdict.valid_entries + verdict.ignored_entries + verdict.invalid_lines == verdict.total_lines
    assert sum(verdict.dropped.values()) <= verdict.invalid_lines
    if verdict.ok:
        assert verdict.total_lines and verdict.invalid_lines * 5 <= verdict.total_lines
        assert len(verdict.labels) <= 250 and size_bytes <= 1024**3
    else:
        assert MESSAGES[verdict.error.code] == verdict.error.message
