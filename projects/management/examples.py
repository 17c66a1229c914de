"""The example folder tree of the S3 import documentation (spec §3.1), drawn with Pillow.

`make run` seeds it into the local S3 server so that a fresh installation has something to import:

    alexa-devices/
        echo/                      -> label "echo"
        echo-dot/                  -> label "echo-dot"
            white-echo-dot/        -> label "echo-dot" (or "white-echo-dot" from alexa-devices/echo-dot/)
        two images at the top      -> unlabeled

The pictures are generated from a fixed seed, so the same key always gets the same bytes.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

EXAMPLES_BUCKET = "custom-labels-examples"
EXAMPLES_PREFIX = "alexa-devices/"

Colour = tuple[int, int, int]

_BODIES: list[Colour] = [(38, 38, 42), (70, 74, 82), (24, 44, 74), (96, 60, 48), (58, 80, 62), (120, 118, 126)]
_WHITES: list[Colour] = [(236, 236, 232), (246, 244, 238), (226, 230, 234), (250, 250, 250)]
_BACKGROUNDS: list[Colour] = [(214, 226, 240), (242, 226, 204), (206, 232, 214), (236, 214, 228), (224, 224, 212)]
_DARK_BACKGROUNDS: list[Colour] = [(52, 62, 80), (74, 54, 62), (44, 70, 66)]
_RING = (64, 200, 255)


@dataclass(frozen=True)
class ExampleImage:
    key: str
    content_type: str
    data: bytes


# (folder under alexa-devices/, file stem, what to draw, how many, which of them are JPEG)
_TREE = [
    ("echo/", "echo-image", "echo", 6, {5, 6}),
    ("echo-dot/", "echo-dot-image", "echo-dot", 6, {4}),
    ("echo-dot/white-echo-dot/", "white-echo-dot-image", "white-echo-dot", 4, {3}),
    ("", "alexa-devices-image", "both", 2, {2}),
]
# A few pictures in other shapes, all inside the documented limits (64–4096 px, aspect ratio ≤ 20:1).
_SIZES = {3: (800, 600), 5: (480, 640)}


def example_images() -> Iterator[ExampleImage]:
    """Every example image, in a stable order."""
    for folder, stem, kind, count, jpeg_numbers in _TREE:
        for number in range(1, count + 1):
            is_jpeg = number in jpeg_numbers
            key = f"{EXAMPLES_PREFIX}{folder}{stem}-{number}.{'jpg' if is_jpeg else 'png'}"
            size = _SIZES.get(number, (640, 480))
            image = _draw(kind, size=size, rng=random.Random(key))
            buffer = io.BytesIO()
            if is_jpeg:
                image.save(buffer, format="JPEG", quality=88)
            else:
                image.save(buffer, format="PNG", optimize=True)
            yield ExampleImage(key=key, content_type="image/jpeg" if is_jpeg else "image/png", data=buffer.getvalue())


def _draw(kind: str, *, size: tuple[int, int], rng: random.Random) -> Image.Image:
    width, height = size
    background = rng.choice(_DARK_BACKGROUNDS if kind == "white-echo-dot" else _BACKGROUNDS)
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    table_top = int(height * rng.uniform(0.68, 0.78))
    draw.rectangle([0, table_top, width, height], fill=_shade(background, -40))

    if kind == "echo":
        _echo(draw, cx=width // 2 + rng.randint(-80, 80), base=table_top + 10, scale=height / 480, rng=rng)
    elif kind in ("echo-dot", "white-echo-dot"):
        colour = rng.choice(_WHITES) if kind == "white-echo-dot" else rng.choice(_BODIES)
        _echo_dot(draw, cx=width // 2 + rng.randint(-90, 90), base=table_top + 14, scale=height / 480, colour=colour)
    else:
        _echo(draw, cx=int(width * 0.32), base=table_top + 10, scale=height / 480, rng=rng)
        _echo_dot(draw, cx=int(width * 0.7), base=table_top + 14, scale=height / 480, colour=rng.choice(_BODIES))

    font = ImageFont.load_default(size=max(18, height // 18))
    text = {"both": "echo + echo-dot", "white-echo-dot": "white echo-dot"}.get(kind, kind)
    draw.text(
        (16, height - 16), text, font=font, anchor="ls", fill=(250, 250, 250), stroke_width=2, stroke_fill=(20, 20, 20)
    )
    return image


def _echo(draw: ImageDraw.ImageDraw, *, cx: int, base: int, scale: float, rng: random.Random) -> None:
    """A tall fabric-covered cylinder with a light ring on its top."""
    half_width, body_height, lid = int(70 * scale), int(250 * scale), int(22 * scale)
    top = base - body_height
    colour = rng.choice(_BODIES)
    draw.ellipse([cx - half_width, base - lid, cx + half_width, base + lid], fill=_shade(colour, -25))
    draw.rectangle([cx - half_width, top, cx + half_width, base], fill=colour)
    # Speaker grille: rows of small holes on the lower two thirds.
    for y in range(top + body_height // 3, base - lid, max(6, int(10 * scale))):
        for x in range(cx - half_width + 8, cx + half_width - 6, max(6, int(10 * scale))):
            draw.ellipse([x, y, x + 3, y + 3], fill=_shade(colour, -30))
    draw.ellipse([cx - half_width, top - lid, cx + half_width, top + lid], fill=_shade(colour, 30))
    draw.ellipse([cx - half_width, top - lid, cx + half_width, top + lid], outline=_RING, width=max(3, int(5 * scale)))


def _echo_dot(draw: ImageDraw.ImageDraw, *, cx: int, base: int, scale: float, colour: Colour) -> None:
    """A flat puck with four buttons and a light ring round its top."""
    half_width, body_height, lid = int(120 * scale), int(60 * scale), int(36 * scale)
    top = base - body_height
    draw.ellipse([cx - half_width, base - lid, cx + half_width, base + lid], fill=_shade(colour, -30))
    draw.rectangle([cx - half_width, top, cx + half_width, base], fill=_shade(colour, -15))
    draw.ellipse([cx - half_width, top - lid, cx + half_width, top + lid], fill=colour)
    draw.ellipse([cx - half_width, top - lid, cx + half_width, top + lid], outline=_RING, width=max(3, int(5 * scale)))
    button = max(5, int(9 * scale))
    for dx, dy in ((-0.45, 0), (0.45, 0), (0, -0.5), (0, 0.5)):
        bx, by = cx + int(dx * half_width), top + int(dy * lid)
        draw.ellipse([bx - button, by - button // 2, bx + button, by + button // 2], fill=_shade(colour, -55))


def _shade(colour: Colour, amount: int) -> Colour:
    return tuple(max(0, min(255, c + amount)) for c in colour)  # type: ignore[return-value]
