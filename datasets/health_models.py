"""The health check's kept reports and the dataset versions' frozen rows.

Models only (registered through datasets.models, which imports this module); they refer to the
dataset by name, so this module imports none of datasets.models.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ReportStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    IN_PROGRESS = "IN_PROGRESS", "In progress"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"


class HealthReport(models.Model):
    """One run of "Check dataset": its checks (each pass / warning / fail with a count), the
    manifest summary of §5.7, and what it read (`basis`: the stats_version of every dataset it
    read), so a check of unchanged datasets gives this report again."""

    Status = ReportStatus

    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.CASCADE, related_name="health_reports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    basis = models.JSONField(default=dict, blank=True)
    checks = models.JSONField(default=list, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    # Images whose thumbnail, and so perceptual hash, was still to be made: the near-duplicate check
    # could not look at them, so a later check is not answered with this report.
    unhashed = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["dataset", "-id"], name="healthreport_latest")]

    def __str__(self) -> str:
        return f"health of {self.dataset_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class HealthFinding(models.Model):
    """An image a check of a report is about; `group` numbers the duplicate groups (0 elsewhere).
    The gallery's check filter reads these rows, so it shows exactly the images concerned."""

    report = models.ForeignKey(HealthReport, on_delete=models.CASCADE, related_name="findings", db_index=False)
    check_code = models.CharField(max_length=32)
    image_id = models.BigIntegerField()
    group = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["report", "check_code", "group", "image_id"], name="healthfinding_lookup")]

    def __str__(self) -> str:
        return f"{self.check_code}: {self.image_id}"


class DatasetVersion(models.Model):
    """A dataset frozen under a name: its entries (VersionEntry), label list, statistics and the
    health summary of the moment. Never changed after it is made; deleted with its dataset."""

    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.CASCADE, related_name="versions")
    name = models.CharField("Version name", max_length=255)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    stats_version = models.PositiveBigIntegerField(default=0)
    images = models.PositiveIntegerField(default=0)
    labeled = models.PositiveIntegerField(default=0)
    boxes = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    # {label name: images with it}, every label of the dataset's list, used or not.
    label_counts = models.JSONField(default=dict, blank=True)
    health = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="version_name_unique_per_dataset")]

    def __str__(self) -> str:
        return self.name


class VersionEntry(models.Model):
    """One image of a version, self-contained: where it is, its measurements, errors, image-level
    labels (a JSON array of names, sorted) and boxes (a JSON array of [label, left, top, width,
    height], sorted), as text so two versions' entries compare as strings."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="entries", db_index=False)
    source_ref = models.TextField()
    file_name = models.CharField(max_length=1024)
    format = models.CharField(max_length=8, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    etag = models.CharField(max_length=128, blank=True)
    phash = models.CharField(max_length=16, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    problems = models.TextField(default="[]")
    labels = models.TextField(default="[]")
    boxes = models.TextField(default="[]")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "source_ref"], name="versionentry_unique_ref")]

    def __str__(self) -> str:
        return self.file_name
