from __future__ import annotations

from collections import Counter

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q

from projects.models import Project

# The exports' models and the statuses every job shares, registered with the app's other models.
from .job_models import DatasetExport, JobStatus, ManifestExport  # noqa: F401


class Dataset(models.Model):
    class Status(models.TextChoices):
        CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
        CREATE_COMPLETE = "CREATE_COMPLETE"
        CREATE_FAILED = "CREATE_FAILED"
        UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
        UPDATE_COMPLETE = "UPDATE_COMPLETE"
        UPDATE_FAILED = "UPDATE_FAILED"
        DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"

    class StatusMessageCode(models.TextChoices):
        SUCCESS = "SUCCESS"
        SERVICE_ERROR = "SERVICE_ERROR"
        CLIENT_ERROR = "CLIENT_ERROR"

    class Type(models.TextChoices):
        TRAIN = "TRAIN", "Training"
        TEST = "TEST", "Test"

    IN_PROGRESS = (Status.CREATE_IN_PROGRESS, Status.UPDATE_IN_PROGRESS, Status.DELETE_IN_PROGRESS)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField("Dataset name", max_length=255)
    dataset_type = models.CharField(max_length=8, choices=Type.choices, default=Type.TRAIN)
    # The project's training (TRAIN) or test (TEST) dataset, as the API and training know it: at most
    # one of each per project. The console's other datasets keep their type and are not the project's.
    is_project_dataset = models.BooleanField(default=False)
    # The tags of TagResource / CreateDataset's Tags: {key: value}.
    tags = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.CREATE_IN_PROGRESS)
    status_message = models.TextField(blank=True)
    status_message_code = models.CharField(max_length=16, choices=StatusMessageCode.choices, blank=True)
    arn_suffix = models.BigIntegerField()
    # Bumped in the transaction of every change to the dataset's images, labels or boxes; the
    # gallery's statistics are cached under it, so a cached figure is never older than a commit.
    stats_version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="dataset_name_unique_per_project"),
            models.UniqueConstraint(
                fields=["project", "dataset_type"],
                condition=Q(is_project_dataset=True),
                name="dataset_one_train_one_test_per_project",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def arn(self) -> str:
        return (
            f"arn:aws:rekognition:{settings.AWS_DEFAULT_REGION}:{self.project.account_id}:"
            f"project/{self.project.name}/dataset/{self.dataset_type.lower()}/{self.arn_suffix}"
        )

    @property
    def is_in_progress(self) -> bool:
        return self.status in self.IN_PROGRESS

    @property
    def never_created(self) -> bool:
        """Its creation failed (CREATE_FAILED): it takes no images, manifest or split, only a retry or deletion."""
        return self.status == self.Status.CREATE_FAILED


class Label(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="label_name_unique_per_dataset")]

    def __str__(self) -> str:
        return self.name


class ImportJob(models.Model):
    class Source(models.TextChoices):
        S3_FOLDER = "S3_FOLDER", "Import images from S3 bucket"
        UPLOAD = "UPLOAD", "Upload images from your computer"
        MANIFEST = "MANIFEST", "Import images labeled by SageMaker Ground Truth"
        COPY = "COPY", "Copy an existing Amazon Rekognition Custom Labels dataset"
        FORMAT = "FORMAT", "Import from COCO, YOLO, Pascal VOC or CSV files"
        SPLIT = "SPLIT", "20% of a training dataset (Create test dataset)"
        ENTRIES = "ENTRIES", "Entries added or updated through the API (UpdateDatasetEntries)"

    Status = JobStatus

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="import_jobs")
    source = models.CharField(max_length=16, choices=Source.choices)
    parameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    message = models.TextField(blank=True)
    # Filled by the listing task as it goes.
    found = models.PositiveIntegerField(default=0, help_text="Images found in the source.")
    skipped = models.PositiveIntegerField(default=0, help_text="Objects that are not images.")
    already_present = models.PositiveIntegerField(default=0, help_text="Images the dataset already held.")
    # Kept by the chunks as they go, so neither the dataset limit nor the progress panel counts images.
    new_images = models.PositiveIntegerField(
        default=0, help_text="Images found that the dataset did not hold: what the job's chunks insert."
    )
    inserted = models.PositiveIntegerField(default=0, help_text="Images the job's chunks inserted so far.")
    inserted_with_errors = models.PositiveIntegerField(
        default=0, help_text="Images the job's chunks inserted so far with an error."
    )
    moved_out = models.PositiveIntegerField(
        default=0, help_text="Images of this import that Create test dataset moved to the test dataset since."
    )
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    listing_done = models.BooleanField(default=False)
    thumbnails_error = models.TextField(blank=True, help_text="Why thumbnails could not be made, if they could not.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="importjob_status_heartbeat")]

    def __str__(self) -> str:
        return f"{self.get_source_display()} → {self.dataset}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def source_location(self) -> str:
        """The S3 URI the import read: the folder of an S3-folder import, the manifest file of a
        manifest import; empty for the other sources."""
        bucket = self.parameters.get("bucket")
        if not bucket:
            return ""
        if self.source in (self.Source.MANIFEST, self.Source.FORMAT):
            return f"s3://{bucket}/{self.parameters.get('key', '')}"
        return f"s3://{bucket}/{self.parameters.get('prefix', '')}"


class ImportChunk(models.Model):
    """One listing page's images, handed to one worker task. `seq` makes a re-listed page idempotent.

    Stored chunks wait until their import has fewer than IMPORT_CHUNKS_IN_FLIGHT queued and not
    done; `queued` says that a task was sent for the chunk (imports.jobs.chunks_queue).
    """

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    items = models.JSONField(default=list)
    queued = models.BooleanField(default=False)
    done = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="importchunk_unique_seq")]

    def __str__(self) -> str:
        return f"chunk {self.seq} of job {self.job_id}"


class ImportReportItem(models.Model):
    """A source item that was not imported, listed in the import's CSV report: an S3 object that is
    not an image, a manifest line the console drops (key "line <n>"), an uploaded file refused."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="report_items")
    key = models.TextField()
    code = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=255)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "key"], name="importreport_unique_key")]

    def __str__(self) -> str:
        return self.key


class ImageQuerySet(models.QuerySet):
    """Labeled means one thing everywhere (gallery filter and counts, statistics, split, export):
    the image has an image-level label or a bounding box. `is_labeled` keeps that answer, written
    with the rows by the services that add or remove labels and boxes (see `labeled_condition`)."""

    def labeled(self) -> ImageQuerySet:
        return self.filter(is_labeled=True)


class Image(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="images")
    source_ref = models.TextField("source-ref")
    file_name = models.CharField(max_length=1024, db_index=False)
    # Indexed by image_import_job below (not twice: every import writes each index once per image).
    import_job = models.ForeignKey(
        ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="images", db_index=False
    )
    format = models.CharField(max_length=8, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    etag = models.CharField(max_length=128, blank=True)
    thumbnail_key = models.CharField(max_length=1024, blank=True)
    # True from the moment a readable image is stored until its thumbnail exists or it turns out
    # not to decode. An image with only manifest line or box errors still gets a thumbnail.
    needs_thumbnail = models.BooleanField(default=False)
    # When its thumbnail was last queued: the periodic sweep queues the images that need one and
    # were never queued (a failed import's) or were queued long ago (their task was lost).
    thumbnail_queued_at = models.DateTimeField(null=True, blank=True)
    # The headline problem the gallery shows and the Errors filter finds: the first of `problems`,
    # or ERROR_INVALID_IMAGE when the file itself is unusable.
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    # Every error and warning found for the image (spec §5.5 D), each
    # {"code", "message", "level": "error" | "warning"} plus "box": <n> for an annotation's error.
    problems = models.JSONField(default=list, blank=True)
    # The perceptual hash (imagehash's phash, 16 hex digits) of the thumbnail's pixels, made with the
    # thumbnail; the health check's near-duplicate rule compares them.
    # db_default: the imports' raw INSERTs that do not name it leave it empty.
    phash = models.CharField(max_length=16, blank=True, default="", db_default="")
    # Kept by the services that add or remove labels and boxes, so the Labeled filter is an index scan.
    is_labeled = models.BooleanField(default=False)
    labels = models.ManyToManyField(Label, through="ImageLabel", related_name="images")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "source_ref"], name="image_source_ref_unique_per_dataset"),
        ]
        indexes = [
            models.Index(fields=["dataset", "id"], name="image_dataset_id"),
            models.Index(fields=["dataset", "is_labeled", "id"], name="image_dataset_labeled"),
            models.Index(fields=["dataset", "id"], name="image_dataset_errors", condition=~Q(error_code="")),
            models.Index(fields=["dataset", "file_name"], name="image_dataset_file_name"),
            # "File name contains" has a trigram index on PostgreSQL, made by migration 0005 (not declared
            # here: SQLite has no such index).
            models.Index(fields=["import_job"], name="image_import_job"),
            # "Are thumbnails still pending for this import?" answered without scanning its images.
            models.Index(fields=["import_job"], name="image_thumbnail_pending", condition=Q(needs_thumbnail=True)),
            # The import summary's images that will never have a thumbnail (an error, a failed thumbnail),
            # counted without reading the job's other images.
            models.Index(
                fields=["import_job"],
                name="image_thumbnail_never",
                condition=Q(needs_thumbnail=False, thumbnail_key=""),
            ),
            # The import summary's images with an error, counted from the index alone.
            models.Index(fields=["import_job", "dataset"], name="image_job_errors", condition=~Q(error_code="")),
            # A dataset's thumbnails to queue (never queued first, in id order) without reading its other images.
            models.Index(
                fields=["dataset", "thumbnail_queued_at", "id"],
                name="image_thumbnail_due",
                condition=Q(needs_thumbnail=True),
            ),
        ]

    def __str__(self) -> str:
        return self.file_name

    @property
    def has_error(self) -> bool:
        return bool(self.error_code)

    @staticmethod
    def labeled_condition() -> Q:
        """The definition of labeled, read from the rows: an image-level label or a bounding box."""
        return Q(Exists(ImageLabel.objects.filter(image=OuterRef("pk")))) | Q(
            Exists(BoundingBox.objects.filter(image=OuterRef("pk")))
        )

    @property
    def box_labels(self) -> list[tuple[str, int]]:
        """(label name, boxes with it) for the labels on the image's boxes, in the boxes' order.
        Reads `boxes` with their labels, so prefetch them for a list of images."""
        counts = Counter(box.label.name for box in self.boxes.all())
        return list(counts.items())


class LabelingAction(models.Model):
    """One change made in labeling mode, kept so "Undo" can reverse the user's last change."""

    class Kind(models.TextChoices):
        ASSIGN = "ASSIGN"
        UNASSIGN = "UNASSIGN"
        BOX_ADD = "BOX_ADD"
        BOX_CHANGE = "BOX_CHANGE"
        BOX_DELETE = "BOX_DELETE"
        LABEL_ADD = "LABEL_ADD"
        LABEL_RENAME = "LABEL_RENAME"

    dataset = models.ForeignKey("Dataset", on_delete=models.CASCADE, related_name="labeling_actions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    payload = models.JSONField(default=dict, blank=True)
    description = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["dataset", "user", "-id"], name="labelingaction_latest")]

    def __str__(self) -> str:
        return self.description


class ImageLabel(models.Model):
    # No single-column indexes: the unique (image, label) and the (label, image) index cover both
    # lookups, and each index more slows an assignment to 100,000 images.
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="image_labels", db_index=False)
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="image_labels", db_index=False)
    # The labeling action that added the row, so undoing a 100,000-image assignment is one DELETE.
    # Not indexed: only Undo looks rows up by action, and a scan there is cheaper than an index
    # every assignment has to write.
    action = models.ForeignKey(
        LabelingAction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "label"], name="imagelabel_unique")]
        indexes = [models.Index(fields=["label", "image"], name="imagelabel_label_image")]

    def __str__(self) -> str:
        return f"{self.image_id}:{self.label_id}"


class BoundingBox(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="boxes")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="boxes", db_index=False)
    left = models.PositiveIntegerField()
    top = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["label", "image"], name="bbox_label_image")]
        constraints = [
            models.CheckConstraint(condition=Q(width__gt=1) & Q(height__gt=1), name="bbox_larger_than_1px"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.left},{self.top},{self.width},{self.height})"


# The health reports' and versions' models, registered with the app's other models.
from .health_models import DatasetVersion, HealthFinding, HealthReport, VersionEntry  # noqa: E402, F401
