"""The Ground Truth line parser (spec §5) on every example line and block of the spec."""

import json

import pytest

from datasets.errors import MESSAGES, ErrorCode
from datasets.formats.ground_truth import (
    Dropped,
    EntryError,
    ManifestBox,
    parse_line,
)

from .spec_examples import (
    BB_LINE,
    BOX_TOO_SMALL_EXAMPLE,
    CLASSIFICATION_FORMATTED,
    CLASSIFICATION_LINE,
    DETECTION_FORMATTED,
    DETECTION_LINE,
    MULTI_LABEL_ENTRY,
    MULTI_LABEL_WITH_COMMENTS,
    NO_ANNOTATIONS_EXAMPLE,
    NOT_LINES,
    UNANNOTATED_EXAMPLE,
    UNSUPPORTED_TYPE_EXAMPLE,
)
from .support import (
    entry_of,
)


def strip_comments(text: str) -> str:
    """Remove the docs' `# ...` comments, which are not JSON, leaving strings alone."""
    out, in_string, escaped, comment = [], False, False, False
    for ch in text:
        if comment:
            if ch == "\n":
                comment = False
                out.append(ch)
            continue
        if in_string:
            escaped = ch == "\\" and not escaped
            in_string = not (ch == '"' and not escaped)
        elif ch == '"':
            in_string = True
        elif ch == "#":
            comment = True
            continue
        out.append(ch)
    return "".join(out)


def doc_errors(items) -> list[EntryError]:
    return [EntryError(e["code"], e["message"]) for e in items]


def test_the_one_line_classification_example_gives_its_class_name_as_the_label():
    entry = entry_of(CLASSIFICATION_LINE)
    assert entry.source_ref == "s3://custom-labels-console-us-east-1-nnnnnnnnnn/gt-job/manifest/IMG_1133.png"
    assert (entry.bucket, entry.key) == ("custom-labels-console-us-east-1-nnnnnnnnnn", "gt-job/manifest/IMG_1133.png")
    assert entry.labels == ("Echo Dot",)
    assert entry.boxes == () and entry.image_size is None
    assert entry.errors == () and entry.warnings == ()
    assert entry.is_valid and not entry.is_ignored


def test_the_formatted_classification_example_gives_sunrise():
    entry = entry_of(CLASSIFICATION_FORMATTED)
    assert (entry.bucket, entry.key, entry.labels) == ("bucket", "images/sunrise.png", ("Sunrise",))
    assert entry.errors == ()


def test_the_multi_label_example_is_not_json_with_its_comments():
    assert parse_line(MULTI_LABEL_WITH_COMMENTS) == Dropped(
        ErrorCode.ERROR_INVALID_JSON_LINE, MESSAGES[ErrorCode.ERROR_INVALID_JSON_LINE]
    )


def test_the_multi_label_example_without_comments_is_dropped_for_its_placeholder_source_ref():
    assert parse_line(strip_comments(MULTI_LABEL_WITH_COMMENTS)) == Dropped(
        ErrorCode.ERROR_INVALID_SOURCE_REF_FORMAT, "The format of the source-ref value is invalid."
    )


def test_the_multi_label_example_with_a_real_source_ref_gives_one_label_per_attribute():
    text = strip_comments(MULTI_LABEL_WITH_COMMENTS).replace("S3 bucket location", "s3://bucket/sport/1.jpg")
    entry = entry_of(text)
    assert entry.labels == ("football", "ball")
    assert entry.errors == ()


def test_the_multi_label_entry_of_the_api_gives_every_label_and_cl_metadata_is_no_attribute():
    entry = entry_of(MULTI_LABEL_ENTRY)
    assert entry.bucket == "custom-labels-console-us-east-1-1111111111"
    assert entry.key == "assets/flowers_1_train_dataset/camellia4.jpg"
    assert entry.labels == ("camellia", "with_leaves")
    assert entry.errors == () and entry.warnings == ()


ECHO_BOXES = (ManifestBox("Echo Dot", 399, 251, 155, 101), ManifestBox("Echo", 86, 65, 220, 334))


def test_the_one_line_detection_example_with_tabs_gives_both_boxes():
    assert "\t" in DETECTION_LINE
    entry = entry_of(DETECTION_LINE)
    assert (entry.bucket, entry.key) == ("bucket", "images/IMG_1186.png")
    assert entry.labels == ()
    assert entry.boxes == ECHO_BOXES
    assert entry.image_size == (640, 480)
    assert entry.errors == () and entry.warnings == ()
    assert entry.all_labels == ("Echo Dot", "Echo")


def test_the_formatted_detection_example_gives_the_same_boxes():
    entry = entry_of(DETECTION_FORMATTED)
    assert entry.source_ref == "s3://custom-labels-bucket/images/IMG_1186.png"
    assert entry.boxes == ECHO_BOXES
    assert entry.image_size == (640, 480)
    assert entry.errors == ()


def test_the_update_dataset_entries_example_reads_attribute_bb():
    entry = entry_of(BB_LINE)
    assert entry.key == "image"
    assert entry.image_size == (4000, 2667)
    assert entry.boxes == (
        ManifestBox("comparator", 1849, 1039, 422, 283),
        ManifestBox("pot_resistor", 1849, 1340, 443, 415),
        ManifestBox("ir_phototransistor", 2637, 1380, 676, 338),
        ManifestBox("ir_led", 2634, 1051, 673, 338),
    )
    assert entry.errors == () and entry.is_valid


def test_the_too_small_example_flags_the_1x1_box_as_the_doc_does_and_keeps_the_other():
    entry = entry_of(BOX_TOO_SMALL_EXAMPLE)
    doc = json.loads(BOX_TOO_SMALL_EXAMPLE)
    small, fine = entry.boxes
    assert list(small.errors) == doc_errors(doc["bounding-box"]["annotations"][0]["errors"])
    assert (small.label, small.left, small.top, small.width, small.height) == ("Echo Dot", 0, 0, 1, 1)
    assert fine == ManifestBox("Echo", 86, 65, 220, 334)
    assert entry.usable_boxes == (fine,)
    assert entry.errors == () and entry.is_valid


def test_the_unsupported_type_example_gives_the_docs_errors_word_for_word():
    entry = entry_of(UNSUPPORTED_TYPE_EXAMPLE)
    doc = json.loads(UNSUPPORTED_TYPE_EXAMPLE)
    assert list(entry.errors) == doc_errors(doc["BB-metadata"]["cl-errors"]) + doc_errors(doc["cl-errors"])
    assert entry.boxes == () and entry.labels == ()
    assert not entry.is_valid


def test_the_unannotated_example_gives_its_warning():
    entry = entry_of(UNANNOTATED_EXAMPLE)
    assert list(entry.warnings) == doc_errors(json.loads(UNANNOTATED_EXAMPLE)["warnings"])
    assert entry.errors == ()
    assert entry.is_valid and entry.is_ignored


def test_the_no_annotations_example_gives_both_warnings_word_for_word():
    entry = entry_of(NO_ANNOTATIONS_EXAMPLE)
    doc = json.loads(NO_ANNOTATIONS_EXAMPLE)
    assert list(entry.warnings) == doc_errors(doc["bounding-box"]["warnings"]) + doc_errors(doc["warnings"])
    assert entry.errors == () and entry.image_size == (640, 480)
    assert entry.is_valid and entry.is_ignored


@pytest.mark.parametrize("block", NOT_LINES.values(), ids=NOT_LINES.keys())
def test_doc_blocks_that_are_not_json_even_without_comments_are_dropped(block):
    assert parse_line(block).reason_code == ErrorCode.ERROR_INVALID_JSON_LINE
    assert parse_line(strip_comments(block)).reason_code == ErrorCode.ERROR_INVALID_JSON_LINE
