"""A manifest entry as an import chunk stores it (plain JSON), and the image and boxes it becomes
once its image's header is read: problems, headline error, boxes scaled to the real image."""

from __future__ import annotations

from .. import rules
from ..errors import MESSAGES, ErrorCode
from ..formats import ground_truth
from .headers import Header


def _problems(errors) -> list[list[str]]:
    return [[error.code, error.message] for error in errors]


def item_of(line_no: int, entry: ground_truth.ManifestEntry) -> dict:
    """What a chunk needs of one entry, in plain JSON."""
    return {
        "line": line_no,
        "ref": entry.source_ref,
        "key": entry.key,
        "labels": list(entry.labels),
        "boxes": [[b.label, b.left, b.top, b.width, b.height, _problems(b.errors)] for b in entry.boxes],
        "size": list(entry.image_size) if entry.image_size else None,
        "errors": _problems(entry.errors),
        "warnings": _problems(entry.warnings),
        "valid": entry.is_valid,
    }


def box_fit(box: list, *, size: list | None, width: int | None, height: int | None) -> tuple[int, int, int, int] | None:
    """The box in the real image's pixels, or None when it is too small there.

    A box is drawn on the image_size the manifest gives; on an image of another size it is scaled
    to that size and kept inside it (spec §5.3). Unknown real size: the manifest's pixels stand.
    """
    _, left, top, w, h, _ = box
    if not (size and width and height) or (size[0], size[1]) == (width, height):
        return left, top, w, h
    sx, sy = width / size[0], height / size[1]
    x0, y0 = max(0, round(left * sx)), max(0, round(top * sy))
    x1, y1 = min(width, round((left + w) * sx)), min(height, round((top + h) * sy))
    if rules.box_too_small(width=x1 - x0, height=y1 - y0, image_width=width, image_height=height):
        return None
    return x0, y0, x1 - x0, y1 - y0


def image_of(item: dict, header: Header) -> tuple[dict, list[tuple[str, int, int, int, int]]]:
    """The Image fields for one entry and its usable boxes in image pixels."""
    image_error = header.error
    problems = []
    if image_error:
        problems.append({"code": ErrorCode.ERROR_INVALID_IMAGE, "message": image_error, "level": "error"})
    problems += [{"code": code, "message": message, "level": "error"} for code, message in item["errors"]]
    boxes = []
    for n, box in enumerate(item["boxes"], start=1):
        errors = box[5]
        fitted = None if errors else box_fit(box, size=item["size"], width=header.width, height=header.height)
        if not errors and fitted is None:
            code = ErrorCode.ERROR_BOUNDING_BOX_TOO_SMALL
            errors = [[code, MESSAGES[code]]]
        problems += [{"code": code, "message": message, "level": "error", "box": n} for code, message in errors]
        if fitted is not None:
            boxes.append((box[0], *fitted))
    # An image the console exported as unlabeled (cl-metadata is_labeled false) comes back as an
    # unlabeled image, under "Unlabeled" as before it left: that warning is about training, not the image.
    problems += [
        {"code": code, "message": message, "level": "warning"}
        for code, message in item["warnings"]
        if code != ErrorCode.WARNING_UNANNOTATED_RECORD
    ]
    headline = next((p for p in problems if p["level"] == "error"), problems[0] if problems else None)
    fields = {
        "format": header.format,
        "width": header.width,
        "height": header.height,
        "size": header.size,
        "etag": header.etag,
        "problems": problems,
        "error_code": headline["code"] if headline else "",
        "error_message": headline["message"] if headline else "",
        "needs_thumbnail": not image_error,
        "is_labeled": bool(item["labels"] or boxes),
    }
    return fields, boxes
