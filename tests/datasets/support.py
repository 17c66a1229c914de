"""Helpers for the dataset tests: real image files (made with Pillow, or by hand where Pillow
will not), the spec's alexa-devices folder tree, seeding a bucket, and waiting for the worker."""

import io
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import PngImagePlugin


def png_bytes(width: int, height: int, *, color: str = "red", text: str = "") -> bytes:
    """A PNG of the given size; `text` goes into a tEXt chunk, which Pillow writes before the pixels."""
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("comment", text)
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), color).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def jpeg_bytes(width: int, height: int, *, color: str = "blue") -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), color).save(out, "JPEG", quality=90)
    return out.getvalue()


def noisy_jpeg_bytes(width: int, height: int) -> bytes:
    """A JPEG whose entropy-coded body is large, so cutting it leaves a valid header and no pixels."""
    img = PILImage.effect_noise((width, height), 80).convert("RGB")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95)
    return out.getvalue()


def truncated_jpeg_bytes(width: int, height: int) -> bytes:
    """A JPEG with its whole header (up to the start of scan) and only a sliver of its pixel data."""
    data = noisy_jpeg_bytes(width, height)
    start_of_scan = data.index(b"\xff\xda")
    return data[: start_of_scan + 200]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG file whose header declares `width`×`height` (no real pixels to decode)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class SourceObject:
    """An object of the source bucket and what the import should make of it."""

    body: bytes
    label: str | None = None
    width: int | None = None
    height: int | None = None
    format: str = ""
    error_code: str = ""
    error_words: str = ""  # words the image's error message must contain


INVALID = "ERROR_INVALID_IMAGE"

# The example folder tree of spec §3, plus the awkward objects a real bucket holds.
ALEXA_DEVICES = {
    "alexa-devices/echo/": SourceObject(b""),
    "alexa-devices/echo/echo-image-1.png": SourceObject(png_bytes(640, 480), "echo", 640, 480, "PNG"),
    "alexa-devices/echo/echo-image-2.png": SourceObject(png_bytes(300, 200, color="green"), "echo", 300, 200, "PNG"),
    "alexa-devices/echo/truncated-echo.jpg": SourceObject(
        truncated_jpeg_bytes(300, 200), "echo", 300, 200, "JPEG", INVALID, "truncated or corrupt"
    ),
    "alexa-devices/echo/tiny-echo.png": SourceObject(
        png_bytes(32, 32), "echo", 32, 32, "PNG", INVALID, "it is 32×32 pixels; each side must be 64 to 4096 pixels"
    ),
    "alexa-devices/echo/not-an-image.png": SourceObject(
        b"These are meeting notes saved with the wrong extension.\n" * 4,
        "echo",
        error_code=INVALID,
        error_words="not a PNG or JPEG image",
    ),
    "alexa-devices/echo-dot/echo-dot-image-1.png": SourceObject(png_bytes(200, 150), "echo-dot", 200, 150, "PNG"),
    "alexa-devices/echo-dot/echo-dot-image-2.JPG": SourceObject(jpeg_bytes(1000, 500), "echo-dot", 1000, 500, "JPEG"),
    "alexa-devices/echo-dot/banner.png": SourceObject(
        png_bytes(1344, 64), "echo-dot", 1344, 64, "PNG", INVALID, "aspect ratio is 21.0:1; the maximum is 20:1"
    ),
    "alexa-devices/echo-dot/white-echo-dot/white-echo-dot-image-1.png": SourceObject(
        png_bytes(64, 64, color="white"), "echo-dot", 64, 64, "PNG"
    ),
    "alexa-devices/echo-dot/white-echo-dot/white-echo-dot-image-2.jpeg": SourceObject(
        jpeg_bytes(128, 96, color="white"), "echo-dot", 128, 96, "JPEG"
    ),
    "alexa-devices/x.png": SourceObject(png_bytes(100, 100, color="black"), None, 100, 100, "PNG"),
    "alexa-devices/notes.txt": SourceObject(b"Photos of the Alexa devices, by folder.\n"),
    "alexa-devices-2/echo/echo-image-1.png": SourceObject(png_bytes(640, 480), "echo", 640, 480, "PNG"),
}
# What importing s3://bucket/alexa-devices/ should make images of.
ALEXA_IMAGES = {
    key: obj
    for key, obj in ALEXA_DEVICES.items()
    if key.startswith("alexa-devices/") and key.lower().endswith((".png", ".jpg", ".jpeg"))
}


def seed(s3, bucket: str, objects: dict[str, bytes]) -> None:
    """Put each object into the bucket on the moto server, over HTTP."""
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def seed_alexa_devices(s3, bucket: str) -> None:
    seed(s3, bucket, {key: obj.body for key, obj in ALEXA_DEVICES.items()})


def wait_until(condition: Callable[[], object], *, timeout: float = 60, what: str = "the condition") -> object:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds (a bound, not a timing check)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"Gave up waiting for {what} after {timeout:.0f} s.")
        time.sleep(0.2)
