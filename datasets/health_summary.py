"""§5.7's manifest summary (manifest_summary.json) from the health check's rows: each dataset's line
counts and errors, and the errors that span a training and a test dataset.

Pure, as health_rules is: no Django, no database, no S3."""

from __future__ import annotations

from collections.abc import Sequence

from . import rules
from .health_rules import (
    FAIL,
    MAX_LABELS,
    MIN_LABEL_OVERLAP_PERCENT,
    MIN_LABELS_CLASSIFICATION,
    MIN_LABELS_DETECTION,
    Check,
    Row,
    label_images,
    row_invalid,
    row_labels,
    use_case,
)


def manifest_statistics(rows: Sequence[Row]) -> dict:
    """One dataset's part of §5.7's manifest summary, its lines in the order Download manifest
    writes them (the rows' order); `error_json_line_indices` counts from 0."""
    invalid = [n for n, row in enumerate(rows) if row_invalid(row)]
    ignored = sum(1 for row in rows if not row_invalid(row) and not row_labels(row))
    errors = []
    if rules.too_many_invalid(invalid=len(invalid), total=len(rows)):
        errors.append(
            {
                "code": "ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST",
                "message": "The manifest file contains too many invalid rows.",
            }
        )
    labels = label_images(rows)
    minimum = MIN_LABELS_DETECTION if any(row.boxes for row in rows) else MIN_LABELS_CLASSIFICATION
    if len(labels) < minimum:
        errors.append({"code": "ERROR_MANIFEST_TOO_FEW_LABELS", "message": "The manifest file has too few labels."})
    if len(labels) > MAX_LABELS:
        errors.append({"code": "ERROR_MANIFEST_TOO_MANY_LABELS", "message": "The manifest file has too many labels."})
    return {
        "use_case": use_case(rows),
        "total_json_lines": len(rows),
        "valid_json_lines": len(rows) - len(invalid) - ignored,
        "invalid_json_lines": len(invalid),
        "ignored_json_lines": ignored,
        "error_json_line_indices": invalid,
        "errors": errors,
    }


def manifest_summary(*, training: dict | None, testing: dict | None, overlap: Check | None) -> dict:
    """§5.7's manifest_summary.json: the statistics of the datasets checked and the errors that span both."""
    errors = []
    if overlap is not None and overlap.level == FAIL:
        errors.append(
            {
                "code": "ERROR_INSUFFICIENT_LABEL_OVERLAP",
                "message": f"Less than {MIN_LABEL_OVERLAP_PERCENT}% label overlap between the training and "
                "testing manifest files.",
            }
        )
    statistics = {}
    if training is not None:
        statistics["training"] = training
    if testing is not None:
        statistics["testing"] = testing
    return {"statistics": statistics, "errors": errors}
