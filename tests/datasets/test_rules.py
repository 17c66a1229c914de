"""The pure rules of the S3 import: folder-to-label (spec §3), S3 locations, image headers and limits (spec §4)."""

import pytest

from customlabels.s3 import S3Location, S3LocationInvalid, parse_location
from datasets.rules import (
    MAX_IMAGE_BYTES,
    HeaderIncomplete,
    ImageHeader,
    InvalidImage,
    KeyClass,
    KeyKind,
    classify_key,
    image_header_parse,
    image_limits_error,
    too_many_invalid,
)

from .support import jpeg_bytes, png_bytes, png_declaring, truncated_jpeg_bytes


def classify(location: str, key: str, *, size: int = 1234, auto_label: bool = True) -> KeyClass:
    return classify_key(prefix=parse_location(location).prefix, key=key, size=size, auto_label=auto_label)


# --- The folder-to-label rule, on every example of spec §3 ------------------------------------


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("alexa-devices/echo/echo-image-1.png", "echo"),
        ("alexa-devices/echo/echo-image-2.png", "echo"),
        ("alexa-devices/echo-dot/echo-dot-image-1.png", "echo-dot"),
        ("alexa-devices/echo-dot/echo-dot-image-2.png", "echo-dot"),
    ],
)
def test_images_in_a_child_folder_take_the_child_folder_name_as_label(key, label):
    assert classify("s3-bucket/alexa-devices", key) == KeyClass(KeyKind.IMAGE, label)


@pytest.mark.parametrize(
    "key",
    [
        "alexa-devices/echo-dot/white-echo-dot/white-echo-dot-image-1.png",
        "alexa-devices/echo-dot/white-echo-dot/white-echo-dot-image-2.png",
        "alexa-devices/echo-dot/white-echo-dot/even/deeper/image.png",
    ],
)
def test_images_in_deeper_folders_take_the_child_folder_label(key):
    assert classify("s3-bucket/alexa-devices", key) == KeyClass(KeyKind.IMAGE, "echo-dot")


def test_images_at_the_level_of_the_location_are_imported_without_a_label():
    assert classify("s3-bucket/alexa-devices", "alexa-devices/x.png") == KeyClass(KeyKind.IMAGE, None)


def test_a_deeper_location_labels_by_its_own_child_folders():
    location = "s3-bucket/alexa-devices/echo-dot"
    for n in (1, 2):
        key = f"alexa-devices/echo-dot/white-echo-dot/white-echo-dot-image-{n}.png"
        assert classify(location, key) == KeyClass(KeyKind.IMAGE, "white-echo-dot")


def test_a_deeper_location_leaves_sibling_folders_out():
    location = "s3-bucket/alexa-devices/echo-dot"
    assert classify(location, "alexa-devices/echo/echo-image-1.png").kind is KeyKind.OUTSIDE
    assert classify(location, "alexa-devices/echo/echo-image-2.png").kind is KeyKind.OUTSIDE


def test_a_deeper_location_imports_its_own_images_unlabeled():
    location = "s3-bucket/alexa-devices/echo-dot"
    assert classify(location, "alexa-devices/echo-dot/echo-dot-image-1.png") == KeyClass(KeyKind.IMAGE, None)


def test_the_bucket_root_as_location_labels_by_top_level_folder():
    assert classify("s3://s3-bucket", "alexa-devices/echo/echo-image-1.png") == KeyClass(KeyKind.IMAGE, "alexa-devices")
    assert classify("s3://s3-bucket/", "x.png") == KeyClass(KeyKind.IMAGE, None)


# --- Edge cases of the rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    "location", ["s3://bucket/alexa-devices", "bucket/alexa-devices", "s3://bucket/alexa-devices/"]
)
def test_a_sibling_folder_sharing_the_prefix_is_outside(location):
    assert parse_location(location).prefix == "alexa-devices/"
    assert classify(location, "alexa-devices-2/echo/echo-image-1.png").kind is KeyKind.OUTSIDE
    assert classify(location, "alexa-devices-2.png").kind is KeyKind.OUTSIDE


@pytest.mark.parametrize(
    "location",
    [
        "s3://bucket/alexa-devices",
        "s3://bucket/alexa-devices/",
        "s3://bucket/alexa-devices//",
        "bucket/alexa-devices",
        "bucket/alexa-devices/",
        "  s3://bucket/alexa-devices/  ",
    ],
)
def test_every_spelling_of_a_location_means_the_same_folder(location):
    assert parse_location(location) == S3Location(bucket="bucket", prefix="alexa-devices/")
    assert classify(location, "alexa-devices/echo/a.png") == KeyClass(KeyKind.IMAGE, "echo")


@pytest.mark.parametrize("location", ["s3://bucket", "s3://bucket/", "bucket", "bucket/"])
def test_a_bare_bucket_is_the_bucket_root(location):
    assert parse_location(location) == S3Location(bucket="bucket", prefix="")


def test_a_location_names_its_folder_as_an_s3_uri():
    assert parse_location("bucket/a/b").uri == "s3://bucket/a/b/"
    assert parse_location("s3://bucket").uri == "s3://bucket/"


@pytest.mark.parametrize("name", ["a.PNG", "a.Png", "a.JPG", "a.JpEg", "a.jpeg", "a.jpg", "a.png"])
def test_image_extensions_are_matched_in_any_case(name):
    assert classify("bucket/alexa-devices", f"alexa-devices/echo/{name}") == KeyClass(KeyKind.IMAGE, "echo")


@pytest.mark.parametrize("key", ["alexa-devices/", "alexa-devices/echo/", "alexa-devices/echo-dot/white-echo-dot/"])
def test_zero_byte_folder_markers_are_ignored(key):
    assert classify("bucket/alexa-devices", key, size=0).kind is KeyKind.FOLDER_MARKER


def test_a_key_ending_in_slash_with_content_is_not_an_image():
    assert classify("bucket/alexa-devices", "alexa-devices/echo/", size=10).kind is KeyKind.NOT_IMAGE


@pytest.mark.parametrize(
    "key",
    [
        "alexa-devices/notes.txt",
        "alexa-devices/echo/animation.gif",
        "alexa-devices/echo/photo.webp",
        "alexa-devices/echo/png",
        "alexa-devices/echo/image.png.bak",
        "alexa-devices/echo/.png-notes",
    ],
)
def test_non_image_keys_are_not_images(key):
    assert classify("bucket/alexa-devices", key).kind is KeyKind.NOT_IMAGE


def test_folder_names_with_spaces_and_accents_become_the_label_verbatim():
    assert classify("bucket/alexa-devices", "alexa-devices/échos dorés/image 1.png") == KeyClass(
        KeyKind.IMAGE, "échos dorés"
    )
    assert classify("bucket/alexa-devices", "alexa-devices/Echo_Dot.v2/IMG 7.JPG") == KeyClass(
        KeyKind.IMAGE, "Echo_Dot.v2"
    )


def test_a_location_with_spaces_and_accents_matches_its_keys():
    location = parse_location("s3://bucket/appareils d’Alexa/échos")
    assert location.prefix == "appareils d’Alexa/échos/"
    assert classify_key(
        prefix=location.prefix, key="appareils d’Alexa/échos/blanc/é 1.jpg", size=1, auto_label=True
    ) == KeyClass(KeyKind.IMAGE, "blanc")


@pytest.mark.parametrize(
    "key",
    [
        "alexa-devices/echo/echo-image-1.png",
        "alexa-devices/echo-dot/white-echo-dot/white-echo-dot-image-1.png",
        "alexa-devices/x.png",
    ],
)
def test_without_automatic_labeling_no_image_gets_a_label(key):
    assert classify("bucket/alexa-devices", key, auto_label=False) == KeyClass(KeyKind.IMAGE, None)


def test_the_prefix_must_be_a_folder():
    with pytest.raises(ValueError):
        classify_key(prefix="alexa-devices", key="alexa-devices/x.png", size=1, auto_label=True)


# --- parse_location refusals ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Enter an S3 folder location"),
        ("   ", "Enter an S3 folder location"),
        (None, "Enter an S3 folder location"),
        ("s3://", "needs a bucket name"),
        ("s3:///folder", "needs a bucket name"),
        ("../", "is not a valid bucket name"),
        ("s3://bucket/../x", "must not contain"),
        ("s3://bucket/a/./b", "must not contain"),
        ("s3://bucket/a//b", "must not contain"),
        ("http://x/y", "must start with s3://"),
        ("https://bucket.s3.amazonaws.com/folder", "must start with s3://"),
        ("s3://bucket/" + "a" * 1988, "too long"),
        ("s3://bucket/" + "é" * 600, "too long"),
        ("s3://My_Bucket/folder", "“My_Bucket” is not a valid bucket name"),
        ("s3://ab/folder", "is not a valid bucket name"),
        ("s3://" + "b" * 64 + "/folder", "is not a valid bucket name"),
        ("s3://bucket-/folder", "is not a valid bucket name"),
        ("s3://my..bucket/folder", "is not a valid bucket name"),
        ("s3://bucket/line\nbreak", "characters that are not allowed"),
    ],
)
def test_a_malformed_location_is_refused_with_a_reason(value, message):
    with pytest.raises(S3LocationInvalid, match=message):
        parse_location(value)


def test_a_2000_character_location_is_refused():
    value = "s3://bucket/" + "/".join(["folder"] * 300)
    assert len(value) > 2000
    with pytest.raises(S3LocationInvalid, match="too long"):
        parse_location(value)


# --- Image headers ----------------------------------------------------------------------------


def test_a_png_header_gives_format_and_size():
    assert image_header_parse(png_bytes(100, 80), complete=True) == ImageHeader("PNG", 100, 80)


def test_a_jpeg_header_gives_format_and_size():
    assert image_header_parse(jpeg_bytes(120, 90), complete=True) == ImageHeader("JPEG", 120, 90)


def test_the_header_of_a_jpeg_whose_pixels_are_cut_off_still_gives_its_size():
    assert image_header_parse(truncated_jpeg_bytes(300, 200), complete=True) == ImageHeader("JPEG", 300, 200)


def test_the_first_16_kb_of_a_large_image_are_enough():
    data = truncated_jpeg_bytes(2000, 1500)
    assert image_header_parse(data[: 16 * 1024], complete=False) == ImageHeader("JPEG", 2000, 1500)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [(png_bytes(100, 80)[:20], "PNG"), (jpeg_bytes(120, 90)[:100], "JPEG"), (b"\x89PN", None)],
)
def test_a_header_cut_short_asks_for_more_bytes_unless_it_is_the_whole_file(data, fmt):
    with pytest.raises(HeaderIncomplete):
        image_header_parse(data, complete=False)
    with pytest.raises(InvalidImage) as exc:
        image_header_parse(data, complete=True)
    if fmt:
        assert str(exc.value).startswith(f"the {fmt} header is")
        assert "cut short" in str(exc.value)


@pytest.mark.parametrize(
    "data",
    [b"these are the meeting notes, not a picture\n" * 3, b"GIF89a\x01\x00\x01\x00", b"RIFF\x00\x00\x00\x00WEBPVP8 "],
)
def test_bytes_that_are_not_png_or_jpeg_are_an_invalid_image(data):
    for complete in (False, True):
        with pytest.raises(InvalidImage, match="not a PNG or JPEG image"):
            image_header_parse(data, complete=complete)


def test_an_empty_file_is_an_invalid_image():
    with pytest.raises(InvalidImage):
        image_header_parse(b"", complete=True)


def test_a_huge_declared_size_is_read_without_decoding_pixels():
    header = image_header_parse(png_declaring(20000, 20000), complete=True)
    assert header == ImageHeader("PNG", 20000, 20000)
    assert "20000×20000" in image_limits_error(width=header.width, height=header.height, size=100)


def test_a_png_header_declaring_no_pixels_is_invalid():
    with pytest.raises(InvalidImage):
        image_header_parse(png_declaring(0, 10), complete=True)


def test_a_png_with_large_metadata_before_its_pixels_is_sized_from_its_first_bytes():
    # Width and height sit in the PNG's first 33 bytes (IHDR); a big text or ICC chunk after
    # them must not make a valid image look invalid.
    data = png_bytes(100, 100, text="x" * 2_000_000)
    assert image_header_parse(data[: 16 * 1024], complete=False) == ImageHeader("PNG", 100, 100)


# --- Image limits (spec §4) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height"),
    [(64, 64), (4096, 4096), (64, 100), (4096, 1000), (1280, 64), (64, 1280), (640, 480)],
)
def test_images_within_the_limits_pass(width, height):
    assert image_limits_error(width=width, height=height, size=1000) is None


@pytest.mark.parametrize(("width", "height"), [(63, 100), (100, 63), (63, 63), (4097, 100), (100, 4097), (4097, 4097)])
def test_a_side_under_64_or_over_4096_pixels_is_refused(width, height):
    message = image_limits_error(width=width, height=height, size=1000)
    assert message == (f"The image is invalid: it is {width}×{height} pixels; each side must be 64 to 4096 pixels.")


@pytest.mark.parametrize(("width", "height"), [(1344, 64), (64, 1344), (1281, 64), (4096, 195)])
def test_an_aspect_ratio_over_20_to_1_is_refused(width, height):
    message = image_limits_error(width=width, height=height, size=1000)
    assert message is not None
    assert "aspect ratio" in message
    assert "the maximum is 20:1" in message


def test_an_aspect_ratio_of_21_to_1_is_reported_as_such():
    assert image_limits_error(width=1344, height=64, size=1000) == (
        "The image is invalid: its aspect ratio is 21.0:1; the maximum is 20:1."
    )


def test_a_file_of_exactly_15_mb_is_allowed_and_one_byte_more_is_refused():
    assert MAX_IMAGE_BYTES == 15 * 1024 * 1024
    assert image_limits_error(width=640, height=480, size=15 * 1024 * 1024) is None
    message = image_limits_error(width=640, height=480, size=15 * 1024 * 1024 + 1)
    assert message is not None
    assert "the maximum is 15 MB" in message


def test_more_than_a_fifth_of_lines_invalid_is_too_many_and_exactly_a_fifth_is_not():
    assert not too_many_invalid(invalid=20, total=100)
    assert too_many_invalid(invalid=21, total=100)
    assert not too_many_invalid(invalid=1, total=5) and too_many_invalid(invalid=1, total=4)
    assert too_many_invalid(invalid=1, total=1) and not too_many_invalid(invalid=0, total=0)
