"""The statuses every job a worker does for a dataset shares, and the exports' models.

Models only (registered through datasets.models, which imports this module); they refer to the
dataset by name, so this module imports none of datasets.models.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    """The statuses of the work a worker does for a dataset: an import job, a manifest export."""

    QUEUED = "QUEUED", "Queued"
    # An import of a user who has IMPORTS_PER_USER running already: it starts when one of them ends.
    WAITING = "WAITING", "Waiting for your other imports to finish"
    IN_PROGRESS = "IN_PROGRESS", "In progress"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"


class ExportJob(models.Model):
    """What an export request holds whatever it writes: who asked, how it went, when."""

    Status = JobStatus

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    size = models.BigIntegerField(default=0)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class ManifestExport(ExportJob):
    """A "Download manifest" request: a worker writes the dataset's manifest to the console bucket."""

    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.CASCADE, related_name="manifest_exports")
    # The version exported, or None for the dataset as it is.
    version = models.ForeignKey(
        "datasets.DatasetVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="manifest_exports"
    )
    # The dataset's stats_version when the export started: an export of an unchanged dataset is reused.
    stats_version = models.PositiveBigIntegerField(default=0)
    key = models.CharField(max_length=1024, blank=True, help_text="Where the manifest is in the console bucket.")
    lines = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"manifest of {self.dataset} ({self.status})"


class DatasetExport(ExportJob):
    """An "Export dataset" request: a worker writes the dataset in a training format, as a zip in the
    owner's console storage (downloaded through the console) or as files under an S3 prefix."""

    class Format(models.TextChoices):
        COCO = "COCO", "COCO object detection (JSON)"
        YOLO = "YOLO", "Ultralytics YOLO object detection"
        YOLO_CLASSIFY = "YOLO_CLASSIFY", "YOLO classification (a folder per class)"
        VOC = "VOC", "Pascal VOC (XML)"
        CSV = "CSV", "CSV (a row per label or bounding box)"
        GROUND_TRUTH = "GROUND_TRUTH", "SageMaker Ground Truth manifest"

    class Destination(models.TextChoices):
        DOWNLOAD = "DOWNLOAD", "Download a zip file"
        S3 = "S3", "Write to an S3 folder"

    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.CASCADE, related_name="exports")
    # The version exported (its frozen entries), or None for the dataset as it is.
    version = models.ForeignKey(
        "datasets.DatasetVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="exports"
    )
    format = models.CharField(max_length=16, choices=Format.choices)
    include_images = models.BooleanField(default=False)
    destination = models.CharField(max_length=8, choices=Destination.choices, default=Destination.DOWNLOAD)
    # The S3 folder of an export to S3 (Destination.S3): the files go under s3://bucket/prefix.
    bucket = models.CharField(max_length=63, blank=True)
    prefix = models.CharField(max_length=1024, blank=True)
    # The share of images a YOLO export puts in "val" when the project has no training + test pair
    # (and always for a version: its own entries are split).
    val_percent = models.PositiveSmallIntegerField(default=20)
    images_total = models.PositiveIntegerField(default=0)
    images_done = models.PositiveIntegerField(default=0)
    files = models.PositiveIntegerField(default=0, help_text="Files written.")
    key = models.CharField(max_length=1024, blank=True, help_text="The zip in the console bucket (a download).")

    def __str__(self) -> str:
        return f"{self.get_format_display()} of {self.dataset} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        return min(99, int(100 * self.images_done / self.images_total)) if self.images_total else 0

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.destination == self.Destination.S3 else ""
