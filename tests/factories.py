"""factory-boy factories for the console's models.

Rows are built the way the services would leave them (a finished dataset, an image with its
dimensions), so a test only spells out what it is about.
"""

import time

import factory
from django.contrib.auth import get_user_model

from datasets.models import BoundingBox, Dataset, Image, ImageLabel, ImportJob, Label
from projects.models import Project, S3AccessGrant

PASSWORD = "correct-horse-battery-staple"
SOURCE_BUCKET = "source-bucket"


def _epoch_ms() -> int:
    return int(time.time() * 1000)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(PASSWORD)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"project-{n}")
    arn_suffix = factory.LazyFunction(_epoch_ms)

    @factory.post_generation
    def source_bucket_grant(project, create, extracted, **kwargs):
        """The owner may read SOURCE_BUCKET, where ImageFactory's images are: an administrator granted
        it before they were imported. Tests of access use other buckets."""
        if create:
            S3AccessGrant.objects.get_or_create(user=project.owner, bucket=SOURCE_BUCKET, prefix="")


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"dataset-{n}")
    dataset_type = Dataset.Type.TRAIN
    # As services.dataset_new: the project's dataset of its type when the project has none yet.
    is_project_dataset = factory.LazyAttribute(
        lambda d: (
            not Dataset.objects.filter(project=d.project, dataset_type=d.dataset_type, is_project_dataset=True).exists()
        )
    )
    status = Dataset.Status.CREATE_COMPLETE
    status_message_code = Dataset.StatusMessageCode.SUCCESS
    arn_suffix = factory.LazyFunction(_epoch_ms)


class ImportJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImportJob

    dataset = factory.SubFactory(DatasetFactory)
    source = ImportJob.Source.S3_FOLDER
    parameters = factory.LazyFunction(lambda: {"bucket": "source-bucket", "prefix": "images/", "auto_label": True})
    status = ImportJob.Status.SUCCEEDED
    listing_done = True


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    dataset = factory.SubFactory(DatasetFactory)
    name = factory.Sequence(lambda n: f"label-{n}")


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Image

    dataset = factory.SubFactory(DatasetFactory)
    file_name = factory.Sequence(lambda n: f"image-{n}.jpg")
    source_ref = factory.LazyAttribute(lambda i: f"s3://{SOURCE_BUCKET}/images/{i.file_name}")
    format = "JPEG"
    width = 640
    height = 480
    size = 48_000
    etag = factory.Sequence(lambda n: f"{n:032x}")


class ImageLabelFactory(factory.django.DjangoModelFactory):
    """An image-level label; the image is marked labeled as the labeling services do."""

    class Meta:
        model = ImageLabel

    image = factory.SubFactory(ImageFactory, is_labeled=True)
    label = factory.SubFactory(LabelFactory, dataset=factory.SelfAttribute("..image.dataset"))


class BoundingBoxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BoundingBox

    image = factory.SubFactory(ImageFactory, is_labeled=True)
    label = factory.SubFactory(LabelFactory, dataset=factory.SelfAttribute("..image.dataset"))
    left = 10
    top = 20
    width = 100
    height = 80
