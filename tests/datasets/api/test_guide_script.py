"""A script in the style of the AWS developer guide's Python examples runs unchanged against the
console, through the real worker: create a project, a training dataset from a manifest, an empty test
dataset, distribute, list the entries, add a label; then a 5 MiB UpdateDatasetEntries."""

import base64
import json
import time

import pytest

from datasets.models import BoundingBox, Dataset

from ..support import png_bytes, seed

pytestmark = pytest.mark.usefixtures("celery_worker_proc", "console_bucket")


def wait_for_dataset(rek_client, dataset_arn, done_status):
    """As the guide's create_dataset helper polls DescribeDataset."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        description = rek_client.describe_dataset(DatasetArn=dataset_arn)["DatasetDescription"]
        status = description["Status"]
        if status.endswith("_IN_PROGRESS"):
            time.sleep(0.5)
            continue
        if status == done_status:
            return description
        raise Exception(f"Dataset {dataset_arn}: {status} {description['StatusMessage']}")
    raise AssertionError(f"{dataset_arn} never became {done_status}")


def test_the_developer_guide_flow_runs_unchanged(rekognition, pets, user):
    bucket, manifest_file, refs = pets
    rek_client = rekognition

    project_arn = rek_client.create_project(ProjectName="my-project")["ProjectArn"]
    train_arn = rek_client.create_dataset(
        ProjectArn=project_arn,
        DatasetType="TRAIN",
        DatasetSource={"GroundTruthManifest": {"S3Object": {"Bucket": bucket, "Name": manifest_file}}},
    )["DatasetArn"]
    described = wait_for_dataset(rek_client, train_arn, "CREATE_COMPLETE")
    assert described["StatusMessage"] == "The dataset was successfully created from the manifest file."
    assert described["DatasetStats"] == {"LabeledEntries": 10, "TotalEntries": 10, "TotalLabels": 2, "ErrorEntries": 0}

    test_arn = rek_client.create_dataset(ProjectArn=project_arn, DatasetType="TEST")["DatasetArn"]
    rek_client.distribute_dataset_entries(Datasets=[{"Arn": train_arn}, {"Arn": test_arn}])
    wait_for_dataset(rek_client, train_arn, "UPDATE_COMPLETE")
    wait_for_dataset(rek_client, test_arn, "UPDATE_COMPLETE")

    def entries(arn):
        paginator = rek_client.get_paginator("list_dataset_entries")
        return [json.loads(e) for page in paginator.paginate(DatasetArn=arn) for e in page["DatasetEntries"]]

    train_refs = {e["source-ref"] for e in entries(train_arn)}
    test_refs = {e["source-ref"] for e in entries(test_arn)}
    assert len(test_refs) == 2 and len(train_refs) == 8 and train_refs | test_refs == set(refs)

    # Add a label to an image of the training dataset, as the guide's "update an entry" example does.
    entry = next(e for e in entries(train_arn) if "/cat-" in e["source-ref"])
    entry["cute"] = 1
    entry["cute-metadata"] = {**entry["label-0-metadata" if "label-0-metadata" in entry else "cat-metadata"]}
    entry["cute-metadata"]["class-name"] = "cute"
    rek_client.update_dataset_entries(DatasetArn=train_arn, Changes={"GroundTruth": json.dumps(entry).encode()})
    wait_for_dataset(rek_client, train_arn, "UPDATE_COMPLETE")

    labels = {
        d["LabelName"]: d["LabelStats"]["EntryCount"]
        for d in rek_client.list_dataset_labels(DatasetArn=train_arn)["DatasetLabelDescriptions"]
    }
    assert labels["cute"] == 1
    updated = next(e for e in entries(train_arn) if e["source-ref"] == entry["source-ref"])
    assert {updated[k]["class-name"] for k in updated if k.endswith("-metadata") and k != "cl-metadata"} == {
        "cat",
        "cute",
    }
    # The console shows the same: the project's training and test datasets, with the API's type.
    shown = {
        d.dataset_type: d.name for d in Dataset.objects.filter(project__name="my-project", is_project_dataset=True)
    }
    assert shown == {"TRAIN": "train", "TEST": "test"}


def test_an_update_of_5_mib_adds_its_entries_and_boxes(rekognition, s3, make_bucket, user):
    bucket = make_bucket("boxes")
    images = 62
    for n in range(images):
        seed(s3, bucket, {f"boxes/{n}.png": png_bytes(1000, 1000)})
    boxes_per_line = 50  # the most a valid line has; a long attribute of the script's own fills each line
    annotations = [
        {"class_id": 0, "left": (i % 40) * 24, "top": (i // 40) * 24, "width": 20, "height": 20}
        for i in range(boxes_per_line)
    ]
    lines = []
    for n in range(images):
        lines.append(
            json.dumps(
                {
                    "source-ref": f"s3://{bucket}/boxes/{n}.png",
                    "bounding-box": {
                        "image_size": [{"width": 1000, "height": 1000, "depth": 3}],
                        "annotations": annotations,
                    },
                    "bounding-box-metadata": {
                        "objects": [{"confidence": 1}] * boxes_per_line,
                        "class-map": {"0": "dot"},
                        "type": "groundtruth/object-detection",
                        "human-annotated": "yes",
                        "creation-date": "2023-07-11T03:32:13.456Z",
                        "job-name": "labeling-job/dots",
                    },
                    "review-notes": "n" * 79_800,
                }
            )
        )
    data = ("\n".join(lines) + "\n").encode()
    assert 5 * 1024 * 1024 * 0.9 < len(data) <= 5_242_880
    assert len(base64.b64encode(data)) > 6_800_000  # past Django's 2.5 MB DATA_UPLOAD_MAX_MEMORY_SIZE

    project_arn = rekognition.create_project(ProjectName="dots")["ProjectArn"]
    arn = rekognition.create_dataset(ProjectArn=project_arn, DatasetType="TRAIN")["DatasetArn"]
    rekognition.update_dataset_entries(DatasetArn=arn, Changes={"GroundTruth": data})
    wait_for_dataset(rekognition, arn, "UPDATE_COMPLETE")

    label = rekognition.list_dataset_labels(DatasetArn=arn)["DatasetLabelDescriptions"]
    assert label == [
        {"LabelName": "dot", "LabelStats": {"EntryCount": images, "BoundingBoxCount": images * boxes_per_line}}
    ]
    assert BoundingBox.objects.filter(image__dataset__project__name="dots").count() == images * boxes_per_line
