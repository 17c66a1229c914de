"""CreateDataset, DescribeDataset, ListDatasetEntries, ListDatasetLabels, UpdateDatasetEntries,
DistributeDatasetEntries, DeleteDataset: what a script sees, and that it is what the console shows."""

import json

import pytest

from datasets.models import Dataset, ImportJob
from tests.factories import DatasetFactory, ImportJobFactory

from ..support import build_images, pets
from .conftest import classification


@pytest.fixture
def project_arn(rekognition):
    return rekognition.create_project(ProjectName="pets")["ProjectArn"]


@pytest.fixture
def train_arn(rekognition, project_arn):
    return rekognition.create_dataset(ProjectArn=project_arn, DatasetType="TRAIN")["DatasetArn"]


@pytest.fixture
def busy_user(user):
    """The user runs IMPORTS_PER_USER imports already: a new import waits, so its dataset stays in progress."""
    for _ in range(2):
        ImportJobFactory(
            dataset=DatasetFactory(project__owner=user), status=ImportJob.Status.QUEUED, listing_done=False
        )
    return user


def test_an_empty_dataset_is_described_with_every_field_and_shows_in_the_console(rekognition, project_arn, user):
    arn = rekognition.create_dataset(ProjectArn=project_arn, DatasetType="TRAIN")["DatasetArn"]

    description = rekognition.describe_dataset(DatasetArn=arn)["DatasetDescription"]

    assert arn.startswith(project_arn.rsplit("/", 1)[0] + "/dataset/train/")
    assert set(description) == {
        "CreationTimestamp", "LastUpdatedTimestamp", "Status", "StatusMessage", "StatusMessageCode", "DatasetStats",
    }  # fmt: skip
    assert description["Status"] == "CREATE_COMPLETE"
    assert description["DatasetStats"] == {"LabeledEntries": 0, "TotalEntries": 0, "TotalLabels": 0, "ErrorEntries": 0}
    dataset = Dataset.objects.get(project__owner=user, project__name="pets")
    assert (dataset.name, dataset.dataset_type, dataset.is_project_dataset) == ("train", "TRAIN", True)


def test_a_second_training_dataset_already_exists(rekognition, project_arn, train_arn):
    with pytest.raises(rekognition.exceptions.ResourceAlreadyExistsException):
        rekognition.create_dataset(ProjectArn=project_arn, DatasetType="TRAIN")
    assert rekognition.create_dataset(ProjectArn=project_arn, DatasetType="TEST")["DatasetArn"].split("/")[-2] == "test"


def test_polling_right_after_create_and_update_sees_them_in_progress(
    rekognition, project_arn, train_arn, busy_user, pets
):
    bucket, key, refs = pets
    test_arn = rekognition.create_dataset(
        ProjectArn=project_arn,
        DatasetType="TEST",
        DatasetSource={"GroundTruthManifest": {"S3Object": {"Bucket": bucket, "Name": key}}},
    )["DatasetArn"]
    assert rekognition.describe_dataset(DatasetArn=test_arn)["DatasetDescription"]["Status"] == "CREATE_IN_PROGRESS"

    line = classification(next(iter(refs)), "cat")
    rekognition.update_dataset_entries(DatasetArn=train_arn, Changes={"GroundTruth": line.encode()})
    assert rekognition.describe_dataset(DatasetArn=train_arn)["DatasetDescription"]["Status"] == "UPDATE_IN_PROGRESS"
    with pytest.raises(rekognition.exceptions.ResourceInUseException):
        rekognition.update_dataset_entries(DatasetArn=train_arn, Changes={"GroundTruth": line.encode()})
    with pytest.raises(rekognition.exceptions.ResourceInUseException):
        rekognition.delete_dataset(DatasetArn=train_arn)


def test_a_manifest_the_user_may_not_read_is_access_denied_and_a_missing_one_invalid(
    rekognition, project_arn, s3, make_bucket
):
    ungranted = make_bucket("secret", grant=False)
    s3.put_object(Bucket=ungranted, Key="x.manifest", Body=b"{}")
    granted = make_bucket("open")

    with pytest.raises(rekognition.exceptions.AccessDeniedException):
        rekognition.create_dataset(
            ProjectArn=project_arn,
            DatasetType="TRAIN",
            DatasetSource={"GroundTruthManifest": {"S3Object": {"Bucket": ungranted, "Name": "x.manifest"}}},
        )
    with pytest.raises(rekognition.exceptions.InvalidS3ObjectException):
        rekognition.create_dataset(
            ProjectArn=project_arn,
            DatasetType="TRAIN",
            DatasetSource={"GroundTruthManifest": {"S3Object": {"Bucket": granted, "Name": "missing.manifest"}}},
        )
    with pytest.raises(rekognition.exceptions.InvalidParameterException):
        rekognition.create_dataset(ProjectArn=project_arn, DatasetType="TRAIN", DatasetSource={})
    assert not Dataset.objects.filter(project__name="pets").exists()


def test_entries_are_the_manifest_lines_filtered_and_paginated(rekognition, project_arn, train_arn, user):
    dataset = Dataset.objects.get(project__owner=user, project__name="pets")
    pets(dataset)
    build_images(dataset, [{"key": "broken/b.jpg", "error_code": "ERROR_INVALID_IMAGE", "error_message": "bad"}])

    pages = list(
        rekognition.get_paginator("list_dataset_entries").paginate(
            DatasetArn=train_arn, PaginationConfig={"PageSize": 20}
        )
    )
    lines = [json.loads(e) for page in pages for e in page["DatasetEntries"]]
    assert [len(page["DatasetEntries"]) for page in pages] == [20, 20, 11]
    assert "NextToken" not in pages[-1]
    assert lines[0]["source-ref"] == "s3://flowers-bucket/cats/cat-0.jpg"
    assert lines[0]["cl-metadata"] == {"is_labeled": True}

    def refs(**filters):
        found = rekognition.list_dataset_entries(DatasetArn=train_arn, **filters)["DatasetEntries"]
        return [json.loads(e)["source-ref"].rsplit("/", 1)[1] for e in found]

    assert len(refs(ContainsLabels=["dog", "bird"])) == 25
    assert len(refs(Labeled=False)) == 16
    assert len(refs(Labeled=True)) == 35
    assert len(refs(HasErrors=False)) == 51  # as scripts send it: no filter
    assert refs(HasErrors=True) == ["b.jpg"]
    assert refs(SourceRefContains="dog-1", ContainsLabels=["dog"]) == ["dog-1.jpg"] + [
        f"dog-1{n}.jpg" for n in range(10)
    ]
    assert refs(ContainsLabels=["no-such-label"]) == []

    # A loop as AWS's samples write it: NextToken "" first, stop when the answer has none.
    seen, token = 0, ""
    while True:
        page = rekognition.list_dataset_entries(DatasetArn=train_arn, NextToken=token, MaxResults=100)
        seen += len(page["DatasetEntries"])
        token = page.get("NextToken")
        if not token:
            break
    assert seen == 51


def test_labels_are_listed_with_their_counts(rekognition, project_arn, train_arn, user):
    pets(Dataset.objects.get(project__owner=user, project__name="pets"))

    pages = list(
        rekognition.get_paginator("list_dataset_labels").paginate(
            DatasetArn=train_arn, PaginationConfig={"PageSize": 2}
        )
    )

    assert [d for page in pages for d in page["DatasetLabelDescriptions"]] == [
        {"LabelName": "bird", "LabelStats": {"EntryCount": 5, "BoundingBoxCount": 0}},
        {"LabelName": "cat", "LabelStats": {"EntryCount": 10, "BoundingBoxCount": 0}},
        {"LabelName": "dog", "LabelStats": {"EntryCount": 20, "BoundingBoxCount": 20}},
    ]
    stats = rekognition.describe_dataset(DatasetArn=train_arn)["DatasetDescription"]["DatasetStats"]
    assert stats == {"LabeledEntries": 35, "TotalEntries": 50, "TotalLabels": 3, "ErrorEntries": 0}


def test_a_bad_line_refuses_the_whole_update_and_changes_nothing(rekognition, train_arn, pets):
    bucket, _, refs = pets
    good = classification(next(iter(refs)), "cat")

    with pytest.raises(rekognition.exceptions.InvalidParameterException) as caught:
        rekognition.update_dataset_entries(
            DatasetArn=train_arn, Changes={"GroundTruth": (good + "\nnot json\n").encode()}
        )
    assert "Line 2" in caught.value.response["Error"]["Message"]
    with pytest.raises(rekognition.exceptions.AccessDeniedException):
        line = classification("s3://somebody-elses-bucket/a.png", "cat")
        rekognition.update_dataset_entries(DatasetArn=train_arn, Changes={"GroundTruth": line.encode()})
    description = rekognition.describe_dataset(DatasetArn=train_arn)["DatasetDescription"]
    assert description["Status"] == "CREATE_COMPLETE"
    assert description["DatasetStats"]["TotalEntries"] == 0


def test_a_changes_blob_over_5_mib_is_invalid(rekognition, train_arn):
    with pytest.raises(rekognition.exceptions.InvalidParameterException):
        rekognition.update_dataset_entries(DatasetArn=train_arn, Changes={"GroundTruth": b"{" * 5_242_881})


def test_distribute_needs_an_empty_test_dataset_of_the_same_project(rekognition, project_arn, train_arn, user):
    other = rekognition.create_project(ProjectName="other")["ProjectArn"]
    foreign_test = rekognition.create_dataset(ProjectArn=other, DatasetType="TEST")["DatasetArn"]

    with pytest.raises(rekognition.exceptions.InvalidParameterException):
        rekognition.distribute_dataset_entries(Datasets=[{"Arn": train_arn}, {"Arn": foreign_test}])
    with pytest.raises(rekognition.exceptions.InvalidParameterException):
        rekognition.distribute_dataset_entries(Datasets=[{"Arn": train_arn}, {"Arn": train_arn}])


def test_delete_dataset_removes_it(rekognition, train_arn):
    rekognition.delete_dataset(DatasetArn=train_arn)

    with pytest.raises(rekognition.exceptions.ResourceNotFoundException):
        rekognition.describe_dataset(DatasetArn=train_arn)
