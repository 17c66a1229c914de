"""The datasets app's views, one module per page family; re-exported here for urls.py."""

from .boxes import box_change, box_delete, box_editor, image_boxes
from .datasets import (
    dataset_add_images,
    dataset_create,
    dataset_delete,
    dataset_detail,
    dataset_import_retry,
    dataset_progress,
    dataset_use_as,
    image_detail,
)
from .exports import (
    dataset_export,
    dataset_export_download,
    dataset_export_progress,
    version_export_dataset,
    version_export_progress,
)
from .health import dataset_health, health_summary, project_health
from .labeling import (
    image_label_remove,
    images_labels_assign,
    images_labels_remove,
    label_add,
    label_remove,
    label_rename,
    labeling_undo,
    labels_import,
)
from .operations import dataset_import_jobs, dataset_split, import_job_report, manifest_download, manifest_export
from .uploads import images_upload
from .versions import (
    dataset_versions,
    version_detail,
    version_download,
    version_export,
    version_restore,
    versions_compare,
)

__all__ = [
    "dataset_health",
    "dataset_versions",
    "health_summary",
    "project_health",
    "version_detail",
    "version_download",
    "version_export",
    "version_export_dataset",
    "version_export_progress",
    "version_restore",
    "versions_compare",
    "box_change",
    "box_delete",
    "box_editor",
    "dataset_add_images",
    "dataset_create",
    "dataset_delete",
    "dataset_detail",
    "dataset_export",
    "dataset_export_download",
    "dataset_export_progress",
    "dataset_import_jobs",
    "dataset_import_retry",
    "dataset_progress",
    "dataset_split",
    "dataset_use_as",
    "image_boxes",
    "image_detail",
    "image_label_remove",
    "images_labels_assign",
    "images_labels_remove",
    "images_upload",
    "import_job_report",
    "label_add",
    "label_remove",
    "label_rename",
    "labeling_undo",
    "labels_import",
    "manifest_download",
    "manifest_export",
]
