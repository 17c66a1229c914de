"""Builders of Ground Truth manifest lines and Hypothesis strategies, for the format tests."""

import json
import string
from datetime import UTC, datetime

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from datasets.formats.ground_truth import (
    ManifestBox,
    ManifestEntry,
    parse_line,
)

from .spec_examples import (
    BB_LINE,
    BOX_TOO_SMALL_EXAMPLE,
    CLASSIFICATION_LINE,
    DETECTION_LINE,
    MULTI_LABEL_ENTRY,
    NO_ANNOTATIONS_EXAMPLE,
    UNSUPPORTED_TYPE_EXAMPLE,
)


def codes(errors) -> list[str]:
    return [e.code for e in errors]


def entry_of(line: str) -> ManifestEntry:
    result = parse_line(line)
    assert isinstance(result, ManifestEntry), result
    return result


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


WHEN = datetime(2021, 7, 11, 3, 32, 13, 456789, tzinfo=UTC)


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
