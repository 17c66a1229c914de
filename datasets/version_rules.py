"""What changed in one image between two versions: labels added and removed, boxes added, removed
and moved. Pure: plain values in and out.

Boxes are (label, left, top, width, height). A box that is in both sides exactly is unchanged; the
others of one label are paired, closest first (by the distance of their centres), as the same box
moved; what is left over was added or removed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

Box = tuple[str, int, int, int, int]


@dataclass
class EntryChange:
    labels_added: list[str] = field(default_factory=list)
    labels_removed: list[str] = field(default_factory=list)
    boxes_added: list[Box] = field(default_factory=list)
    boxes_removed: list[Box] = field(default_factory=list)
    boxes_moved: list[tuple[Box, Box]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.labels_added or self.labels_removed or self.boxes_added or self.boxes_removed or self.boxes_moved
        )


def _centre(box: Sequence) -> tuple[float, float]:
    return box[1] + box[3] / 2, box[2] + box[4] / 2


def entry_change(
    *,
    labels_before: Sequence[str],
    boxes_before: Sequence[Sequence],
    labels_after: Sequence[str],
    boxes_after: Sequence[Sequence],
) -> EntryChange:
    """The change from `before` to `after` of one image (labels and boxes as versions keep them)."""
    change = EntryChange(
        labels_added=sorted(set(labels_after) - set(labels_before)),
        labels_removed=sorted(set(labels_before) - set(labels_after)),
    )
    before, after = Counter(tuple(b) for b in boxes_before), Counter(tuple(b) for b in boxes_after)
    gone, new = before - after, after - before
    by_label_gone: dict[str, list[Box]] = defaultdict(list)
    by_label_new: dict[str, list[Box]] = defaultdict(list)
    for box in sorted(gone.elements()):
        by_label_gone[box[0]].append(box)
    for box in sorted(new.elements()):
        by_label_new[box[0]].append(box)
    for label in sorted(set(by_label_gone) | set(by_label_new)):
        olds, news = by_label_gone.get(label, []), by_label_new.get(label, [])
        candidates = sorted(
            (
                (_centre(o)[0] - _centre(n)[0]) ** 2 + (_centre(o)[1] - _centre(n)[1]) ** 2,
                i,
                j,
            )
            for i, o in enumerate(olds)
            for j, n in enumerate(news)
        )
        used_old, used_new = set(), set()
        for _, i, j in candidates:
            if i not in used_old and j not in used_new:
                used_old.add(i)
                used_new.add(j)
                change.boxes_moved.append((olds[i], news[j]))
        change.boxes_removed += [o for i, o in enumerate(olds) if i not in used_old]
        change.boxes_added += [n for j, n in enumerate(news) if j not in used_new]
    return change


@dataclass
class CompareCounts:
    """The totals of a comparison: images added, removed and changed; labels and boxes per image."""

    images_added: int = 0
    images_removed: int = 0
    images_changed: int = 0
    labels_added: int = 0
    labels_removed: int = 0
    boxes_added: int = 0
    boxes_removed: int = 0
    boxes_moved: int = 0

    def add(self, change: EntryChange) -> None:
        self.images_changed += 1
        self.labels_added += len(change.labels_added)
        self.labels_removed += len(change.labels_removed)
        self.boxes_added += len(change.boxes_added)
        self.boxes_removed += len(change.boxes_removed)
        self.boxes_moved += len(change.boxes_moved)
