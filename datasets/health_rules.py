"""The health check's rules: plain rows of a dataset in, checks out, each pass / warning / fail
with a count and the ids of exactly the images it is about.

Pure: no Django, no database, no S3 (the datasets.health module reads the rows and keeps the
report). Rekognition's training-time rules come from spec §4, §5.4 and §5.7; the others
(unlabeled images, rare labels, imbalance, duplicates) are the console's own advice.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from . import rules
from .health_similar import exact_groups, without_exact

MAX_LABELS = 250
MIN_LABELS_CLASSIFICATION = 2
MIN_LABELS_DETECTION = 1
MAX_LABELS_PER_IMAGE = 50
RECOMMENDED_IMAGES = 10  # "Use at least 10 images to train your model." (md-prepare-images.md)
RARE_LABEL_IMAGES = 5  # a label on fewer images than this is too little for the model to learn it
IMBALANCE_RATIO = 10  # a label with a tenth of the images of the most common one is under-represented
MIN_LABEL_OVERLAP_PERCENT = 50
FORMATS = ("JPEG", "PNG")

PASS, WARNING, FAIL = "pass", "warning", "fail"


@dataclass(slots=True)
class Row:
    """One image as the rules see it. `error_code` is its headline error-level problem, if any;
    `boxes` are (label, left, top, width, height) in image pixels."""

    id: int
    source_ref: str
    width: int | None
    height: int | None
    format: str
    size: int | None
    etag: str
    phash: str
    error_code: str
    labels: tuple[str, ...] = ()
    boxes: tuple[tuple, ...] = ()


@dataclass
class Check:
    """One check's outcome: `image_ids` the images it concerns (the gallery's filter), `groups`
    the duplicate groups (lists of image ids), `labels` the labels it names."""

    code: str
    title: str
    level: str
    count: int
    message: str
    image_ids: list[int] = field(default_factory=list)
    groups: list[list[int]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        """What the report keeps of the check (its images are kept as finding rows)."""
        return {
            "code": self.code,
            "title": self.title,
            "level": self.level,
            "count": self.count,
            "message": self.message,
            "images": len(self.image_ids),
            "groups": [len(group) for group in self.groups],
            "labels": self.labels[:50],
        }


def _check(code, title, bad: Sequence[int], *, level: str, ok: str, problem: str, **extra) -> Check:
    if not bad:
        return Check(code, title, PASS, 0, ok, **extra)
    return Check(code, title, level, len(bad), problem.format(n=len(bad)), image_ids=sorted(bad), **extra)


def use_case(rows: Sequence[Row]) -> str:
    """§5.7's use_case: image-level labels only, boxes only, or NOT_DETERMINED (both, or neither)."""
    has_labels = any(row.labels for row in rows)
    has_boxes = any(row.boxes for row in rows)
    if has_labels and not has_boxes:
        return "IMAGE_LEVEL_LABELS"
    if has_boxes and not has_labels:
        return "OBJECT_LOCALIZATION"
    return "NOT_DETERMINED"


def row_invalid(row: Row) -> bool:
    """Whether the row is an invalid JSON line for training: an image error, or a limit a line breaks."""
    return (
        bool(row.error_code)
        or limits_broken(row)
        or len(row.boxes) > rules.MAX_BOXES_PER_IMAGE
        or (len(set(row.labels) | {box[0] for box in row.boxes}) > MAX_LABELS_PER_IMAGE)
    )


def limits_broken(row: Row) -> bool:
    """Whether the measured image breaks §4's format, size or dimension limits."""
    if row.width is None or row.height is None:
        return False
    if row.format and row.format.upper() not in FORMATS:
        return True
    return rules.image_limits_error(width=row.width, height=row.height, size=row.size or 0) is not None


def row_labels(row: Row) -> set[str]:
    return set(row.labels) | {box[0] for box in row.boxes}


def label_images(rows: Iterable[Row]) -> Counter:
    """{label: valid images with it}: what training counts a label by."""
    counts: Counter = Counter()
    for row in rows:
        if not row_invalid(row):
            counts.update(row_labels(row))
    return counts


def dataset_checks(rows: Sequence[Row], *, label_list: Sequence[str], near: Sequence[Sequence[int]]) -> list[Check]:
    """Every check of one dataset, in the order the report shows them. `near` are the groups of
    images whose perceptual hashes are near (health_similar.near_groups)."""
    counts = label_images(rows)
    used = sorted(counts)
    detection = any(row.boxes for row in rows)
    minimum = MIN_LABELS_DETECTION if detection else MIN_LABELS_CLASSIFICATION
    kind = "an object detection" if detection else "an image classification"
    invalid = [row.id for row in rows if row_invalid(row)]
    checks = [
        Check(
            "labels_minimum",
            "Enough labels",
            PASS if len(used) >= minimum else FAIL,
            len(used),
            f"{len(used)} label{'s' * (len(used) != 1)} on valid images; {kind} dataset needs at least {minimum}.",
            labels=used,
        ),
        Check(
            "labels_maximum",
            "At most 250 labels",
            PASS if len(label_list) <= MAX_LABELS else FAIL,
            len(label_list),
            f"{len(label_list)} labels; a dataset can have at most {MAX_LABELS}.",
        ),
        _check(
            "labels_per_image",
            "At most 50 labels per image",
            [row.id for row in rows if len(row_labels(row)) > MAX_LABELS_PER_IMAGE],
            level=FAIL,
            ok="No image has more than 50 labels.",
            problem="{n} images have more than 50 labels; training does not use them.",
        ),
        _check(
            "boxes_per_image",
            "At most 50 bounding boxes per image",
            [row.id for row in rows if len(row.boxes) > rules.MAX_BOXES_PER_IMAGE],
            level=FAIL,
            ok="No image has more than 50 bounding boxes.",
            problem="{n} images have more than 50 bounding boxes (ERROR_TOO_MANY_BOUNDING_BOXES).",
        ),
        _check(
            "boxes_too_small",
            "Bounding boxes larger than 1×1 after resizing",
            [row.id for row in rows if _small_box(row)],
            level=WARNING,
            ok="Every bounding box is larger than 1×1 pixels once images are resized to 1,280 pixels.",
            problem="{n} images have a bounding box of 1 pixel or less once resized to 1,280 pixels "
            "(ERROR_BOUNDING_BOX_TOO_SMALL); training leaves those boxes out.",
        ),
        _check(
            "image_errors",
            "Images within the limits",
            [row.id for row in rows if row.error_code or limits_broken(row)],
            level=WARNING,
            ok="Every image is a PNG or JPEG of at most 15 MB and 64 to 4,096 pixels a side.",
            problem="{n} images have errors or break the image limits; training does not use them.",
        ),
        Check(
            "invalid_share",
            "At most 20% invalid images",
            FAIL if rules.too_many_invalid(invalid=len(invalid), total=len(rows)) else PASS,
            len(invalid),
            f"{len(invalid)} of {len(rows)} images are invalid"
            f" ({_percent(len(invalid), len(rows))}); training fails above {rules.MAX_INVALID_PERCENT}%.",
            image_ids=invalid,
        ),
        _minimum_images(rows),
        _check(
            "unlabeled",
            "Every image labeled",
            [row.id for row in rows if not row_labels(row)] if any(row_labels(row) for row in rows) else [],
            level=WARNING,
            ok="Every image has a label or a bounding box.",
            problem="{n} images have no label and no bounding box; training ignores them.",
        ),
        *_label_balance(rows, counts, label_list),
        *_duplicates(rows, near),
    ]
    return checks


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0%"


def _small_box(row: Row) -> bool:
    if not row.width or not row.height:
        return False
    return any(
        rules.box_too_small(width=box[3], height=box[4], image_width=row.width, image_height=row.height)
        for box in row.boxes
    )


def _minimum_images(rows: Sequence[Row]) -> Check:
    usable = sum(1 for row in rows if row_labels(row) and not row_invalid(row))
    ok = usable >= RECOMMENDED_IMAGES
    return Check(
        "images_minimum",
        "At least 10 labeled images",
        PASS if ok else WARNING,
        usable,
        f"{usable} valid labeled images; use at least {RECOMMENDED_IMAGES} images to train your model.",
    )


def _label_balance(rows: Sequence[Row], counts: Counter, label_list: Sequence[str]) -> list[Check]:
    """Rare labels (fewer than RARE_LABEL_IMAGES images, unused ones included) and strong imbalance."""
    all_counts = {name: counts.get(name, 0) for name in label_list} | dict(counts)
    rare = sorted(name for name, n in all_counts.items() if n < RARE_LABEL_IMAGES)
    largest = max(counts.values(), default=0)
    minority = sorted(name for name, n in counts.items() if n * IMBALANCE_RATIO < largest)
    by_label: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        for name in row_labels(row):
            by_label[name].append(row.id)

    def images(names) -> list[int]:
        return sorted({pk for name in names for pk in by_label.get(name, ())})

    return [
        Check(
            "rare_labels",
            "Enough images per label",
            WARNING if rare else PASS,
            len(rare),
            f"{len(rare)} labels are on fewer than {RARE_LABEL_IMAGES} valid images: {', '.join(rare[:10])}"
            f"{'…' if len(rare) > 10 else ''}."
            if rare
            else f"Every label is on at least {RARE_LABEL_IMAGES} valid images.",
            image_ids=images(rare),
            labels=rare,
        ),
        Check(
            "imbalance",
            "Balanced labels",
            WARNING if minority else PASS,
            len(minority),
            f"{len(minority)} labels have less than a tenth of the {largest} images of the most common label."
            if minority
            else "No label has less than a tenth of the images of the most common one.",
            image_ids=images(minority),
            labels=minority,
        ),
    ]


def _duplicates(rows: Sequence[Row], near_all: Sequence[Sequence[int]]) -> list[Check]:
    exact = exact_groups([(row.id, row.etag, row.size) for row in rows])
    near = without_exact(near_all, exact)
    return [
        Check(
            "exact_duplicates",
            "No duplicate images",
            WARNING if exact else PASS,
            sum(len(g) for g in exact),
            f"{sum(len(g) for g in exact)} images in {len(exact)} group{'s' * (len(exact) != 1)} have the same content."
            if exact
            else "No two images have the same content.",
            image_ids=sorted(pk for group in exact for pk in group),
            groups=exact,
        ),
        Check(
            "near_duplicates",
            "No near duplicates",
            WARNING if near else PASS,
            sum(len(g) for g in near),
            f"{sum(len(g) for g in near)} images in {len(near)} group{'s' * (len(near) != 1)} look alike "
            "(resized, recompressed or slightly cropped copies)."
            if near
            else "No images look alike.",
            image_ids=sorted(pk for group in near for pk in group),
            groups=near,
        ),
    ]


def pair_checks(rows: Sequence[Row], other: Sequence[Row], *, training: bool) -> list[Check]:
    """The project-level checks of a dataset (`rows`) against the project's other one (`other`):
    the test labels' overlap with the training labels (§5.4: common labels / training labels ≥ 50%),
    labels only one of them has, and the same image in both (leakage: same S3 object or same content)."""
    train, test = (rows, other) if training else (other, rows)
    train_labels, test_labels = set(label_images(train)), set(label_images(test))
    common = train_labels & test_labels
    overlap = 100 * len(common) / len(train_labels) if train_labels else 0
    only = sorted((train_labels ^ test_labels) & row_labels_all(rows)) if rows else []
    only_images = sorted(row.id for row in rows if row_labels(row) & set(only))
    seen_refs = {row.source_ref for row in other}
    seen_content = {(row.etag, row.size) for row in other if row.etag}
    leaked = sorted(
        row.id for row in rows if row.source_ref in seen_refs or (row.etag and (row.etag, row.size) in seen_content)
    )
    return [
        Check(
            "label_overlap",
            "Test labels overlap training labels",
            PASS if overlap >= MIN_LABEL_OVERLAP_PERCENT else FAIL,
            len(common),
            f"{len(common)} of the {len(train_labels)} training labels are in the test dataset ({overlap:.0f}%); "
            f"training needs at least {MIN_LABEL_OVERLAP_PERCENT}% (ERROR_INSUFFICIENT_LABEL_OVERLAP).",
            labels=sorted(common),
        ),
        Check(
            "labels_one_side",
            "Labels in both datasets",
            WARNING if only else PASS,
            len(only),
            f"{len(only)} labels of this dataset are not in the {'test' if training else 'training'} dataset: "
            f"{', '.join(only[:10])}{'…' if len(only) > 10 else ''}."
            if only
            else "Every label of this dataset is in the other one too.",
            image_ids=only_images,
            labels=only,
        ),
        _check(
            "leakage",
            "No image in both training and test",
            leaked,
            level=FAIL,
            ok="No image is in both the training and the test dataset.",
            problem="{n} images are also in the " + ("test" if training else "training") + " dataset; "
            "test images should not be training images.",
        ),
    ]


def row_labels_all(rows: Iterable[Row]) -> set[str]:
    return {name for row in rows for name in row_labels(row)}
