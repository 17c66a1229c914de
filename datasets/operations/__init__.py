"""Writes for what is done to a whole dataset besides importing: copy it, "Download manifest", "Create test dataset".

Each runs in a worker once its request has committed:
  dataset_create_copy    → dataset_copy              INSERT … SELECT of images, labels, image labels and boxes
  dataset_split          → dataset_split_run         20% of a training dataset's images move to a new test dataset
  manifest_export_start  → manifest_export_write     the dataset's manifest streamed to the console bucket
A copy or a split leaves images showing another dataset's thumbnails (keys hold the dataset id, and
deleting a dataset removes its prefix); images_thumbnails_relocate then gives them their own.
"""

from ..imports.copy import dataset_copy, dataset_create_copy
from .common import ID_BATCH, QUEUE_DOWN
from .export import manifest_export_fail, manifest_export_key, manifest_export_start, manifest_export_write
from .split import (
    INSUFFICIENT_MESSAGE,
    SPLIT_PERCENT,
    dataset_split,
    dataset_split_fail,
    dataset_split_refusal,
    dataset_split_run,
    dataset_split_source_release,
    split_choose,
)
from .thumbnails import images_thumbnails_relocate, import_thumbnails_failed

__all__ = [
    "ID_BATCH",
    "INSUFFICIENT_MESSAGE",
    "QUEUE_DOWN",
    "SPLIT_PERCENT",
    "dataset_copy",
    "dataset_create_copy",
    "dataset_split",
    "dataset_split_fail",
    "dataset_split_refusal",
    "dataset_split_run",
    "dataset_split_source_release",
    "images_thumbnails_relocate",
    "import_thumbnails_failed",
    "manifest_export_fail",
    "manifest_export_key",
    "manifest_export_start",
    "manifest_export_write",
    "split_choose",
]
