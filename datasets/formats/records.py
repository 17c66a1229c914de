"""The plain values the format modules share: an image as an export writes it, an item as an import
reads it, the class list, and the file names an export gives its images. No Django, no S3."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# A box read in normalised coordinates (YOLO) is kept in units of this, so the import scales it to
# the real image size it reads from the image's header, as it does a manifest's boxes.
NORMALISED_SCALE = 1_000_000

SPLITS = ("train", "val")


# Box and ExportImage are made 100,000s of times by an export: plain slotted classes, not frozen
# ones, whose __init__ costs three times as much.
@dataclass(slots=True)
class Box:
    """A bounding box in image pixels: its label, left and top edges, width and height."""

    label: str
    left: float
    top: float
    width: float
    height: float


@dataclass(slots=True)
class ExportImage:
    """One image as an export writes it: where it is (`ref`, an S3 URI), the unique `name` it has in
    the export, its size, its image-level labels, its boxes and the split it belongs to."""

    ref: str
    name: str
    width: int | None
    height: int | None
    labels: tuple[str, ...] = ()
    boxes: tuple[Box, ...] = ()
    split: str = "train"


@dataclass
class ReadItem:
    """One image as an import reads it from a format's file: `ref` is an S3 URI, or a path relative
    to the annotation file's folder; boxes are in the pixels of `size` (which may be
    NORMALISED_SCALE square); `errors` are (code, message) of the item, `box_errors` per box index."""

    ref: str
    source: str
    labels: list[str] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    box_errors: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    size: tuple[int, int] | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)


class FormatError(ValueError):
    """A file that is not of the format at all: the import stops with this message."""


def classes_of(names: Iterable[str]) -> list[str]:
    """The class list of an export: every label name once, sorted, so class ids are stable for a
    dataset whose labels do not change (YOLO ids count from 0, COCO category ids from 1)."""
    return sorted(set(names))


class UniqueNames:
    """Unique file names per split, given in order: a name whose stem was given before in the split
    gets `-2`, `-3`, … before its extension (label files are named by stem). An import that reads
    a split's list of images in the same order finds the same names."""

    def __init__(self) -> None:
        self.seen: dict[str, set[str]] = {}

    def __call__(self, split: str, raw: str) -> str:
        seen = self.seen.get(split)
        if seen is None:
            seen = self.seen[split] = set()
        name = raw.rpartition("/")[2] or "image"
        dot = name.rfind(".")
        stem, ext = (name[:dot], name[dot:]) if dot > 0 else (name, "")
        key = stem.lower()
        if key not in seen:
            seen.add(key)
            return name
        n = 2
        while f"{key}-{n}" in seen:
            n += 1
        seen.add(f"{key}-{n}")
        return f"{stem}-{n}{ext}"


def names_unique(file_names: Iterable[str]) -> list[str]:
    """UniqueNames of one split for a whole list."""
    unique = UniqueNames()
    return [unique("", name) for name in file_names]


def stem_of(name: str) -> str:
    """The name without its extension (a leading dot is no extension), as UniqueNames reads it."""
    dot = name.rfind(".")
    return name[:dot] if dot > 0 else name


def box_outside(box: Box, size: tuple[int, int] | None) -> bool:
    """Whether the box leaves the image (half a pixel of rounding allowed)."""
    if size is None:
        return box.left < 0 or box.top < 0
    width, height = size
    slack = 0.5
    return (
        box.left < -slack
        or box.top < -slack
        or box.left + box.width > width + slack
        or box.top + box.height > height + slack
        or box.width <= 0
        or box.height <= 0
    )
