"""The pure COCO, YOLO, Pascal VOC and CSV readers and writers: each convention, each per-item problem."""

import json

import pytest

from datasets.formats import coco, table, voc, yolo
from datasets.formats.records import NORMALISED_SCALE, Box, ExportImage, FormatError, names_unique

TULIP = ExportImage(
    ref="s3://b/tulip.jpg",
    name="tulip.jpg",
    width=800,
    height=600,
    labels=("flower",),
    boxes=(Box("tulip", 10, 20, 300, 200), Box("red", 400, 300, 120, 90)),
)
EMPTY = ExportImage(ref="s3://b/empty.png", name="empty.png", width=128, height=128)


def test_coco_writes_pixel_xywh_and_reads_back_labels_boxes_and_negatives():
    document = b"".join(coco.coco_write([TULIP, EMPTY], classes=["red", "tulip"], image_folder="images/"))
    parsed = json.loads(document)
    assert [a["bbox"] for a in parsed["annotations"]] == [[10, 20, 300, 200], [400, 300, 120, 90]]
    assert [a["category_id"] for a in parsed["annotations"]] == [2, 1]
    items = coco.coco_read(document)
    assert [i.ref for i in items] == ["s3://b/tulip.jpg", "s3://b/empty.png"]
    assert items[0].labels == ["flower"] and items[0].boxes == list(TULIP.boxes) and items[1].boxes == []


def test_coco_reports_an_unknown_category_and_a_box_outside_the_image():
    document = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {"image_id": 1, "category_id": 9, "bbox": [0, 0, 10, 10]},
            {"image_id": 1, "category_id": 1, "bbox": [95, 0, 10, 10]},
            {"image_id": 1, "category_id": 1, "bbox": [5, 5, 10, 10]},
        ],
    }
    (item,) = coco.coco_read(json.dumps(document).encode())
    assert item.box_errors[0][0][0] == "ERROR_MISSING_CLASS_MAP_ID"
    assert item.box_errors[1][0][0] == "ERROR_INVALID_BOUNDING_BOX"
    assert 2 not in item.box_errors
    with pytest.raises(FormatError, match="no “images” list"):
        coco.coco_read(b'{"annotations": []}')


def test_yolo_writes_normalised_centre_boxes_and_reads_them_in_scale_units():
    text = yolo.label_text(TULIP, {"red": 0, "tulip": 1})
    assert text.splitlines() == ["1 0.200000 0.200000 0.375000 0.333333", "0 0.575000 0.575000 0.150000 0.150000"]
    boxes, errors = yolo.yolo_labels_read(
        text + "7 0.5 0.5 0.1 0.1\n0 0.9 0.5 0.4 0.1\nnot a box\n", names={0: "red", 1: "tulip"}
    )
    assert boxes[0].label == "tulip" and round(boxes[0].left / NORMALISED_SCALE * 800) == 10
    assert [errors[i][0][0] for i in (2, 3, 4)] == [
        "ERROR_MISSING_CLASS_MAP_ID",
        "ERROR_INVALID_BOUNDING_BOX",
        "ERROR_INVALID_BOUNDING_BOX",
    ]
    assert yolo.label_text(EMPTY, {}) == ""  # a negative: an empty label file


def test_yolo_data_yaml_names_and_splits():
    data = yolo.yolo_data_read({"path": "/datasets/x", "train": "images/train", "val": "val.txt", "names": ["a", "b"]})
    assert data.names == {0: "a", 1: "b"} and data.splits == {"train": "./images/train", "val": "./val.txt"}
    assert yolo.label_path_of("set/images/train/x.jpg") == "set/labels/train/x.txt"
    with pytest.raises(FormatError):
        yolo.yolo_data_read({"train": "images"})


def test_voc_writes_corners_and_refuses_entity_expansion():
    item = voc.voc_read(voc.voc_xml(TULIP, folder="JPEGImages"), source="tulip.xml")
    assert item.ref == "s3://b/tulip.jpg" and item.size == (800, 600) and item.labels == ["flower"]
    assert item.boxes == list(TULIP.boxes)
    bomb = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xx">]><annotation><filename>&x;</filename></annotation>'
    with pytest.raises(FormatError):
        voc.voc_read(bomb, source="bomb.xml")


def test_csv_round_trip_and_a_box_that_is_not_numbers():
    text = b"".join(table.csv_write([TULIP, EMPTY])).decode()
    items = table.csv_read(text)
    assert items[0].labels == ["flower"] and items[0].boxes == list(TULIP.boxes)
    assert items[1].ref == "s3://b/empty.png" and not items[1].labels and not items[1].boxes
    (bad,) = table.csv_read("image,label,left,top,box_width,box_height\na.jpg,cat,x,1,2,3\n")
    assert bad.box_errors[0][0][0] == "ERROR_INVALID_BOUNDING_BOX"
    with pytest.raises(FormatError):
        table.csv_read("file,class\n")


def test_unique_names_keep_label_files_apart():
    assert names_unique(["a/x.jpg", "b/X.png", "c/x.jpg"]) == ["x.jpg", "X-2.png", "x-3.jpg"]
