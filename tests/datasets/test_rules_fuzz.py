"""Hypothesis fuzz of the pure rules an import applies to whatever S3 and users hand it: any input
gives a result or the rule's documented error, never an unexpected exception."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customlabels.s3 import S3Location, S3LocationInvalid, parse_location
from datasets import rules

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys as S3 holds them: any text, weighted towards slashes, dots and image extensions.
key_text = st.text(alphabet=st.one_of(st.sampled_from("/./-_ "), st.characters()), max_size=80)
keys = st.one_of(
    key_text,
    st.builds(lambda a, b, ext: f"{a}/{b}{ext}", key_text, key_text, st.sampled_from([".jpg", ".JPEG", ".png", ".Png", ".txt", ""])),
)  # fmt: skip
prefixes = st.one_of(st.just(""), st.builds(lambda p: p.rstrip("/") + "/", key_text))


@FUZZ
@given(prefix=prefixes, key=keys, size=st.integers(0, 2**40), auto_label=st.booleans())
def test_classify_key_always_answers_a_kind_and_labels_only_images_below_a_child_folder(prefix, key, size, auto_label):
    result = rules.classify_key(prefix=prefix, key=key, size=size, auto_label=auto_label)

    assert isinstance(result.kind, rules.KeyKind)
    if result.kind is not rules.KeyKind.IMAGE or not auto_label:
        assert result.label is None
    if result.kind is rules.KeyKind.OUTSIDE:
        assert not key.startswith(prefix)
    if result.label is not None:
        rest = key[len(prefix) :]
        assert rest.split("/")[0] == result.label and "/" not in result.label and result.label


@FUZZ
@given(
    st.one_of(
        st.text(max_size=200),
        st.builds("s3://{}".format, st.text(max_size=200)),
        st.text(alphabet=string.printable, max_size=1200),
    )
)
def test_parse_location_gives_a_folder_or_a_message_for_any_text(text):
    try:
        location = parse_location(text)
    except S3LocationInvalid as exc:
        assert str(exc).strip().endswith(".")
        return
    assert isinstance(location, S3Location)
    assert location.prefix == "" or location.prefix.endswith("/")
    assert ".." not in location.prefix.split("/")


@FUZZ
@given(data=st.binary(max_size=600), complete=st.booleans())
def test_header_parse_gives_a_header_or_a_documented_error_for_any_bytes(data, complete):
    try:
        header = rules.image_header_parse(data, complete=complete)
    except rules.InvalidImage as exc:
        assert str(exc)
        return
    except rules.HeaderIncomplete:
        assert not complete
        return
    assert header.format in ("PNG", "JPEG")
    assert header.width >= 0 and header.height >= 0


@FUZZ
@given(
    prefix=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"]),
    tail=st.binary(max_size=400),
    complete=st.booleans(),
)
def test_header_parse_survives_any_bytes_after_a_real_signature(prefix, tail, complete):
    try:
        rules.image_header_parse(prefix + tail, complete=complete)
    except (rules.InvalidImage, rules.HeaderIncomplete):
        pass


@FUZZ
@given(width=st.integers(0, 2**32 - 1), height=st.integers(0, 2**32 - 1), size=st.integers(0, 2**40))
def test_limits_name_the_limit_or_accept(width, height, size):
    problem = rules.image_limits_error(width=width, height=height, size=size)
    within = (
        size <= rules.MAX_IMAGE_BYTES
        and rules.MIN_SIDE <= min(width, height)
        and max(width, height) <= rules.MAX_SIDE
        and max(width, height) <= rules.MAX_ASPECT_RATIO * min(width, height)
    )
    assert (problem is None) == within
    if problem:
        assert problem.startswith("The image is invalid:")
