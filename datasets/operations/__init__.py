"""What is done to a whole dataset besides importing: "Download manifest", and its thumbnails.

manifest_export_start  → manifest_export_write     the dataset's manifest streamed to the console bucket (a worker)
version_export_start   → manifest_export_write     the same of a version (version_rows reads its entries)
thumbnails             the one encoder, making, queueing and sweeping thumbnails, relocating those of copied
                       and moved images (imports.copy, imports.split), deleting a deleted dataset's
"""

from .export import manifest_export_start, manifest_export_write, version_export_start

__all__ = ["manifest_export_start", "manifest_export_write", "version_export_start"]
