import re
import time

import pytest
from django.core.exceptions import ValidationError

from customlabels import s3 as s3_module
from datasets.models import Dataset, Image, Label
from projects import services
from projects.errors import ProjectError
from projects.models import ConsoleBucket, Project
from tests.factories import DatasetFactory, ImageLabelFactory, ProjectFactory, UserFactory

CONSOLE_BUCKET_NAME = re.compile(r"^custom-labels-console-us-east-1-\d{10}$")


# --- Console bucket -------------------------------------------------------------------------


def test_the_proposed_console_bucket_is_named_custom_labels_console_region_and_ten_digits(db):
    bucket = services.console_bucket_get_or_propose()

    assert CONSOLE_BUCKET_NAME.match(bucket.name)
    assert bucket.region == "us-east-1"
    assert not bucket.is_created


def test_the_proposed_console_bucket_name_stays_the_same_until_it_is_created(db):
    first = services.console_bucket_get_or_propose()
    second = services.console_bucket_get_or_propose()

    assert second.name == first.name
    assert ConsoleBucket.objects.count() == 1


def test_proposing_a_console_bucket_creates_nothing_on_s3(s3, db):
    services.console_bucket_get_or_propose()

    assert s3.list_buckets()["Buckets"] == []


def test_console_bucket_create_creates_the_proposed_bucket_on_s3_and_records_it(s3, db):
    proposed = services.console_bucket_get_or_propose()

    bucket = services.console_bucket_create()

    assert bucket.name == proposed.name
    assert bucket.is_created
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [bucket.name]


def test_console_bucket_create_a_second_time_keeps_the_same_bucket(s3, db):
    first = services.console_bucket_create()
    second = services.console_bucket_create()

    assert (second.name, second.created_at) == (first.name, first.created_at)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [first.name]


def test_console_bucket_create_against_an_unreachable_endpoint_raises_a_readable_error_and_records_nothing(
    db, unreachable_s3
):
    with pytest.raises(s3_module.S3Unreachable, match="S3 could not be reached"):
        services.console_bucket_create()

    assert not ConsoleBucket.objects.get().is_created


# --- Projects -------------------------------------------------------------------------------


def test_project_create_records_a_created_project_whose_arn_ends_in_epoch_milliseconds(db):
    owner = UserFactory()
    before = int(time.time() * 1000)

    project = services.project_create(owner=owner, name="my_project.v-1")

    assert project.owner == owner
    assert project.status == Project.Status.CREATED
    assert before <= project.arn_suffix <= int(time.time() * 1000)
    assert project.arn == f"arn:aws:rekognition:us-east-1:{owner.pk:012d}:project/my_project.v-1/{project.arn_suffix}"


def test_project_create_trims_surrounding_spaces(db):
    project = services.project_create(owner=UserFactory(), name="  spaced  ")

    assert project.name == "spaced"


def test_project_create_refuses_a_name_its_owner_already_uses(db):
    owner = UserFactory()
    services.project_create(owner=owner, name="dup")

    with pytest.raises(ProjectError, match="A project named “dup” already exists.") as raised:
        services.project_create(owner=owner, name="dup")

    assert raised.value.field == "name"
    assert Project.objects.filter(owner=owner).count() == 1


def test_two_users_may_each_have_a_project_of_the_same_name(db):
    first = services.project_create(owner=UserFactory(), name="shared-name")
    second = services.project_create(owner=UserFactory(), name="shared-name")

    assert first.pk != second.pk
    assert Project.objects.filter(name="shared-name").count() == 2


@pytest.mark.parametrize("name", ["my project", "", "x" * 256])
def test_project_create_refuses_a_name_that_breaks_the_rule(db, name):
    with pytest.raises(ValidationError):
        services.project_create(owner=UserFactory(), name=name)

    assert not Project.objects.exists()


def test_project_delete_deletes_the_project_with_its_datasets_images_and_labels(db):
    project = ProjectFactory()
    for dataset_type in Dataset.Type:
        dataset = DatasetFactory(project=project, dataset_type=dataset_type)
        ImageLabelFactory(image__dataset=dataset)
    kept = ImageLabelFactory()

    services.project_delete(project=project)

    assert list(Project.objects.all()) == [kept.image.dataset.project]
    assert list(Dataset.objects.all()) == [kept.image.dataset]
    assert list(Image.objects.all()) == [kept.image]
    assert list(Label.objects.all()) == [kept.label]


@pytest.mark.parametrize("status", Dataset.IN_PROGRESS)
def test_project_delete_is_refused_while_one_of_its_datasets_is_in_progress(db, status):
    project = ProjectFactory()
    DatasetFactory(project=project, dataset_type=Dataset.Type.TRAIN)
    DatasetFactory(project=project, dataset_type=Dataset.Type.TEST, status=status)

    with pytest.raises(ProjectError, match="being created or updated"):
        services.project_delete(project=project)

    assert Project.objects.filter(pk=project.pk).exists()
    assert project.datasets.count() == 2
