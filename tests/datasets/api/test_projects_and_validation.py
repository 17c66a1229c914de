"""CreateProject, DescribeProjects, DeleteProject, tags, and the limits botocore leaves to the server."""

import pytest
from botocore.exceptions import ClientError

from datasets.models import Dataset
from projects.models import Project
from tests.factories import DatasetFactory


def _code(caught) -> str:
    return caught.value.response["Error"]["Code"]


def test_projects_are_created_described_oldest_first_and_paginated(rekognition, user):
    arns = [rekognition.create_project(ProjectName=f"p-{n}")["ProjectArn"] for n in range(5)]

    pages = list(rekognition.get_paginator("describe_projects").paginate(PaginationConfig={"PageSize": 2}))

    assert [len(page["ProjectDescriptions"]) for page in pages] == [2, 2, 1]
    assert "NextToken" not in pages[-1]
    described = [d for page in pages for d in page["ProjectDescriptions"]]
    assert [d["ProjectArn"] for d in described] == arns
    first = described[0]
    assert set(first) == {"ProjectArn", "CreationTimestamp", "Status", "Datasets", "Feature", "AutoUpdate"}
    assert first["Status"] == "CREATED" and first["Datasets"] == []
    assert Project.objects.filter(owner=user).count() == 5


def test_describe_projects_filters_by_name_and_lists_the_training_and_test_datasets(rekognition, user):
    arn = rekognition.create_project(ProjectName="pets")["ProjectArn"]
    rekognition.create_project(ProjectName="other")
    project = Project.objects.get(owner=user, name="pets")
    train = DatasetFactory(project=project, name="pets-train")
    DatasetFactory(project=project, name="console-only")  # a second training dataset stays the console's

    found = rekognition.describe_projects(ProjectNames=["pets"])["ProjectDescriptions"]

    assert [d["ProjectArn"] for d in found] == [arn]
    assert found[0]["Datasets"] == [
        {
            "CreationTimestamp": found[0]["Datasets"][0]["CreationTimestamp"],
            "DatasetType": "TRAIN",
            "DatasetArn": train.arn,
            "Status": "CREATE_COMPLETE",
            "StatusMessage": "",
            "StatusMessageCode": "SUCCESS",
        }
    ]


def test_a_project_name_taken_is_in_use(rekognition):
    rekognition.create_project(ProjectName="twice")

    with pytest.raises(rekognition.exceptions.ResourceInUseException):
        rekognition.create_project(ProjectName="twice")


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.create_project(ProjectName="with space"),
        lambda r: r.create_project(ProjectName="x" * 256),
        lambda r: r.create_project(ProjectName="ok", Tags={"aws:reserved": "x"}),
        lambda r: r.describe_projects(MaxResults=101),
        lambda r: r.describe_projects(ProjectNames=[f"p{n}" for n in range(11)]),
        lambda r: r.create_dataset(ProjectArn="arn:aws:rekognition:us-east-1:1:nope", DatasetType="TRAIN"),
        lambda r: r.create_dataset(
            ProjectArn="arn:aws:rekognition:us-east-1:000000000001:project/a/1", DatasetType="VALIDATION"
        ),
        lambda r: r.list_dataset_entries(
            DatasetArn="arn:aws:rekognition:us-east-1:000000000001:project/a/dataset/train/1", ContainsLabels=["a"] * 11
        ),
        lambda r: r.list_dataset_entries(
            DatasetArn="arn:aws:rekognition:us-east-1:000000000001:project/a/dataset/train/1", SourceRefContains=" "
        ),
    ],
)
def test_parameters_outside_the_model_s_limits_are_invalid(rekognition, call):
    with pytest.raises(rekognition.exceptions.InvalidParameterException):
        call(rekognition)


def test_a_forged_or_foreign_next_token_is_an_invalid_pagination_token(rekognition):
    with pytest.raises(rekognition.exceptions.InvalidPaginationTokenException):
        rekognition.describe_projects(NextToken="forged")


def test_another_user_s_project_and_dataset_are_not_found(rekognition, rekognition_other, user):
    arn = rekognition.create_project(ProjectName="mine")["ProjectArn"]
    dataset = DatasetFactory(project=Project.objects.get(owner=user, name="mine"))

    with pytest.raises(rekognition_other.exceptions.ResourceNotFoundException):
        rekognition_other.delete_project(ProjectArn=arn)
    with pytest.raises(rekognition_other.exceptions.ResourceNotFoundException):
        rekognition_other.describe_dataset(DatasetArn=dataset.arn)
    with pytest.raises(rekognition_other.exceptions.ResourceNotFoundException):
        rekognition_other.list_tags_for_resource(ResourceArn=arn)
    assert rekognition_other.describe_projects()["ProjectDescriptions"] == []
    assert Project.objects.filter(owner=user, name="mine").exists()


def test_tags_are_added_listed_and_removed_on_projects_and_datasets(rekognition, user):
    arn = rekognition.create_project(ProjectName="tagged", Tags={"team": "vision"})["ProjectArn"]
    rekognition.tag_resource(ResourceArn=arn, Tags={"cost-center": "42"})
    assert rekognition.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"team": "vision", "cost-center": "42"}

    rekognition.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert rekognition.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"cost-center": "42"}

    dataset_arn = rekognition.create_dataset(ProjectArn=arn, DatasetType="TRAIN", Tags={"k": "v"})["DatasetArn"]
    assert rekognition.list_tags_for_resource(ResourceArn=dataset_arn)["Tags"] == {"k": "v"}
    with pytest.raises(rekognition.exceptions.InvalidParameterException):
        rekognition.tag_resource(ResourceArn=arn, Tags={f"k{n}": "v" for n in range(200)})


def test_delete_project_deletes_it_with_its_datasets(rekognition, user):
    arn = rekognition.create_project(ProjectName="gone")["ProjectArn"]
    rekognition.create_dataset(ProjectArn=arn, DatasetType="TRAIN")

    assert rekognition.delete_project(ProjectArn=arn)["Status"] == "DELETING"

    assert rekognition.describe_projects(ProjectNames=["gone"])["ProjectDescriptions"] == []
    assert not Dataset.objects.filter(project__name="gone").exists()
    with pytest.raises(ClientError) as caught:
        rekognition.delete_project(ProjectArn=arn)
    assert _code(caught) == "ResourceNotFoundException"
