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
