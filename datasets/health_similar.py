"""Duplicates: the perceptual hash made with each thumbnail, and grouping images that have the same
content (exact) or look alike (near: resized, recompressed, slightly cropped).

Pure: Pillow, imagehash and numpy, no Django. imagehash's pHash (a DCT of the 32×32 grey image,
kept as 64 bits) is the kept library for this: it changes by a few bits when an image is resized,
recompressed or cropped by a few per cent, and by about half its bits between unrelated images.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import imagehash
import numpy as np
from PIL import Image as PILImage

# Hashes at most this many bits apart are near duplicates. In tests/datasets/test_health_similar.py
# resized and recompressed copies come out 0-4 bits apart, most 5% crops 2-8, unrelated images 20+.
NEAR_DISTANCE = 9
_HASH_BITS = 64
# Pigeonhole: split into _BLOCKS blocks, two hashes NEAR_DISTANCE bits apart differ by at most
# NEAR_DISTANCE // _BLOCKS = 1 bit in one of them. So each hash is compared only with the hashes whose
# block equals its own or its own with one bit flipped (multi-index hashing): about 80 million
# comparisons at 100,000 images, where comparing every pair is 5 billion.
_BLOCKS = 5


def perceptual_hash(image: PILImage.Image) -> str:
    """The image's pHash as 16 hex digits (imagehash.phash, 8×8 DCT bits)."""
    return str(imagehash.phash(image))


def exact_groups(items: Iterable[tuple[int, str, int | None]]) -> list[list[int]]:
    """Images with the same content: same ETag (the MD5 of an object written in one part) and size.
    Items are (id, etag, size); images without an ETag are left out. Groups of 2 or more, by first id."""
    by_content: dict[tuple[str, int | None], list[int]] = defaultdict(list)
    for pk, etag, size in items:
        if etag:
            by_content[(etag, size)].append(pk)
    return sorted((sorted(ids) for ids in by_content.values() if len(ids) > 1), key=lambda g: g[0])


def _block_masks() -> list[tuple[int, int, int]]:
    """(shift, bits, mask) of each of the _BLOCKS bit blocks covering the 64 bits."""
    bounds = [round(i * _HASH_BITS / _BLOCKS) for i in range(_BLOCKS + 1)]
    return [(lo, hi - lo, (1 << (hi - lo)) - 1) for lo, hi in zip(bounds, bounds[1:], strict=False)]


def near_pairs(hashes: np.ndarray, *, new: np.ndarray | None = None) -> set[tuple[int, int]]:
    """Index pairs (i < j) of hashes at most NEAR_DISTANCE bits apart; with `new` (a boolean mask),
    only the pairs with at least one new hash, at a cost in proportion to the new ones.

    For each block and each flip of none or one of its bits, the hashes are joined by block value
    with numpy (sort, then searchsorted), and the candidate pairs' distances taken at once (XOR,
    then a popcount).
    """
    pairs: set[tuple[int, int]] = set()
    index = np.arange(len(hashes), dtype=np.int64)
    if new is not None:
        index = index[new]
    for shift, bits, mask in _block_masks():
        keys = (hashes >> np.uint64(shift)) & np.uint64(mask)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        for flip in [0, *(1 << bit for bit in range(bits))]:
            wanted = keys[index] ^ np.uint64(flip)
            lo = np.searchsorted(sorted_keys, wanted, side="left")
            counts = np.searchsorted(sorted_keys, wanted, side="right") - lo
            total = int(counts.sum())
            if not total:
                continue
            # Candidate k pairs hash i with the hash at position lo[i] + (k - first candidate of i).
            starts = np.cumsum(counts) - counts
            i = np.repeat(index, counts)
            j = order[np.arange(total) - np.repeat(starts - lo, counts)]
            # Each pair once: from its first hash, or from its new one when only one is new.
            once = i < j if new is None else (i < j) | ~new[j]
            i, j = np.minimum(i[once], j[once]), np.maximum(i[once], j[once])
            near = np.bitwise_count(hashes[i] ^ hashes[j]) <= NEAR_DISTANCE
            pairs.update(zip(i[near].tolist(), j[near].tolist(), strict=True))
    return pairs


def near_groups(
    items: Sequence[tuple[int, str]],
    *,
    known: Sequence[Sequence[int]] | None = None,
    known_upto: int = 0,
    known_without: Sequence[int] = (),
) -> list[list[int]]:
    """Groups of images whose hashes are near (connected by pairs at most NEAR_DISTANCE bits apart).
    Items are (id, 16-hex-digit hash), in id order.

    Incremental: given `known`, the near groups (before leaving out exact copies) of a check that
    saw every image with an id up to `known_upto` (hashes never change) except `known_without` (it
    had no hash then), only the pairs with a newer image or one of those are searched, and the pairs inside the known groups are taken again, so an image gone
    since breaks a group it held together.
    """
    if len(items) < 2:
        return []
    ids = [pk for pk, _ in items]
    hashes = np.array([int(h, 16) for _, h in items], dtype=np.uint64)
    parent = list(range(len(ids)))
    if known is None:
        found = near_pairs(hashes)
    else:
        position = {pk: n for n, pk in enumerate(ids)}
        id_array = np.array(ids, dtype=np.int64)
        new = (id_array > known_upto) | np.isin(id_array, np.array(list(known_without), dtype=np.int64))
        found = near_pairs(hashes, new=new)
        for group in known:
            at = [position[pk] for pk in group if pk in position]
            found |= {
                (a, b) for a in at for b in at if a < b and bin(int(hashes[a] ^ hashes[b])).count("1") <= NEAR_DISTANCE
            }

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in found:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(len(ids)):
        members[root(i)].append(ids[i])
    return sorted((sorted(group) for group in members.values() if len(group) > 1), key=lambda g: g[0])


def without_exact(groups: Sequence[Sequence[int]], exact: Sequence[Sequence[int]]) -> list[list[int]]:
    """The near groups that hold more than copies of one content (one of the `exact` groups)."""
    content = {pk: n for n, group in enumerate(exact) for pk in group}
    return [list(group) for group in groups if len({content.get(pk, -pk) for pk in group}) > 1]
