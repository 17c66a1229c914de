"""What is done to a whole dataset besides importing: "Download manifest", and its thumbnails.

manifest_export_start  → manifest_export_write     the dataset's manifest streamed to the console bucket (a worker)
thumbnails             the one encoder, making, queueing and sweeping thumbnails, relocating those of copied
                       and moved images (imports.copy, imports.split), deleting a deleted dataset's
"""

from .common import ID_BATCH, QUEUE_DOWN
from .export import manifest_export_fail, manifest_export_key, manifest_export_start, manifest_export_write
from .thumbnails import images_thumbnails_relocate, thumbnails_failed

__all__ = [
    "ID_BATCH",
    "QUEUE_DOWN",
    "images_thumbnails_relocate",
    "manifest_export_fail",
    "manifest_export_key",
    "manifest_export_start",
    "manifest_export_write",
    "thumbnails_failed",
]
