from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

PROJECT_NAME_RE = r"^[a-zA-Z0-9_.\-]{1,255}\Z"
project_name_validator = RegexValidator(
    PROJECT_NAME_RE,
    "Use 1–255 characters: letters, digits, underscores (_), periods (.) and hyphens (-). No spaces.",
)


class ConsoleBucket(models.Model):
    """The console bucket of one region (spec §8.1): one per installation and region."""

    region = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=63, unique=True)
    created_at = models.DateTimeField(null=True, blank=True, help_text="When the bucket was created on S3.")

    def __str__(self) -> str:
        return self.name

    @property
    def is_created(self) -> bool:
        return self.created_at is not None


class Project(models.Model):
    class Status(models.TextChoices):
        CREATING = "CREATING"
        CREATED = "CREATED"
        DELETING = "DELETING"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField("Project name", max_length=255, validators=[project_name_validator])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    # Epoch milliseconds at creation, the trailing number of the project ARN.
    arn_suffix = models.BigIntegerField()
    # The tags of TagResource / CreateProject's Tags: {key: value}.
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="project_name_unique_per_owner"),
        ]
        indexes = [models.Index(fields=["owner", "-created_at"], name="project_owner_created")]

    def __str__(self) -> str:
        return self.name

    @property
    def account_id(self) -> str:
        # Each console user stands for one AWS account in ARNs.
        return f"{self.owner_id:012d}"

    @property
    def arn(self) -> str:
        return (
            f"arn:aws:rekognition:{settings.AWS_DEFAULT_REGION}:{self.account_id}:project/{self.name}/{self.arn_suffix}"
        )


class S3AccessGrant(models.Model):
    """A user's or a group's permission to read (and, with can_write, write) an S3 location.

    Default deny: outside the user's own console storage, a location is readable only under a
    grant. The console bucket itself is never granted (each user's storage is theirs alone).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="s3_grants"
    )
    group = models.ForeignKey("auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="s3_grants")
    bucket = models.CharField(max_length=63)
    prefix = models.CharField(
        max_length=1024,
        blank=True,
        help_text="A folder in the bucket, ending in “/”; empty for the whole bucket.",
    )
    can_write = models.BooleanField(
        "Read and write", default=False, help_text="Writing is for exports to S3; reading is always granted."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "S3 access grant"
        ordering = ["bucket", "prefix", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="s3_grant_user_or_group",
                violation_error_message="Choose a user or a group, not both.",
            ),
            models.UniqueConstraint(
                fields=["user", "bucket", "prefix"],
                condition=models.Q(user__isnull=False),
                name="s3_grant_unique_per_user",
                violation_error_message="This user already has a grant for this location.",
            ),
            models.UniqueConstraint(
                fields=["group", "bucket", "prefix"],
                condition=models.Q(group__isnull=False),
                name="s3_grant_unique_per_group",
                violation_error_message="This group already has a grant for this location.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.grantee}: {self.location} ({self.access})"

    @property
    def grantee(self):
        return self.user if self.user_id else self.group

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def access(self) -> str:
        return "Read and write" if self.can_write else "Read"


class AccessKey(models.Model):
    """An access key of a user for the Rekognition API (Security credentials), as IAM's: an id, a
    secret shown once, Active or Inactive, at most ACCESS_KEYS_PER_USER per user.

    The secret must be readable again to check SigV4 signatures, so it is kept encrypted with the
    keys of ACCESS_KEY_ENCRYPTION_KEYS (projects.access_keys), never in plain text.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_keys")
    access_key_id = models.CharField("Access key ID", max_length=20, unique=True)
    secret_encrypted = models.TextField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.access_key_id

    @property
    def status(self) -> str:
        return "Active" if self.is_active else "Inactive"
