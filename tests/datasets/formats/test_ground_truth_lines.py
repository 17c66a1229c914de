"""The Ground Truth line parser (spec §5.5 lists B and D): lines the console drops, errors on an entry."""

import json

import pytest
from hypothesis import given

from datasets.errors import MESSAGES, ErrorCode
from datasets.formats.ground_truth import (
    STOPPING_ERROR_CODES,
    Blank,
    Dropped,
    EntryError,
    ManifestBox,
    ManifestEntry,
    parse_line,
)

from .spec_examples import (
    CLASSIFICATION_LINE,
    UNSUPPORTED_TYPE_EXAMPLE,
)
from .support import (
    PROPERTY_SETTINGS,
    SOURCE,
    any_line,
    boxes_line,
    classification,
    codes,
    detection,
    entry_of,
    line,
)

# --- list B: lines the console drops ---------------------------------------------------------


def padded(length: int) -> str:
    text = line(a=(1, classification()))
    return text[:-1] + " " * (length - len(text)) + "}"


def test_a_line_of_100000_characters_is_read_and_a_longer_one_is_dropped():
    assert isinstance(parse_line(padded(100_000)), ManifestEntry)
    assert isinstance(parse_line(padded(100_000) + "\r\n"), ManifestEntry)
    assert parse_line(padded(100_001)) == Dropped(
        ErrorCode.ERROR_JSON_LINE_TOO_LONG,
        "The length of a JSON line is too long. The maximum length is 100,000 characters.",
    )


def test_a_line_without_source_ref_is_dropped():
    obj = json.loads(CLASSIFICATION_LINE)
    obj["source_ref"] = obj.pop("source-ref")
    assert parse_line(json.dumps(obj)) == Dropped(ErrorCode.ERROR_MISSING_SOURCE_REF, "The source-ref key is missing.")


@pytest.mark.parametrize(
    "source_ref",
    [
        "https://bucket.s3.amazonaws.com/images/a.png",
        "S3://bucket/a.png",
        "bucket/a.png",
        "s3://bucket",
        "s3://bucket/",
        "s3:///a.png",
        "s3://Bucket_Name/a.png",
        "s3://b/a.png",
        "s3://bucket..name/a.png",
        " s3://bucket/a.png",
        "s3://bucket/" + "k" * 1025,
        "s3://bucket/a\x00.png",
        "s3://bucket/\ud800.png",
        "",
        5,
        None,
        ["s3://bucket/a.png"],
    ],
)
def test_a_source_ref_not_of_the_form_s3_bucket_key_is_dropped(source_ref):
    obj = {"source-ref": source_ref, "a": 1, "a-metadata": classification()}
    assert parse_line(json.dumps(obj)) == Dropped(
        ErrorCode.ERROR_INVALID_SOURCE_REF_FORMAT, "The format of the source-ref value is invalid."
    )


@pytest.mark.parametrize(
    ("source_ref", "bucket", "key"),
    [
        ("s3://my.bucket-1/a b/ü €.png", "my.bucket-1", "a b/ü €.png"),
        ("s3://bucket/folder/", "bucket", "folder/"),
        ("s3://bucket/" + "é" * 512, "bucket", "é" * 512),
        ("s3://bucket/%20x.png", "bucket", "%20x.png"),
    ],
)
def test_source_ref_bucket_and_key_are_taken_verbatim(source_ref, bucket, key):
    entry = entry_of(json.dumps({"source-ref": source_ref, "a": 1, "a-metadata": classification()}))
    assert (entry.source_ref, entry.bucket, entry.key) == (source_ref, bucket, key)


@pytest.mark.parametrize(
    "text",
    ["{", "}", "not json", "[]", "[{}]", '"s3://bucket/a.png"', "null", "1", '{"source-ref": NaN}',
     '{"a": Infinity}', "{'source-ref': 's3://bucket/a.png'}", '{"a": 1} {"b": 2}', "[" * 60_000,
     '{"n": ' + "9" * 5000 + "}", "\u00a0", "\x00"],
)  # fmt: skip
def test_a_line_that_is_not_a_json_object_is_dropped(text):
    assert parse_line(text) == Dropped(ErrorCode.ERROR_INVALID_JSON_LINE, "The JSON Line has an invalid format.")


@pytest.mark.parametrize("text", ["", "\n", "\r\n", "   ", " \t \r\n"])
def test_empty_and_whitespace_lines_are_blank(text):
    assert parse_line(text) == Blank()


# --- list D: errors on the entry --------------------------------------------------------------


def test_a_line_with_only_a_source_ref_has_no_label_attributes():
    entry = entry_of(json.dumps({"source-ref": SOURCE}))
    assert list(entry.errors) == [EntryError(ErrorCode.ERROR_NO_LABEL_ATTRIBUTES, "No label attributes found.")]
    assert not entry.is_valid


@pytest.mark.parametrize(
    "obj",
    [
        {"sport": 1},  # no metadata
        {"sport-metadata": classification()},  # metadata without its attribute
        {"sport": 1, "sport-metadata": "not an object"},
        {"sport": 1, "Sport-metadata": classification()},  # names are case-sensitive
        {"errors": 1, "errors-metadata": classification()},  # service keys are not attributes
        {"warnings": 1, "warnings-metadata": classification(), "cl-errors": [], "cl-errors-metadata": {}},
        {"cl": 1, "cl-metadata": classification()},  # "cl-metadata" is the service's key
        {"x-metadata": 1, "x-metadata-metadata": classification()},
        {"cl-metadata": {"is_labeled": True}},
    ],
)
def test_keys_without_a_metadata_object_or_reserved_for_the_service_are_no_label_attributes(obj):
    entry = entry_of(json.dumps({"source-ref": SOURCE, **obj}))
    assert codes(entry.errors) == [ErrorCode.ERROR_NO_LABEL_ATTRIBUTES]


@pytest.mark.parametrize(
    ("value", "metadata"),
    [
        ("1", classification()),
        (1.5, classification()),
        (True, classification()),
        (None, classification()),
        ({"annotations": []}, detection([])[1]),  # no image_size
        ({"image_size": [], "annotations": []}, detection([])[1]),
        ({"image_size": [{"width": 640, "height": 480, "depth": 3}] * 2, "annotations": []}, detection([])[1]),
        ({"image_size": [{"width": 640, "height": 480}], "annotations": []}, detection([])[1]),
        ({"image_size": [{"width": 0, "height": 480, "depth": 3}], "annotations": []}, detection([])[1]),
        ({"image_size": [{"width": "640", "height": 480, "depth": 3}], "annotations": []}, detection([])[1]),
        ({**detection([])[0], "annotations": {}}, detection([])[1]),
        ({**detection([])[0], "annotations": [[0, 1, 2, 3, 4]]}, detection([(0, 1, 2, 3, 4)])[1]),
        (
            {**detection([])[0], "annotations": [{"class_id": 0, "left": "1", "top": 2, "width": 30, "height": 40}]},
            detection([(0, 1, 2, 30, 40)])[1],
        ),
        (
            {**detection([])[0], "annotations": [{"class_id": 0, "left": 1.5, "top": 2, "width": 30, "height": 40}]},
            detection([(0, 1, 2, 30, 40)])[1],
        ),
        (
            {**detection([])[0], "annotations": [{"class_id": 0, "top": 2, "width": 30, "height": 40}]},
            detection([(0, 1, 2, 30, 40)])[1],
        ),
        ([1, 2], detection([])[1]),
    ],
)
def test_a_label_attribute_of_the_wrong_shape_has_an_invalid_format(value, metadata):
    entry = entry_of(line(my_attr=(value, metadata)))
    assert list(entry.errors) == [
        EntryError(
            ErrorCode.ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT, "The format of the label attribute my-attr is invalid."
        )
    ]
    assert entry.labels == () and entry.boxes == () and not entry.is_valid


def without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


@pytest.mark.parametrize(
    ("value", "metadata"),
    [
        (1, without(classification(), "type")),
        (1, classification(type=["groundtruth/image-classification"])),
        (1, without(classification(), "class-name")),
        (1, classification(class_name="")),
        (1, classification("")),
        (1, classification(123)),
        (1, classification("a\x00b")),
        (1, without(classification(), "confidence")),
        (1, classification(confidence=1.01)),
        (1, classification(confidence=-0.1)),
        (1, classification(confidence="1")),
        (1, classification(confidence=True)),
        (1, without(classification(), "human-annotated")),
        (1, {**classification(), "human-annotated": "maybe"}),
        (1, {**classification(), "human-annotated": True}),
        (1, without(classification(), "creation-date")),
        (1, {**classification(), "creation-date": "yesterday"}),
        (1, {**classification(), "creation-date": 1600000000}),
        (1, {**classification(), "job-name": 5}),
        (detection([])[0], without(detection([])[1], "objects")),
        (detection([])[0], without(detection([])[1], "class-map")),
        (detection([])[0], {**detection([])[1], "class-map": [["0", "cat"]]}),
        (detection([(0, 1, 2, 30, 40)])[0], {**detection([(0, 1, 2, 30, 40)])[1], "class-map": {"0": 7}}),
        (detection([(0, 1, 2, 30, 40)])[0], {**detection([(0, 1, 2, 30, 40)])[1], "objects": {"confidence": 1}}),
        (detection([(0, 1, 2, 30, 40)])[0], {**detection([(0, 1, 2, 30, 40)])[1], "objects": [1]}),
        (detection([(0, 1, 2, 30, 40)])[0], {**detection([(0, 1, 2, 30, 40)])[1], "objects": [{"confidence": 2}]}),
        (detection([])[0], without(detection([])[1], "creation-date")),
    ],
)
def test_label_attribute_metadata_of_the_wrong_shape_has_an_invalid_format(value, metadata):
    entry = entry_of(line(a=(value, metadata)))
    assert list(entry.errors) == [
        EntryError(
            ErrorCode.ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT,
            "The format of the label attribute metadata is invalid.",
        )
    ]
    assert entry.labels == () and entry.boxes == () and not entry.is_valid


@pytest.mark.parametrize("created", ["2020-04-15T20:17:23.433061", "2021-06-22T10:11:18.006Z", "2013-11-18 02:53:27"])
def test_every_creation_date_form_of_the_docs_is_accepted(created):
    assert entry_of(line(a=(1, {**classification(), "creation-date": created}))).labels == ("cat",)


def test_job_name_is_optional_and_human_annotated_may_be_no():
    metadata = {**without(classification(), "job-name"), "human-annotated": "no"}
    assert entry_of(line(a=(1, metadata))).errors == ()


@pytest.mark.parametrize(
    "objects", [[{"confidence": 1}], [{"confidence": 1}, {"confidence": 1}, {"confidence": 1}], [{"confidence": 1}, {}]]
)
def test_objects_must_give_one_confidence_per_annotation(objects):
    value, metadata = detection([(0, 10, 10, 30, 30), (1, 50, 50, 30, 30)])
    entry = entry_of(line(bounding_box=(value, {**metadata, "objects": objects})))
    assert list(entry.errors) == [
        EntryError(
            ErrorCode.ERROR_MISSING_BOUNDING_BOX_CONFIDENCE,
            "One or more bounding boxes has a missing confidence value.",
        )
    ]
    assert entry.boxes == ()


def test_an_annotation_whose_class_id_is_not_in_the_class_map_fails_the_line():
    entry = entry_of(boxes_line([(0, 10, 10, 30, 30), (2, 50, 50, 30, 30)]))
    assert list(entry.errors) == [
        EntryError(ErrorCode.ERROR_MISSING_CLASS_MAP_ID, "One of more class ids is missing from the class map.")
    ]
    assert entry.boxes == () and not entry.is_valid


def test_the_first_error_of_the_precedence_list_stops_the_line_whatever_attribute_has_it():
    bad_metadata = (1, without(classification(), "type"))
    bad_format = ("x", classification("dog"))
    missing_id = detection([(5, 10, 10, 30, 30)])
    unsupported = (1, classification(type="groundtruth/wrongtype"))
    entry = entry_of(line(a=missing_id, b=bad_metadata, c=unsupported, d=bad_format, e=(1, classification())))
    assert list(entry.errors) == [
        EntryError(ErrorCode.ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT, "The format of the label attribute d is invalid.")
    ]
    assert entry.labels == () and entry.boxes == () and entry.image_size is None


def test_an_unsupported_type_names_its_metadata_and_leaves_no_valid_attribute():
    entry = entry_of(line(my_job=(1, classification(type="groundtruth/semantic-segmentation"))))
    assert list(entry.errors) == [
        EntryError(
            ErrorCode.ERROR_UNSUPPORTED_USE_CASE_TYPE,
            "The use case type of the my-job-metadata label attribute metadata is unsupported. Check the type field.",
        ),
        EntryError(ErrorCode.ERROR_NO_VALID_LABEL_ATTRIBUTES, "No valid label attributes found."),
    ]
    assert not entry.is_valid


def test_an_unsupported_attribute_beside_a_valid_one_leaves_the_line_usable():
    entry = entry_of(line(a=(1, classification(type="groundtruth/wrongtype")), b=(1, classification("dog"))))
    assert codes(entry.errors) == [ErrorCode.ERROR_UNSUPPORTED_USE_CASE_TYPE]
    assert entry.labels == ("dog",)
    assert entry.is_valid


def test_every_label_attribute_of_a_line_is_taken_classification_and_detection_alike():
    entry = entry_of(
        line(
            a=(1, classification("cat")),
            bounding_box=detection([(1, 10, 10, 30, 30)]),
            b=(0, classification("cat")),
            c=(7, classification("outdoor")),
            boxes2=detection([(0, 5, 5, 20, 20)], size=(100, 80), labels=("bird",)),
        )
    )
    assert entry.labels == ("cat", "outdoor")
    assert entry.boxes == (ManifestBox("dog", 10, 10, 30, 30), ManifestBox("bird", 5, 5, 20, 20))
    assert entry.image_size == (640, 480)
    assert entry.all_labels == ("cat", "outdoor", "dog", "bird")
    assert entry.errors == ()


@pytest.mark.parametrize(
    "box",
    [
        (0, 600, 10, 41, 30),  # past the right edge
        (0, 10, 460, 30, 21),  # past the bottom
        (0, -1, 10, 30, 30),
        (0, 10, -5, 30, 30),
        (0, 10, 10, -30, 30),
        (0, 700, 500, 30, 30),
    ],
)
def test_a_box_off_the_image_frame_is_reported_and_unusable(box):
    entry = entry_of(boxes_line([box, (1, 0, 0, 640, 480)]))
    bad, whole = entry.boxes
    assert list(bad.errors) == [
        EntryError(ErrorCode.ERROR_INVALID_BOUNDING_BOX, "The bounding box has off frame values.")
    ]
    assert bad.left == box[1] and bad.label == "cat"
    assert whole.errors == ()
    assert entry.usable_boxes == (whole,)
    assert entry.errors == () and entry.is_valid


@pytest.mark.parametrize(
    ("size", "width", "height", "small"),
    [
        ((640, 480), 1, 30, True),
        ((640, 480), 30, 1, True),
        ((640, 480), 2, 2, False),
        ((1280, 1280), 2, 2, False),  # 1280 is not resized
        ((2560, 1000), 2, 100, True),  # halved: 1 px
        ((2560, 1000), 3, 100, False),  # halved: 1.5 px
        ((3000, 3000), 2, 2, True),
        ((3000, 3000), 3, 3, False),
        ((1000, 4000), 100, 3, True),  # 3 × 1280/4000 = 0.96
        ((1000, 4000), 100, 4, False),
    ],
)
def test_a_box_of_1_px_or_less_after_the_resize_to_1280_px_is_too_small(size, width, height, small):
    entry = entry_of(boxes_line([(0, 0, 0, width, height), (1, 0, 0, 100, 100)], size=size))
    expected = [
        EntryError(ErrorCode.ERROR_BOUNDING_BOX_TOO_SMALL, "The height and width of the bounding box is too small.")
    ]
    assert list(entry.boxes[0].errors) == (expected if small else [])
    assert entry.errors == ()


def test_a_box_on_the_edges_of_the_image_is_inside_it():
    entry = entry_of(boxes_line([(0, 0, 0, 640, 480), (1, 638, 478, 2, 2)]))
    assert all(not box.errors for box in entry.boxes)


def test_more_than_50_usable_boxes_flag_the_image_and_every_box_is_kept():
    fifty = [(0, i, i, 10, 10) for i in range(50)]
    assert entry_of(boxes_line(fifty)).errors == ()
    entry = entry_of(boxes_line([*fifty, (1, 100, 100, 10, 10)]))
    assert list(entry.errors) == [
        EntryError(ErrorCode.ERROR_TOO_MANY_BOUNDING_BOXES, "There are more bounding boxes than the allowed maximum.")
    ]
    assert len(entry.boxes) == 51 and not entry.is_valid
    assert entry_of(boxes_line([*fifty, (1, 700, 100, 10, 10)])).errors == ()  # the 51st is off frame


def test_boxes_of_several_attributes_count_together_towards_50():
    entry = entry_of(
        line(a=detection([(0, i, i, 10, 10) for i in range(30)]), b=detection([(1, i, i, 10, 10) for i in range(21)]))
    )
    assert codes(entry.errors) == [ErrorCode.ERROR_TOO_MANY_BOUNDING_BOXES]


def test_an_attribute_whose_boxes_are_all_invalid_has_no_valid_annotations():
    entry = entry_of(boxes_line([(0, 700, 10, 30, 30), (1, 10, 10, 1, 1)]))
    assert list(entry.errors) == [
        EntryError(ErrorCode.ERROR_NO_VALID_ANNOTATIONS, "No valid annotations found."),
        EntryError(ErrorCode.ERROR_NO_VALID_LABEL_ATTRIBUTES, "No valid label attributes found."),
    ]
    assert len(entry.boxes) == 2 and not entry.is_valid


def test_invalid_boxes_beside_an_image_level_label_leave_the_line_usable():
    entry = entry_of(line(a=(1, classification()), bounding_box=detection([(0, 700, 10, 30, 30)])))
    assert codes(entry.errors) == [ErrorCode.ERROR_NO_VALID_ANNOTATIONS]
    assert entry.labels == ("cat",) and entry.is_valid


def test_a_class_name_of_255_characters_is_a_label_and_of_256_an_error():
    assert entry_of(line(a=(1, classification("x" * 255)))).labels == ("x" * 255,)
    entry = entry_of(line(a=(1, classification("x" * 256))))
    assert codes(entry.errors) == [ErrorCode.ERROR_INVALID_LABEL_NAME_LENGTH, ErrorCode.ERROR_NO_VALID_LABEL_ATTRIBUTES]
    assert entry.errors[0].message == MESSAGES[ErrorCode.ERROR_INVALID_LABEL_NAME_LENGTH]
    assert entry.labels == ()


def test_a_box_whose_class_name_is_too_long_is_unusable_and_the_line_says_why():
    entry = entry_of(boxes_line([(0, 10, 10, 30, 30), (1, 50, 50, 30, 30)], labels=("y" * 256, "dog")))
    assert codes(entry.boxes[0].errors) == [ErrorCode.ERROR_INVALID_LABEL_NAME_LENGTH]
    assert entry.usable_boxes == (ManifestBox("dog", 50, 50, 30, 30),)
    assert codes(entry.errors) == [ErrorCode.ERROR_INVALID_LABEL_NAME_LENGTH]
    assert entry.is_valid


def test_a_line_the_console_marked_unlabeled_is_an_unannotated_record():
    entry = entry_of(json.dumps({"source-ref": SOURCE, "cl-metadata": {"is_labeled": False}}))
    assert list(entry.warnings) == [EntryError(ErrorCode.WARNING_UNANNOTATED_RECORD, "Record is unannotated.")]
    assert entry.errors == () and entry.is_ignored


@pytest.mark.parametrize("annotations", [[], None])
def test_a_bounding_box_attribute_without_annotations_is_valid_but_ignored(annotations):
    value, metadata = detection([])
    if annotations is None:
        del value["annotations"]
    entry = entry_of(line(bounding_box=(value, metadata)))
    assert codes(entry.warnings) == [ErrorCode.WARNING_NO_ATTRIBUTE_ANNOTATIONS, ErrorCode.WARNING_NO_ANNOTATIONS]
    assert entry.errors == () and entry.is_ignored


def test_an_empty_bounding_box_attribute_beside_a_label_only_warns_about_the_attribute():
    entry = entry_of(line(a=(1, classification()), bounding_box=detection([])))
    assert codes(entry.warnings) == [ErrorCode.WARNING_NO_ATTRIBUTE_ANNOTATIONS]
    assert entry.labels == ("cat",) and not entry.is_ignored


def test_error_keys_of_an_exported_line_are_not_read_back():
    obj = json.loads(UNSUPPORTED_TYPE_EXAMPLE)
    obj["BB-metadata"]["type"] = "groundtruth/object-detection"
    del obj["BB-metadata"]["cl-errors"]
    entry = entry_of(json.dumps(obj))
    assert entry.errors == () and len(entry.boxes) == 4


LINE_CODES = set(MESSAGES)


@PROPERTY_SETTINGS
@given(any_line)
def test_parse_line_never_raises_and_always_answers_an_entry_a_dropped_or_a_blank(text):
    result = parse_line(text)
    assert isinstance(result, ManifestEntry | Dropped | Blank)
    if isinstance(result, Dropped):
        assert result.reason_code in LINE_CODES
    if isinstance(result, ManifestEntry):
        problems = [*result.errors, *result.warnings, *(e for box in result.boxes for e in box.errors)]
        assert {e.code for e in problems} <= LINE_CODES
        if set(codes(result.errors)) & set(STOPPING_ERROR_CODES):
            assert len(result.errors) == 1 and result.labels == () and result.boxes == ()
        assert result.is_valid or result.errors
