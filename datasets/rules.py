"""Pure rules of the console: which S3 keys are images, which label a key gets, image limits.

Plain values in, plain values out, so each rule is testable on its own (spec §3.2 and §4).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import Enum

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# How much of an object the import reads to learn its format and size. PNG needs 33 bytes; a
# JPEG's frame header usually sits within the first few KB, after EXIF. See image_header_read.
HEADER_BYTES = 16 * 1024
HEADER_BYTES_MAX = 1024 * 1024

MAX_IMAGE_BYTES = 15 * 1024 * 1024
MIN_SIDE = 64
MAX_SIDE = 4096
MAX_ASPECT_RATIO = 20

ERROR_INVALID_IMAGE = "ERROR_INVALID_IMAGE"


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
    HeaderIncomplete so the caller can read more.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        fmt = "PNG"
    elif data.startswith(b"\xff\xd8\xff"):
        fmt = "JPEG"
    elif len(data) < 8 and not complete:
        raise HeaderIncomplete
    else:
        raise InvalidImage("the file is not a PNG or JPEG image")
    try:
        with PILImage.open(io.BytesIO(data), formats=[fmt]) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        if not complete:
            raise HeaderIncomplete from exc
        raise InvalidImage(f"the {fmt} header is corrupt") from exc
    except PILImage.DecompressionBombError:
        # Only the header was read; the declared size is checked against the limits below.
        width, height = _declared_size(data, fmt)
    if width <= 0 or height <= 0:
        raise InvalidImage(f"the {fmt} header declares no pixels")
    return ImageHeader(fmt, width, height)


def _declared_size(data: bytes, fmt: str) -> tuple[int, int]:
    saved = PILImage.MAX_IMAGE_PIXELS
    PILImage.MAX_IMAGE_PIXELS = None
    try:
        with PILImage.open(io.BytesIO(data), formats=[fmt]) as img:
            return img.size
    finally:
        PILImage.MAX_IMAGE_PIXELS = saved


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
