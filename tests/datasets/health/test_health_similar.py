"""Near duplicates by perceptual hash: resized and recompressed copies are found, different images are not."""

import io
import random

import numpy as np
from PIL import Image, ImageDraw

from datasets.health_similar import exact_groups, near_groups, perceptual_hash
from datasets.operations.thumbnails import thumbnail_make


def scene(seed: int, width: int = 640, height: int = 480) -> Image.Image:
    rnd = random.Random(seed)
    img = Image.new("RGB", (width, height), tuple(rnd.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rnd.randrange(width), rnd.randrange(height)
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape(
            (x, y, x + rnd.randrange(40, 300), y + rnd.randrange(40, 300)),
            fill=tuple(rnd.randrange(256) for _ in range(3)),
        )
    return img


def encoded(img: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def hash_of(img: Image.Image, fmt: str = "JPEG", **options) -> str:
    """The hash as the thumbnail maker computes it from the stored file."""
    return thumbnail_make(encoded(img, fmt, **options))[1]


def test_resized_recompressed_and_slightly_cropped_copies_are_near_duplicates_and_others_are_not():
    items, expected = [], []
    pk = 0
    for seed in range(8):
        original = scene(seed)
        copies = [
            hash_of(original, "PNG"),
            hash_of(original.resize((320, 240)), quality=90),
            hash_of(original, quality=20),
            hash_of(original.crop((8, 6, 632, 474)), quality=85),
        ]
        group = []
        for h in copies:
            pk += 1
            items.append((pk, h))
            group.append(pk)
        expected.append(group)
    for seed in range(100, 140):  # unrelated images, one each
        pk += 1
        items.append((pk, hash_of(scene(seed))))
    assert near_groups(items) == expected


def test_a_hash_is_16_hex_digits_and_the_thumbnail_and_the_hash_come_from_one_decode():
    img = scene(1)
    thumb, phash = thumbnail_make(encoded(img, "PNG"))
    assert len(phash) == 16 and int(phash, 16) >= 0
    assert Image.open(io.BytesIO(thumb)).size == (256, 192)
    assert perceptual_hash(Image.open(io.BytesIO(thumb)).convert("RGB")) != ""


def test_the_incremental_grouping_equals_a_full_one():
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2**63, size=3000, dtype=np.uint64)
    hashes = [int(h) for h in base]
    # 40 near copies (3 bits flipped) of earlier hashes, spread through the ids.
    for n in range(40):
        hashes.append(hashes[n * 50] ^ 0b10010001)
    items = [(pk, f"{h:016x}") for pk, h in enumerate(hashes, start=1)]
    full = near_groups(items)
    known = near_groups(items[:2000])
    assert near_groups(items, known=known, known_upto=2000) == full
    assert len(full) == 40
    # An image gone since breaks the group it was in.
    gone = full[0][0]
    rest = [item for item in items if item[0] != gone]
    assert near_groups(rest, known=full, known_upto=len(items)) == near_groups(rest)


def test_exact_groups_need_the_same_etag_and_size():
    assert exact_groups([(1, "a", 5), (2, "a", 5), (3, "a", 6), (4, "", 5), (5, "", 5)]) == [[1, 2]]
