"""Pure rules of the console: which S3 keys are images, which label a key gets, image headers,
every limit on images, labels and boxes (a manifest file's own limits are in formats/), and where
thumbnails are kept.

Plain values in, plain values out, so each rule is testable on its own (spec §3.2 and §4).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# How much of an object the import reads to learn its format and size. PNG needs 33 bytes; a
# JPEG's frame header usually sits within the first few KB, after EXIF. See imports/headers.py.
HEADER_BYTES = 16 * 1024
HEADER_BYTES_MAX = 1024 * 1024

MAX_IMAGE_BYTES = 15 * 1024 * 1024
MIN_SIDE = 64
MAX_SIDE = 4096
MAX_ASPECT_RATIO = 20

MAX_LABEL_LENGTH = 255
MAX_BOXES_PER_IMAGE = 50
RESIZE_LONGEST_SIDE = 1280  # the service shrinks larger images to this before it measures boxes
# A dataset with more than this share of invalid lines or images fails its import (§5.5 A).
MAX_INVALID_PERCENT = 20


class KeyKind(Enum):
    IMAGE = "image"
    NOT_IMAGE = "not_image"
    FOLDER_MARKER = "folder_marker"
    OUTSIDE = "outside"


@dataclass(frozen=True)
class KeyClass:
    kind: KeyKind
    label: str | None = None


def classify_key(*, prefix: str, key: str, size: int, auto_label: bool) -> KeyClass:
    """Decide what the S3 folder import does with one object (spec §3.2).

    `prefix` is the folder ("" or ending in "/"). An image directly in the folder gets no label;
    an image anywhere below a child folder gets that child folder's name, however deep.
    """
    if prefix and not prefix.endswith("/"):
        raise ValueError("prefix must be empty or end with '/'")
    if not key.startswith(prefix):
        return KeyClass(KeyKind.OUTSIDE)
    rest = key[len(prefix) :]
    if not rest or rest.endswith("/"):
        if size == 0:
            return KeyClass(KeyKind.FOLDER_MARKER)
        return KeyClass(KeyKind.NOT_IMAGE)
    if size == 0 and "." not in rest.rsplit("/", 1)[-1]:
        # Some S3 servers (rclone) store "folder/" markers without the trailing slash.
        return KeyClass(KeyKind.FOLDER_MARKER)
    if not rest.lower().endswith(IMAGE_EXTENSIONS):
        return KeyClass(KeyKind.NOT_IMAGE)
    segments = rest.split("/")
    label = segments[0] if auto_label and len(segments) >= 2 and segments[0] else None
    return KeyClass(KeyKind.IMAGE, label)


def file_name_of(key: str) -> str:
    return key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ImageHeader:
    format: str  # "JPEG" or "PNG"
    width: int
    height: int


class HeaderIncomplete(Exception):
    """More bytes are needed to find the image's size."""


class InvalidImage(Exception):
    """The bytes are not a PNG or JPEG image; str() says why."""


def image_header_parse(data: bytes, *, complete: bool) -> ImageHeader:
    """Read format and dimensions from the first bytes of a file, decoding no pixels.

    `complete` says whether `data` is the whole object; if not, a header cut short raises
    HeaderIncomplete so the caller can read more. The size is read from the PNG IHDR chunk or the
    JPEG frame header directly, so a declared size of any magnitude is reported, never decoded.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(data) < 24:
            if complete:
                raise InvalidImage("the PNG header is cut short")
            raise HeaderIncomplete
        if data[12:16] != b"IHDR":
            raise InvalidImage("the PNG header is corrupt")
        width, height = struct.unpack(">II", data[16:24])
        fmt = "PNG"
    elif data.startswith(b"\xff\xd8\xff"):
        width, height = _jpeg_size(data, complete=complete)
        fmt = "JPEG"
    elif len(data) < 8 and not complete:
        raise HeaderIncomplete
    else:
        raise InvalidImage("the file is not a PNG or JPEG image")
    if width <= 0 or height <= 0:
        raise InvalidImage(f"the {fmt} header declares no pixels")
    return ImageHeader(fmt, width, height)


# JPEG start-of-frame markers (baseline, progressive, lossless...); C4, C8 and CC are not frames.
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes, *, complete: bool) -> tuple[int, int]:
    """Walk the JPEG marker segments up to the frame header and return (width, height)."""
    pos = 2
    n = len(data)
    while True:
        while pos < n and data[pos] != 0xFF:
            pos += 1  # tolerate stray bytes between segments, as decoders do
        while pos < n and data[pos] == 0xFF:
            pos += 1  # fill bytes
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue  # markers without a length
        if marker == 0xD9 or marker == 0xDA:
            raise InvalidImage("the JPEG has no frame header before its image data")
        if pos + 2 > n:
            break
        length = struct.unpack(">H", data[pos : pos + 2])[0]
        if length < 2:
            raise InvalidImage("the JPEG header is corrupt")
        if marker in _SOF_MARKERS:
            if pos + 7 > n:
                break
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            return width, height
        pos += length
    if complete:
        raise InvalidImage("the JPEG header is corrupt or cut short")
    raise HeaderIncomplete


def image_limits_error(*, width: int, height: int, size: int) -> str | None:
    """The spec §4 limit an image breaks, as a sentence for the user, or None.

    64 and 4096 pixels are allowed; an aspect ratio of exactly 20:1 is allowed.
    """
    if size > MAX_IMAGE_BYTES:
        return f"The image is invalid: the file is {size / 1024 / 1024:.1f} MB; the maximum is 15 MB."
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_SIDE:
        return (
            f"The image is invalid: it is {width}×{height} pixels; each side must be {MIN_SIDE} to {MAX_SIDE} pixels."
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        return (
            f"The image is invalid: its aspect ratio is {max(width, height) / min(width, height):.1f}:1; "
            f"the maximum is {MAX_ASPECT_RATIO}:1."
        )
    return None


def box_too_small(*, width: int, height: int, image_width: int, image_height: int) -> bool:
    """Whether a box is 1 px or less on a side once the service has shrunk the image (§4).

    Images with a side over 1280 px are scaled by 1280/longest side; integer arithmetic keeps the
    boundary exact.
    """
    longest = max(image_width, image_height)
    if longest > RESIZE_LONGEST_SIDE:
        return width * RESIZE_LONGEST_SIDE <= longest or height * RESIZE_LONGEST_SIDE <= longest
    return width <= 1 or height <= 1


def too_many_invalid(*, invalid: int, total: int) -> bool:
    """Whether more than MAX_INVALID_PERCENT of the lines are invalid; exactly a fifth is still accepted."""
    return invalid * 100 > total * MAX_INVALID_PERCENT


def too_many_images_message(limit: int) -> str:
    """Why an import or upload is refused that would take a dataset past `limit` images (spec §4:
    limits.md's "The default is 250,000.", in the validation rules' "Maximum of … as lines" wording)."""
    return f"The dataset would have too many images: a dataset holds a maximum of {limit:,} images."


def has_control_characters(text: str) -> bool:
    """Whether `text` holds a control character (C0, DEL or C1), NUL included, which PostgreSQL
    cannot store in text. Names are one line of visible characters and spaces."""
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text)
