"""The Ground Truth writer (spec §5.2, §5.3, §5.6): lines as the console exports them, read back alike."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given

from datasets.errors import ErrorCode
from datasets.formats.ground_truth import (
    EntryError,
    ManifestBox,
)
from datasets.formats.ground_truth_writer import write_line

from .support import (
    PROPERTY_SETTINGS,
    SOURCE,
    WHEN,
    codes,
    entries,
    entry_of,
)


def test_a_written_line_has_the_consoles_shape_and_key_order():
    text = write_line(
        source_ref="s3://bucket/a.png",
        labels=["camellia", "with_leaves"],
        boxes=[
            ManifestBox("Echo", 10, 20, 30, 40),
            ManifestBox("Echo Dot", 1, 2, 3, 4),
            ManifestBox("Echo", 700, 2, 3, 4, (EntryError(ErrorCode.ERROR_INVALID_BOUNDING_BOX, "off"),)),
        ],
        image_size=(640, 480),
        errors=[EntryError("ERROR_INVALID_IMAGE", "The image is invalid. Check S3 path and/or image properties.")],
        creation_date=WHEN,
    )
    classification_metadata = (
        '"confidence":1,"job-name":"labeling-job/{0}","class-name":"{0}","human-annotated":"yes",'
        '"creation-date":"2021-07-11T03:32:13.456Z","type":"groundtruth/image-classification"'
    )
    assert text == (
        '{"source-ref":"s3://bucket/a.png",'
        f'"camellia":1,"camellia-metadata":{{{classification_metadata.format("camellia")}}},'
        f'"with_leaves":1,"with_leaves-metadata":{{{classification_metadata.format("with_leaves")}}},'
        '"bounding-box":{"annotations":['
        '{"left":10,"top":20,"width":30,"height":40,"class_id":0},'
        '{"left":1,"top":2,"width":3,"height":4,"class_id":1},'
        '{"left":700,"top":2,"width":3,"height":4,"class_id":0,'
        '"cl-errors":[{"code":"ERROR_INVALID_BOUNDING_BOX","message":"off"}]}],'
        '"image_size":[{"width":640,"height":480,"depth":3}]},'
        '"bounding-box-metadata":{"job-name":"labeling-job/bounding-box","class-map":{"0":"Echo","1":"Echo Dot"},'
        '"human-annotated":"yes","objects":[{"confidence":1},{"confidence":1},{"confidence":1}],'
        '"creation-date":"2021-07-11T03:32:13.456Z","type":"groundtruth/object-detection"},'
        '"cl-metadata":{"is_labeled":true},'
        '"cl-errors":[{"code":"ERROR_INVALID_IMAGE","message":"The image is invalid. Check S3 path and/or image properties."}]}'
    )
    entry = entry_of(text)
    assert entry.labels == ("camellia", "with_leaves")
    assert entry.usable_boxes == (ManifestBox("Echo", 10, 20, 30, 40), ManifestBox("Echo Dot", 1, 2, 3, 4))


def test_the_creation_date_is_written_in_utc_with_milliseconds():
    local = datetime(2021, 7, 11, 5, 32, 13, 456789, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2021, 7, 11, 3, 32, 13, 456789)
    for moment in (local, naive):
        text = write_line(source_ref=SOURCE, labels=["a"], creation_date=moment)
        assert json.loads(text)["a-metadata"]["creation-date"] == "2021-07-11T03:32:13.456Z"


def test_an_unlabeled_image_is_written_as_such_and_reads_back_as_an_unannotated_record():
    text = write_line(source_ref=SOURCE, creation_date=WHEN)
    assert text == '{"source-ref":"s3://bucket/images/a.png","cl-metadata":{"is_labeled":false}}'
    assert codes(entry_of(text).warnings) == [ErrorCode.WARNING_UNANNOTATED_RECORD]


def test_labels_that_cannot_be_attribute_names_get_a_free_label_n_attribute():
    labels = ["source-ref", "x-metadata", "label-0", "cl", "bounding-box", "errors", "123", 'say "hi"', " spaced "]
    text = write_line(
        source_ref=SOURCE,
        labels=labels,
        boxes=[ManifestBox("x-metadata", 1, 1, 5, 5)],
        image_size=(10, 10),
        creation_date=WHEN,
    )
    obj = json.loads(text)
    attributes = [k for k in obj if k.endswith("-metadata") and k != "cl-metadata" and k != "bounding-box-metadata"]
    assert [a.removesuffix("-metadata") for a in attributes] == [
        "label-1", "label-2", "label-0", "label-3", "label-4", "label-5", "123", 'say "hi"', " spaced "
    ]  # fmt: skip
    entry = entry_of(text)
    assert entry.labels == tuple(labels)
    assert entry.boxes == (ManifestBox("x-metadata", 1, 1, 5, 5),)


def test_a_written_line_stays_one_line_whatever_the_label():
    text = write_line(source_ref=SOURCE, labels=["a\nb", "c\u2028d", "e\x85f", "g\u2029h", "i\rj"], creation_date=WHEN)
    assert len(text.splitlines()) == 1
    assert entry_of(text).labels == ("a\nb", "c\u2028d", "e\x85f", "g\u2029h", "i\rj")


def test_boxes_need_the_image_size():
    with pytest.raises(ValueError):
        write_line(source_ref=SOURCE, boxes=[ManifestBox("a", 1, 1, 5, 5)], creation_date=WHEN)


@PROPERTY_SETTINGS
@given(entries())
def test_any_entry_written_and_read_back_keeps_its_source_ref_labels_and_boxes(drawn):
    source_ref, labels, boxes, image_size = drawn
    text = write_line(source_ref=source_ref, labels=labels, boxes=boxes, image_size=image_size, creation_date=WHEN)
    assert len(text.splitlines()) == 1
    entry = entry_of(text)
    assert entry.source_ref == source_ref
    assert set(entry.labels) == set(labels)
    assert [(b.label, b.left, b.top, b.width, b.height) for b in entry.boxes] == [
        (b.label, b.left, b.top, b.width, b.height) for b in boxes
    ]
    assert entry.image_size == (image_size if boxes else None)
