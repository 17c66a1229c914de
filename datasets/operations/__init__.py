"""What is done to a whole dataset besides importing: "Download manifest", and its thumbnails.

manifest_export_start  → manifest_export_write     the dataset's manifest streamed to the console bucket (a worker)
dataset_export_start   → dataset_export_run        Export dataset: COCO, YOLO, VOC, CSV, class folders or Ground Truth,
                       labels only or with the images, as a zip or into an S3 folder (a worker); of the
                       dataset as it is or of a version (version_rows reads its frozen entries)
version_export_start   → manifest_export_write     the same of a version (version_rows reads its entries)
thumbnails             the one encoder, making, queueing and sweeping thumbnails, relocating those of copied
                       and moved images (imports.copy, imports.split), deleting a deleted dataset's
"""

from .export import manifest_export_start, manifest_export_write, version_export_start
from .format_export import dataset_export_start

__all__ = ["dataset_export_start", "manifest_export_start", "manifest_export_write", "version_export_start"]
