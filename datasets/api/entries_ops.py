"""ListDatasetEntries, ListDatasetLabels, UpdateDatasetEntries: the gallery's entries and label counts,
and the manifest import's reading of Ground Truth lines."""

from __future__ import annotations

import base64
import binascii

from customlabels import s3_names

from .. import counts
from ..errors import DatasetError
from ..imports import entries
from ..models import Dataset
from ..operations import export
from . import arns
from . import params as checks
from .protocol import ApiError

MAX_GROUND_TRUTH_BYTES = 5_242_880


def _listable(dataset) -> None:
    if dataset.status == dataset.Status.CREATE_IN_PROGRESS:
        raise ApiError("ResourceNotReadyException", "The dataset is being created. Wait until it is CREATE_COMPLETE.")


def list_dataset_entries(*, user, params: dict) -> dict:
    """A page of the dataset's entries (manifest lines), filtered. HasErrors false, as scripts send
    it, means no filter; Labeled false means unlabeled images. The last page has no NextToken."""
    labels = checks.string_list(params, "ContainsLabels", min_items=1, max_items=10, max_len=255)
    labeled = checks.boolean(params, "Labeled")
    has_errors = checks.boolean(params, "HasErrors")
    contains = checks.string(params, "SourceRefContains", max_len=2048, pattern=checks.NON_BLANK)
    limit = checks.integer(params, "MaxResults", low=1, high=100, default=100)
    dataset = arns.dataset_arn_param(user=user, params=params)
    scope = f"entries:{dataset.pk}"
    page = checks.page_token(params, scope=scope)
    _listable(dataset)
    filters = export.EntriesFilter(
        labeled=labeled,
        has_errors=bool(has_errors),
        label_names=tuple(labels),
        source_ref_contains=(contains or "").replace("\x00", ""),
    )
    lines, after = export.dataset_entries_page(
        dataset_id=dataset.pk, filters=filters, after=page["after"] if page else None, limit=limit
    )
    answer: dict = {"DatasetEntries": lines}
    if after is not None:
        answer["NextToken"] = checks.page_token_make({"after": after}, scope=scope)
    return answer


def list_dataset_labels(*, user, params: dict) -> dict:
    """The dataset's labels by name with EntryCount (images with the label, on the image or a box)
    and BoundingBoxCount, the counts the gallery shows."""
    limit = checks.integer(params, "MaxResults", low=1, high=100, default=100)
    dataset = arns.dataset_arn_param(user=user, params=params)
    scope = f"labels:{dataset.pk}"
    page = checks.page_token(params, scope=scope)
    _listable(dataset)
    start = page["offset"] if page else 0
    labels = counts.dataset_labels_with_counts(dataset=dataset)
    shown = labels[start : start + limit]
    answer: dict = {
        "DatasetLabelDescriptions": [
            {
                "LabelName": label.name,
                "LabelStats": {"EntryCount": label.image_count, "BoundingBoxCount": label.box_count},
            }
            for label in shown
        ]
    }
    if start + limit < len(labels):
        answer["NextToken"] = checks.page_token_make({"offset": start + limit}, scope=scope)
    return answer


def update_dataset_entries(*, user, params: dict) -> dict:
    """Upsert Ground Truth lines by source-ref; the dataset is UPDATE_IN_PROGRESS when this answers.
    A line that can't be read, or a source-ref the user may not read, refuses the whole change."""
    dataset = arns.dataset_arn_param(user=user, params=params)
    changes = params.get("Changes")
    blob = changes.get("GroundTruth") if isinstance(changes, dict) else None
    if not isinstance(blob, str) or not blob:
        raise checks.invalid("Changes.GroundTruth is required: the JSON lines to add or update.")
    try:
        data = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise checks.invalid("Changes.GroundTruth must be base64-encoded.") from exc
    if len(data) > MAX_GROUND_TRUTH_BYTES:
        raise checks.invalid(f"Changes.GroundTruth holds {len(data):,} bytes; it may hold at most 5,242,880.")
    if dataset.is_in_progress:
        raise ApiError("ResourceInUseException", "The dataset is being created or updated. Wait until it finishes.")
    try:
        entries.dataset_entries_update(dataset=dataset, user=user, data=data)
    except s3_names.S3AccessRefused as exc:
        raise ApiError("AccessDeniedException", str(exc)) from exc
    except DatasetError as exc:
        busy = Dataset.objects.filter(pk=dataset.pk, status__in=Dataset.IN_PROGRESS).exists()
        raise ApiError("ResourceInUseException" if busy else "InvalidParameterException", str(exc)) from exc
    return {}
