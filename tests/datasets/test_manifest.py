"""The Ground Truth manifest parser, validator and writer (spec §5), on every example line of the spec.

The spec's examples are copied exactly, trailing spaces and TABs included, hence the file-wide noqa.
"""
# ruff: noqa: W291, W293

import json
import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datasets.formats import ground_truth as m
from datasets.formats.ground_truth import (
    MESSAGES,
    Blank,
    Dropped,
    EntryError,
    ManifestBox,
    ManifestEntry,
    parse_line,
)
from datasets.formats.ground_truth_file import ManifestValidator
from datasets.formats.ground_truth_writer import write_line

# --- the spec's examples, word for word -----------------------------------------------------

CLASSIFICATION_LINE = '{"source-ref":"s3://custom-labels-console-us-east-1-nnnnnnnnnn/gt-job/manifest/IMG_1133.png","TestCLConsoleBucket":0,"TestCLConsoleBucket-metadata":{"confidence":0.95,"job-name":"labeling-job/testclconsolebucket","class-name":"Echo Dot","human-annotated":"yes","creation-date":"2020-04-15T20:17:23.433061","type":"groundtruth/image-classification"}}'

CLASSIFICATION_FORMATTED = """\
{
    "source-ref": "s3://bucket/images/sunrise.png",
    "testdataset-classification_Sunrise": 1,
    "testdataset-classification_Sunrise-metadata": {
        "confidence": 1,
        "job-name": "labeling-job/testdataset-classification_Sunrise",
        "class-name": "Sunrise",
        "human-annotated": "yes",
        "creation-date": "2020-03-06T17:46:39.176",
        "type": "groundtruth/image-classification"
    }
}
"""

MULTI_LABEL_WITH_COMMENTS = """\
{
    "source-ref": "S3 bucket location", 
    "sport0":0, # FIRST label
    "sport0-metadata": { 
        "class-name": "football", 
        "confidence": 0.8, 
        "type":"groundtruth/image-classification", 
        "job-name": "identify-sport", 
        "human-annotated": "yes", 
        "creation-date": "2018-10-18T22:18:13.527256" 
    },
    "sport1":1, # SECOND label
    "sport1-metadata": { 
        "class-name": "ball", 
        "confidence": 0.8, 
        "type":"groundtruth/image-classification", 
        "job-name": "identify-sport", 
        "human-annotated": "yes", 
        "creation-date": "2018-10-18T22:18:13.527256" 
    }
}  # end of annotations for 1 image
"""

MULTI_LABEL_ENTRY = '{"source-ref":"s3://custom-labels-console-us-east-1-1111111111/assets/flowers_1_train_dataset/camellia4.jpg","camellia":1,"camellia-metadata":{"confidence":1,"job-name":"labeling-job/camellia","class-name":"camellia","human-annotated":"yes","creation-date":"2021-07-11T03:32:13.456Z","type":"groundtruth/image-classification"},"with_leaves":1,"with_leaves-metadata":{"confidence":1,"job-name":"labeling-job/with_leaves","class-name":"with_leaves","human-annotated":"yes","creation-date":"2021-07-11T03:32:13.456Z","type":"groundtruth/image-classification"},"cl-metadata":{"is_labeled":true}}'

DETECTION_LINE = '{"source-ref": "s3://bucket/images/IMG_1186.png", "bounding-box": {"image_size": [{"width": 640, "height": 480, "depth": 3}], "annotations": [{ "class_id": 1,	"top": 251,	"left": 399, "width": 155, "height": 101}, {"class_id": 0, "top": 65, "left": 86, "width": 220,	"height": 334}]}, "bounding-box-metadata": {"objects": [{ "confidence": 1}, {"confidence": 1}],	"class-map": {"0": "Echo",	"1": "Echo Dot"}, "type": "groundtruth/object-detection", "human-annotated": "yes",	"creation-date": "2013-11-18T02:53:27", "job-name": "my job"}}'

DETECTION_FORMATTED = """\
{
	"source-ref": "s3://custom-labels-bucket/images/IMG_1186.png",
	"bounding-box": {
		"image_size": [{
			"width": 640,
			"height": 480,
			"depth": 3
		}],
		"annotations": [{
			"class_id": 1,
			"top": 251,
			"left": 399,
			"width": 155,
			"height": 101
		}, {
			"class_id": 0,
			"top": 65,
			"left": 86,
			"width": 220,
			"height": 334
		}]
	},
	"bounding-box-metadata": {
		"objects": [{
			"confidence": 1
		}, {
			"confidence": 1
		}],
		"class-map": {
			"0": "Echo",
			"1": "Echo Dot"
		},
		"type": "groundtruth/object-detection",
		"human-annotated": "yes",
		"creation-date": "2013-11-18T02:53:27",
		"job-name": "my job"
	}
}
"""

BB_LINE = '{"source-ref":"s3://bucket/image","BB":{"annotations":[{"left":1849,"top":1039,"width":422,"height":283,"class_id":0},{"left":1849,"top":1340,"width":443,"height":415,"class_id":1},{"left":2637,"top":1380,"width":676,"height":338,"class_id":2},{"left":2634,"top":1051,"width":673,"height":338,"class_id":3}],"image_size":[{"width":4000,"height":2667,"depth":3}]},"BB-metadata":{"job-name":"labeling-job/BB","class-map":{"0":"comparator","1":"pot_resistor","2":"ir_phototransistor","3":"ir_led"},"human-annotated":"yes","objects":[{"confidence":1},{"confidence":1},{"confidence":1},{"confidence":1}],"creation-date":"2021-06-22T10:11:18.006Z","type":"groundtruth/object-detection"}}'

IMAGE_LEVEL_SCHEMA_SKETCH = """\
{
    "source-ref": String,
    "sport": Number,
    "sport-metadata": {
        "class-name": String,
        "confidence": Float,
        "type": String,
        "job-name": String,
        "human-annotated": String,
        "creation-date": String,
        "errors": [
            {
                "code": String, # error codes for label
                "message": String # Description and additional contextual details of the error
            }
        ] 
    },
    "errors": [
        {
            "code": String, # error codes for image
            "message": String # Description and additional contextual details of the error
        }
    ]
}
"""

OBJECT_LOCALIZATION_SCHEMA_SKETCH = """\
{
    "source-ref": String,
    "bounding-box": {
        "image_size": [
            {
                "width": Int,
                "height": Int,
                "depth":Int,
            }
        ],
        "annotations": [
            {
                "class_id": Int,
                "left": Int,
                "top": Int,
                "width": Int,
                "height": Int,
                "errors": [   # annotation field errors
                    {
                        "code": String, # annotation field error code
                        "message": String # Description and additional contextual details of the error
                    }
                ]
            }
        ],
        "errors": [ #label attribute field errors
            {
                "code": String, # error code
                "message": String # Description and additional contextual details of the error
            }
        ] 
    },
    "bounding-box-metadata": {
        "objects": [
            {
                "confidence": Float
            }
        ],
        "class-map": {
            String: String
        }, 
        "type": String,
        "human-annotated": String,
        "creation-date": String,
        "job-name": String,
        "errors": [  #metadata field errors
            {
                "code": String, # error code
                "message": String # Description and additional contextual details of the error
            }
        ] 
    },
   "errors": [  # image errors
        {
            "code": String, # error code
            "message": String # Description and additional contextual details of the error
        }
    ] 
 }
"""

BOX_TOO_SMALL_EXAMPLE = """\
{
    "source-ref": "s3://bucket/Manifests/images/199940-1791.jpg",
    "bounding-box": {
        "image_size": [
            {
                "width": 3000,
                "height": 3000,
                "depth": 3
            }
        ],
        "annotations": [
            {
                "class_id": 1,
                "top": 0,
                "left": 0,
                "width": 1,
                "height": 1, 
                "errors": [
                    {
                        "code": "ERROR_BOUNDING_BOX_TOO_SMALL",
                        "message": "The height and width of the bounding box is too small."
                    }
                ]
            },
            {
                "class_id": 0,
                "top": 65,
                "left": 86,
                "width": 220,
                "height": 334
            }
        ]
    },
    "bounding-box-metadata": {
        "objects": [
            {
                "confidence": 1
            },
            {
                "confidence": 1
            }
        ],
        "class-map": {
            "0": "Echo",
            "1": "Echo Dot"
        },
        "type": "groundtruth/object-detection",
        "human-annotated": "yes",
        "creation-date": "2019-11-20T02:57:28.288286",
        "job-name": "my job"
    }
}
"""

UNSUPPORTED_TYPE_EXAMPLE = """\
{
    "source-ref": "s3://bucket/test_normal_8.jpg",
    "BB": {
        "annotations": [
            {
                "left": 1768,
                "top": 1007,
                "width": 448,
                "height": 295,
                "class_id": 0
            },
            {
                "left": 1794,
                "top": 1306,
                "width": 432,
                "height": 411,
                "class_id": 1
            },
            {
                "left": 2568,
                "top": 1346,
                "width": 710,
                "height": 305,
                "class_id": 2
            },
            {
                "left": 2571,
                "top": 1020,
                "width": 644,
                "height": 312,
                "class_id": 3
            }
        ],
        "image_size": [
            {
                "width": 4000,
                "height": 2667,
                "depth": 3
            }
        ]
    },
    "BB-metadata": {
        "job-name": "labeling-job/BB",
        "class-map": {
            "0": "comparator",
            "1": "pot_resistor",
            "2": "ir_phototransistor",
            "3": "ir_led"
        },
        "human-annotated": "yes",
        "objects": [
            {
                "confidence": 1
            },
            {
                "confidence": 1
            },
            {
                "confidence": 1
            },
            {
                "confidence": 1
            }
        ],
        "creation-date": "2021-06-22T09:58:34.811Z",
        "type": "groundtruth/wrongtype",
        "cl-errors": [
            {
                "code": "ERROR_UNSUPPORTED_USE_CASE_TYPE",
                "message": "The use case type of the BB-metadata label attribute metadata is unsupported. Check the type field."
            }
        ]
    },
    "cl-metadata": {
        "is_labeled": true
    },
    "cl-errors": [
        {
            "code": "ERROR_NO_VALID_LABEL_ATTRIBUTES",
            "message": "No valid label attributes found."
        }
    ]
}
"""

UNANNOTATED_EXAMPLE = """\
{
    "source-ref": "s3://bucket/images/IMG_1186.png",
    "warnings": [
        {
            "code": "WARNING_UNANNOTATED_RECORD",
            "message": "Record is unannotated."
        } 
    ]
}
"""

NO_ANNOTATIONS_EXAMPLE = """\
{
    "source-ref": "s3://bucket/images/IMG_1186.png",
    "bounding-box": {
        "image_size": [
            {
                "width": 640,
                "height": 480,
                "depth": 3
            }
        ],
        "annotations": [
           
        ],
        "warnings": [
            {
                "code": "WARNING_NO_ATTRIBUTE_ANNOTATIONS",
                "message": "No attribute annotations were found."
            }
        ]
    },
    "bounding-box-metadata": {
        "objects": [
           
        ],
        "class-map": {
           
        },
        "type": "groundtruth/object-detection",
        "human-annotated": "yes",
        "creation-date": "2013-11-18 02:53:27",
        "job-name": "my job"
    },
    "warnings": [
        {
            "code": "WARNING_NO_ANNOTATIONS",
            "message": "No annotations were found."
        } 
    ]
}
"""

SUMMARY_FORMAT = """\
{
    "statistics": {
        "training": 
            {
                "use_case": String, # Possible values are IMAGE_LEVEL_LABELS, OBJECT_LOCALIZATION and NOT_DETERMINED
                "total_json_lines": Number,   # Total number json lines (images) in the  training manifest.
                "valid_json_lines": Number,   # Total number of JSON Lines (images) that can be used for training.
                "invalid_json_lines": Number, # Total number of invalid JSON Lines. They are not used for training.
                "ignored_json_lines": Number, # JSON Lines that have a valid schema but have no annotations. The aren't used for training and aren't counted as invalid.
                "error_json_line_indices": List[int], # Contains a list of line numbers for JSON line errors in the training dataset.
                "errors": [
                    {
                        "code": String, # Error code for a training manifest content error.
                        "message": String # Description for a training manifest content error.
                    }
                ]
            },
        "testing": 
            {
                "use_case": String, # Possible values are IMAGE_LEVEL_LABELS, OBJECT_LOCALIZATION and NOT_DETERMINED
                "total_json_lines": Number, # Total number json lines (images) in the manifest.
                "valid_json_lines": Number,  # Total number of JSON Lines (images) that can be used for testing.
                "invalid_json_lines": Number, # Total number of invalid JSON Lines. They are not used for testing.
                "ignored_json_lines": Number, # JSON Lines that have a valid schema but have no annotations. They aren't used for testing and aren't counted as invalid.
                "error_json_line_indices": List[int], # contains a list of error record line numbers in testing dataset.
                "errors": [
                    {
                        "code": String,   # # Error code for a testing manifest content error.
                        "message": String # Description for a testing manifest content error.
                    }
                ]  
            }
    },
    "errors": [
        {
            "code": String, # # Error code for errors that span the training and testing datasets.
            "message": String # Description of the error.
        }
    ]
}
"""

SUMMARY_EXAMPLE = """\
{
    "errors": [],
    "statistics": {
        "training": {
            "use_case": "NOT_DETERMINED",
            "total_json_lines": 301,
            "valid_json_lines": 146,
            "invalid_json_lines": 155,
            "ignored_json_lines": 0,
            "errors": [
                {
                    "code": "ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST",
                    "message": "The manifest file contains too many invalid rows."
                }
            ],
            "error_json_line_indices": [ 
                15,
                16,
                17,
                22,
                23,
                24,
                 .
                 .
                 .
                 .                 
                300
            ]
        },
        "testing": {
            "use_case": "NOT_DETERMINED",
            "total_json_lines": 15,
            "valid_json_lines": 13,
            "invalid_json_lines": 2,
            "ignored_json_lines": 0,
            "errors": [],
            "error_json_line_indices": [ 
                13,
                15
            ]
        }
    }
}
"""

NOT_LINES = {
    "image-level schema sketch (§5.6)": IMAGE_LEVEL_SCHEMA_SKETCH,
    "object-localization schema sketch (§5.6)": OBJECT_LOCALIZATION_SCHEMA_SKETCH,
    "manifest summary format (§5.7)": SUMMARY_FORMAT,
    "manifest summary example (§5.7)": SUMMARY_EXAMPLE,
}


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


def codes(errors) -> list[str]:
    return [e.code for e in errors]


def doc_errors(items) -> list[EntryError]:
    return [EntryError(e["code"], e["message"]) for e in items]


def entry_of(line: str) -> ManifestEntry:
    result = parse_line(line)
    assert isinstance(result, ManifestEntry), result
    return result


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
        m.ERROR_INVALID_JSON_LINE, MESSAGES[m.ERROR_INVALID_JSON_LINE]
    )


def test_the_multi_label_example_without_comments_is_dropped_for_its_placeholder_source_ref():
    assert parse_line(strip_comments(MULTI_LABEL_WITH_COMMENTS)) == Dropped(
        m.ERROR_INVALID_SOURCE_REF_FORMAT, "The format of the source-ref value is invalid."
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
    assert parse_line(block).reason_code == m.ERROR_INVALID_JSON_LINE
    assert parse_line(strip_comments(block)).reason_code == m.ERROR_INVALID_JSON_LINE


# --- building lines --------------------------------------------------------------------------

SOURCE = "s3://bucket/images/a.png"
DATE = "2021-06-22T10:11:18.006Z"


def classification(class_name: str = "cat", **metadata) -> dict:
    return {
        "confidence": 1,
        "job-name": "labeling-job/x",
        "class-name": class_name,
        "human-annotated": "yes",
        "creation-date": DATE,
        "type": "groundtruth/image-classification",
        **metadata,
    }


def detection(boxes, *, size=(640, 480), labels=("cat", "dog")) -> tuple[dict, dict]:
    """A bounding-box attribute and its metadata; boxes are (class_id, left, top, width, height)."""
    value = {
        "image_size": [{"width": size[0], "height": size[1], "depth": 3}],
        "annotations": [dict(zip(("class_id", "left", "top", "width", "height"), b, strict=True)) for b in boxes],
    }
    metadata = {
        "objects": [{"confidence": 1} for _ in boxes],
        "class-map": {str(i): name for i, name in enumerate(labels)},
        "type": "groundtruth/object-detection",
        "human-annotated": "yes",
        "creation-date": DATE,
        "job-name": "my job",
    }
    return value, metadata


def line(**attributes) -> str:
    """A line from keyword attributes: name=(value, metadata); source_ref=... overrides the source."""
    obj = {"source-ref": attributes.pop("source_ref", SOURCE)}
    for name, (value, metadata) in attributes.items():
        obj[name.replace("_", "-")] = value
        obj[name.replace("_", "-") + "-metadata"] = metadata
    return json.dumps(obj)


def boxes_line(boxes, **kwargs) -> str:
    return line(bounding_box=detection(boxes, **kwargs))


# --- list B: lines the console drops ---------------------------------------------------------


def padded(length: int) -> str:
    text = line(a=(1, classification()))
    return text[:-1] + " " * (length - len(text)) + "}"


def test_a_line_of_100000_characters_is_read_and_a_longer_one_is_dropped():
    assert isinstance(parse_line(padded(100_000)), ManifestEntry)
    assert isinstance(parse_line(padded(100_000) + "\r\n"), ManifestEntry)
    assert parse_line(padded(100_001)) == Dropped(
        m.ERROR_JSON_LINE_TOO_LONG, "The length of a JSON line is too long. The maximum length is 100,000 characters."
    )


def test_a_line_without_source_ref_is_dropped():
    obj = json.loads(CLASSIFICATION_LINE)
    obj["source_ref"] = obj.pop("source-ref")
    assert parse_line(json.dumps(obj)) == Dropped(m.ERROR_MISSING_SOURCE_REF, "The source-ref key is missing.")


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
        m.ERROR_INVALID_SOURCE_REF_FORMAT, "The format of the source-ref value is invalid."
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
    assert parse_line(text) == Dropped(m.ERROR_INVALID_JSON_LINE, "The JSON Line has an invalid format.")


@pytest.mark.parametrize("text", ["", "\n", "\r\n", "   ", " \t \r\n"])
def test_empty_and_whitespace_lines_are_blank(text):
    assert parse_line(text) == Blank()


# --- list D: errors on the entry --------------------------------------------------------------


def test_a_line_with_only_a_source_ref_has_no_label_attributes():
    entry = entry_of(json.dumps({"source-ref": SOURCE}))
    assert list(entry.errors) == [EntryError(m.ERROR_NO_LABEL_ATTRIBUTES, "No label attributes found.")]
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
    assert codes(entry.errors) == [m.ERROR_NO_LABEL_ATTRIBUTES]


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
        EntryError(m.ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT, "The format of the label attribute my-attr is invalid.")
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
            m.ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT, "The format of the label attribute metadata is invalid."
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
            m.ERROR_MISSING_BOUNDING_BOX_CONFIDENCE, "One or more bounding boxes has a missing confidence value."
        )
    ]
    assert entry.boxes == ()


def test_an_annotation_whose_class_id_is_not_in_the_class_map_fails_the_line():
    entry = entry_of(boxes_line([(0, 10, 10, 30, 30), (2, 50, 50, 30, 30)]))
    assert list(entry.errors) == [
        EntryError(m.ERROR_MISSING_CLASS_MAP_ID, "One of more class ids is missing from the class map.")
    ]
    assert entry.boxes == () and not entry.is_valid


def test_the_first_error_of_the_precedence_list_stops_the_line_whatever_attribute_has_it():
    bad_metadata = (1, without(classification(), "type"))
    bad_format = ("x", classification("dog"))
    missing_id = detection([(5, 10, 10, 30, 30)])
    unsupported = (1, classification(type="groundtruth/wrongtype"))
    entry = entry_of(line(a=missing_id, b=bad_metadata, c=unsupported, d=bad_format, e=(1, classification())))
    assert list(entry.errors) == [
        EntryError(m.ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT, "The format of the label attribute d is invalid.")
    ]
    assert entry.labels == () and entry.boxes == () and entry.image_size is None


def test_an_unsupported_type_names_its_metadata_and_leaves_no_valid_attribute():
    entry = entry_of(line(my_job=(1, classification(type="groundtruth/semantic-segmentation"))))
    assert list(entry.errors) == [
        EntryError(
            m.ERROR_UNSUPPORTED_USE_CASE_TYPE,
            "The use case type of the my-job-metadata label attribute metadata is unsupported. Check the type field.",
        ),
        EntryError(m.ERROR_NO_VALID_LABEL_ATTRIBUTES, "No valid label attributes found."),
    ]
    assert not entry.is_valid


def test_an_unsupported_attribute_beside_a_valid_one_leaves_the_line_usable():
    entry = entry_of(line(a=(1, classification(type="groundtruth/wrongtype")), b=(1, classification("dog"))))
    assert codes(entry.errors) == [m.ERROR_UNSUPPORTED_USE_CASE_TYPE]
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
    assert list(bad.errors) == [EntryError(m.ERROR_INVALID_BOUNDING_BOX, "The bounding box has off frame values.")]
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
    expected = [EntryError(m.ERROR_BOUNDING_BOX_TOO_SMALL, "The height and width of the bounding box is too small.")]
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
        EntryError(m.ERROR_TOO_MANY_BOUNDING_BOXES, "There are more bounding boxes than the allowed maximum.")
    ]
    assert len(entry.boxes) == 51 and not entry.is_valid
    assert entry_of(boxes_line([*fifty, (1, 700, 100, 10, 10)])).errors == ()  # the 51st is off frame


def test_boxes_of_several_attributes_count_together_towards_50():
    entry = entry_of(
        line(a=detection([(0, i, i, 10, 10) for i in range(30)]), b=detection([(1, i, i, 10, 10) for i in range(21)]))
    )
    assert codes(entry.errors) == [m.ERROR_TOO_MANY_BOUNDING_BOXES]


def test_an_attribute_whose_boxes_are_all_invalid_has_no_valid_annotations():
    entry = entry_of(boxes_line([(0, 700, 10, 30, 30), (1, 10, 10, 1, 1)]))
    assert list(entry.errors) == [
        EntryError(m.ERROR_NO_VALID_ANNOTATIONS, "No valid annotations found."),
        EntryError(m.ERROR_NO_VALID_LABEL_ATTRIBUTES, "No valid label attributes found."),
    ]
    assert len(entry.boxes) == 2 and not entry.is_valid


def test_invalid_boxes_beside_an_image_level_label_leave_the_line_usable():
    entry = entry_of(line(a=(1, classification()), bounding_box=detection([(0, 700, 10, 30, 30)])))
    assert codes(entry.errors) == [m.ERROR_NO_VALID_ANNOTATIONS]
    assert entry.labels == ("cat",) and entry.is_valid


def test_a_class_name_of_255_characters_is_a_label_and_of_256_an_error():
    assert entry_of(line(a=(1, classification("x" * 255)))).labels == ("x" * 255,)
    entry = entry_of(line(a=(1, classification("x" * 256))))
    assert codes(entry.errors) == [m.ERROR_INVALID_LABEL_NAME_LENGTH, m.ERROR_NO_VALID_LABEL_ATTRIBUTES]
    assert entry.errors[0].message == MESSAGES[m.ERROR_INVALID_LABEL_NAME_LENGTH]
    assert entry.labels == ()


def test_a_box_whose_class_name_is_too_long_is_unusable_and_the_line_says_why():
    entry = entry_of(boxes_line([(0, 10, 10, 30, 30), (1, 50, 50, 30, 30)], labels=("y" * 256, "dog")))
    assert codes(entry.boxes[0].errors) == [m.ERROR_INVALID_LABEL_NAME_LENGTH]
    assert entry.usable_boxes == (ManifestBox("dog", 50, 50, 30, 30),)
    assert codes(entry.errors) == [m.ERROR_INVALID_LABEL_NAME_LENGTH]
    assert entry.is_valid


def test_a_line_the_console_marked_unlabeled_is_an_unannotated_record():
    entry = entry_of(json.dumps({"source-ref": SOURCE, "cl-metadata": {"is_labeled": False}}))
    assert list(entry.warnings) == [EntryError(m.WARNING_UNANNOTATED_RECORD, "Record is unannotated.")]
    assert entry.errors == () and entry.is_ignored


@pytest.mark.parametrize("annotations", [[], None])
def test_a_bounding_box_attribute_without_annotations_is_valid_but_ignored(annotations):
    value, metadata = detection([])
    if annotations is None:
        del value["annotations"]
    entry = entry_of(line(bounding_box=(value, metadata)))
    assert codes(entry.warnings) == [m.WARNING_NO_ATTRIBUTE_ANNOTATIONS, m.WARNING_NO_ANNOTATIONS]
    assert entry.errors == () and entry.is_ignored


def test_an_empty_bounding_box_attribute_beside_a_label_only_warns_about_the_attribute():
    entry = entry_of(line(a=(1, classification()), bounding_box=detection([])))
    assert codes(entry.warnings) == [m.WARNING_NO_ATTRIBUTE_ANNOTATIONS]
    assert entry.labels == ("cat",) and not entry.is_ignored


def test_error_keys_of_an_exported_line_are_not_read_back():
    obj = json.loads(UNSUPPORTED_TYPE_EXAMPLE)
    obj["BB-metadata"]["type"] = "groundtruth/object-detection"
    del obj["BB-metadata"]["cl-errors"]
    entry = entry_of(json.dumps(obj))
    assert entry.errors == () and len(entry.boxes) == 4


# --- the file: §5.4 and lists A and C ---------------------------------------------------------


def label_line(n: int, label: str = "cat", bucket: str = "bucket") -> str:
    return line(source_ref=f"s3://{bucket}/{n}.png", a=(1, classification(label)))


def validate(lines, size_bytes: int = 1000):
    validator = ManifestValidator(size_bytes=size_bytes)
    results = [validator.feed(text) for text in lines]
    return validator.finish(), results


def test_a_manifest_without_lines_is_empty():
    verdict, _ = validate([])
    assert verdict.error == EntryError(m.ERROR_EMPTY_MANIFEST, "The manifest file is empty.")
    assert not verdict.ok


def test_a_manifest_over_1_gb_fails_before_a_line_is_read():
    assert ManifestValidator(size_bytes=1024**3).error is None
    validator = ManifestValidator(size_bytes=1024**3 + 1)
    assert validator.error == EntryError(
        m.ERROR_MANIFEST_SIZE_TOO_LARGE, "The manifest file size exceeds the maximum supported size."
    )
    validator.feed(label_line(1))
    assert validator.finish().error.code == m.ERROR_MANIFEST_SIZE_TOO_LARGE


def test_a_manifest_of_more_than_250000_lines_has_too_many_rows():
    validator = ManifestValidator(size_bytes=1000)
    validator.feed(label_line(0))
    for _ in range(249_999):
        validator.feed("")
    assert validator.error is None
    assert validator.finish().error.code == m.ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST
    validator.feed(label_line(1))
    assert validator.error == EntryError(m.ERROR_MANIFEST_ROWS_EXCEEDS_MAXIMUM, "The manifest file has too many rows.")
    assert validator.finish().total_lines == 250_001


def test_a_second_line_for_the_same_source_ref_is_dropped_and_counted():
    verdict, results = validate(
        [label_line(1, "cat"), label_line(1, "dog"), label_line(2)] + [label_line(n) for n in range(3, 10)]
    )
    assert results[0].labels == ("cat",)
    assert results[1] == Dropped(m.ERROR_DUPLICATE_SOURCE_REF, MESSAGES[m.ERROR_DUPLICATE_SOURCE_REF])
    assert verdict.dropped == {m.ERROR_DUPLICATE_SOURCE_REF: 1}
    assert verdict.labels == ("cat",)
    assert verdict.ok and verdict.total_lines == 10 and verdict.invalid_lines == 1


def test_images_from_two_buckets_fail_the_manifest_at_the_first_foreign_image():
    validator = ManifestValidator(size_bytes=1000)
    validator.feed(label_line(1, bucket="bucket-one"))
    validator.feed(label_line(2, bucket="bucket-one"))
    assert validator.error is None
    validator.feed(label_line(3, bucket="bucket-two"))
    assert validator.error == EntryError(
        m.ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS, "The manifest file contains images from multiple S3 buckets."
    )
    validator.feed(label_line(4, bucket="bucket-one"))
    verdict = validator.finish()
    assert verdict.error.code == m.ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS and verdict.bucket == "bucket-one"


def test_250_labels_are_allowed_and_a_251st_fails_the_manifest():
    lines = [label_line(n, f"label {n}") for n in range(250)]
    verdict, _ = validate(lines)
    assert verdict.ok and len(verdict.labels) == 250
    verdict, _ = validate([*lines, boxes_line([(0, 10, 10, 30, 30)], labels=("one more",))])
    assert verdict.error == EntryError(m.ERROR_MANIFEST_TOO_MANY_LABELS, "The manifest file has too many labels.")


def test_blank_dropped_and_invalid_lines_count_together_towards_20_percent():
    valid = [label_line(n) for n in range(8)]
    bad = ["", "{", json.dumps({"source-ref": "s3://bucket/x.png"})]
    verdict, _ = validate([*valid, bad[0], bad[1]])  # 2 of 10
    assert verdict.ok
    verdict, _ = validate([*valid, *bad])  # 3 of 11
    assert verdict.error == EntryError(
        m.ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST, "The manifest file contains too many invalid rows."
    )
    assert (verdict.valid_entries, verdict.invalid_lines, verdict.dropped) == (8, 3, {m.ERROR_INVALID_JSON_LINE: 1})


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
        m.ERROR_JSON_LINE_TOO_LONG: 1,
        m.ERROR_MISSING_SOURCE_REF: 1,
        m.ERROR_DUPLICATE_SOURCE_REF: 1,
    }
    assert verdict.labels == ("cat", "dog") and verdict.bucket == "bucket"
    assert verdict.error.code == m.ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST


# --- writing ----------------------------------------------------------------------------------

WHEN = datetime(2021, 7, 11, 3, 32, 13, 456789, tzinfo=UTC)


def test_a_written_line_has_the_consoles_shape_and_key_order():
    text = write_line(
        source_ref="s3://bucket/a.png",
        labels=["camellia", "with_leaves"],
        boxes=[
            ManifestBox("Echo", 10, 20, 30, 40),
            ManifestBox("Echo Dot", 1, 2, 3, 4),
            ManifestBox("Echo", 700, 2, 3, 4, (EntryError(m.ERROR_INVALID_BOUNDING_BOX, "off"),)),
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
    assert codes(entry_of(text).warnings) == [m.WARNING_UNANNOTATED_RECORD]


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


# --- properties -------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

label_names = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=255),
    st.sampled_from(
        ["source-ref", "bounding-box", "cl", "cl-metadata", "cl-errors", "errors", "warnings", "x-metadata",
         "-metadata", "label-0", "label-1", "0", "42", 'a "quoted" name', "näme ✓ 猫", " spaced name ", "{}"]
    ),
)  # fmt: skip
buckets = st.from_regex(r"\A[a-z0-9][a-z0-9\-]{1,20}[a-z0-9]\Z")
keys = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=200)
coordinates = st.integers(min_value=-50, max_value=5000)


@st.composite
def entries(draw):
    labels = draw(st.lists(label_names, max_size=6, unique=True))
    width, height = draw(st.integers(1, 4096)), draw(st.integers(1, 4096))
    boxes = draw(
        st.lists(
            st.builds(
                ManifestBox,
                st.sampled_from(labels) if labels else label_names,
                coordinates,
                coordinates,
                coordinates,
                coordinates,
            ),
            max_size=55,
        )
    )
    return f"s3://{draw(buckets)}/{draw(keys)}", labels, boxes, (width, height)


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


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
EXAMPLE_OBJECTS = [
    json.loads(text)
    for text in (
        CLASSIFICATION_LINE,
        MULTI_LABEL_ENTRY,
        DETECTION_LINE,
        BB_LINE,
        BOX_TOO_SMALL_EXAMPLE,
        UNSUPPORTED_TYPE_EXAMPLE,
        NO_ANNOTATIONS_EXAMPLE,
    )
]


@st.composite
def mutated_objects(draw):
    """A spec example with one value somewhere inside replaced by random JSON, or removed."""
    obj = json.loads(json.dumps(draw(st.sampled_from(EXAMPLE_OBJECTS))))
    node = obj
    while True:
        slots = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not slots:
            break
        slot = draw(st.sampled_from(slots))
        child = node[slot]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and draw(st.booleans()):
            del node[slot]
        else:
            node[slot] = draw(json_values)
        break
    return json.dumps(obj, ensure_ascii=draw(st.booleans()))


@st.composite
def mutated_text(draw):
    """A spec example line with characters cut, inserted or replaced."""
    text = draw(st.sampled_from([CLASSIFICATION_LINE, MULTI_LABEL_ENTRY, DETECTION_LINE, BB_LINE]))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        text = text[:at] + draw(st.text(alphabet=string.printable + '{}[]":,\\', max_size=3)) + text[at + cut :]
    return text


any_line = st.one_of(
    st.text(),
    mutated_text(),
    mutated_objects(),
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from(["source-ref", "a", "a-metadata", "bounding-box", "bounding-box-metadata"]), json_values).map(json.dumps),
)  # fmt: skip
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
        if set(codes(result.errors)) & set(m.STOPPING_ERROR_CODES):
            assert len(result.errors) == 1 and result.labels == () and result.boxes == ()
        assert result.is_valid or result.errors


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
