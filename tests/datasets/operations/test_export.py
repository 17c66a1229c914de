"""Download manifest: the export service and the manifest it writes to the console bucket (moto over HTTP)."""

import json

import pytest

from customlabels.s3_multipart import MULTIPART_PART_SIZE
from datasets import labeling, operations
from datasets.errors import DatasetError
from datasets.formats import ground_truth
from datasets.models import Dataset, Image, ImageLabel, Label, ManifestExport
from tests.factories import DatasetFactory, ProjectFactory

from ..support import (
    BOX_PROBLEM,
    build_images,
    content,
    flowers,
)

INSUFFICIENT = "ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE"


# --- "Download manifest" ------------------------------------------------------------------------


def manifest_lines(s3, console_bucket, export: ManifestExport) -> list[str]:
    body = s3.get_object(Bucket=console_bucket.name, Key=export.key)["Body"].read().decode()
    assert body.endswith("\n") or body == ""
    return body.splitlines()


def export_now(dataset: Dataset, user) -> ManifestExport:
    export = operations.manifest_export_start(dataset=dataset, user=user)
    return operations.manifest_export_write(export_id=export.pk)


@pytest.mark.django_db
def test_every_exported_line_parses_back_to_the_datasets_entries(s3, console_bucket, user):
    dataset = DatasetFactory(project__owner=user, name="flowers")
    flowers(dataset)
    # Labels that can't be attribute names, and one on both an image and a box.
    build_images(
        dataset,
        [
            {"key": "odd/1.jpg", "labels": ["bounding-box", "cl-metadata"], "boxes": [("rose", 0, 0, 640, 480)]},
            {"key": "odd/2.jpg", "labels": ["source-ref-metadata"], "boxes": [("Rose ", 1, 2, 3, 4)]},
        ],
    )
    expected = content(dataset)

    export = export_now(dataset, user)

    assert export.status == ManifestExport.Status.SUCCEEDED
    assert export.key.startswith(f"users/{dataset.project.owner_id}/exports/{dataset.pk}/") and export.key.endswith(
        "-flowers.manifest"
    )
    lines = manifest_lines(s3, console_bucket, export)
    assert (export.lines, export.size) == (len(expected), sum(len(line.encode()) + 1 for line in lines))
    parsed = {}
    for line in lines:
        entry = ground_truth.parse_line(line)
        assert isinstance(entry, ground_truth.ManifestEntry), line
        parsed[entry.source_ref] = (entry, json.loads(line))
    assert set(parsed) == set(expected)
    for ref, image in expected.items():
        entry, raw = parsed[ref]
        assert sorted(entry.labels) == image["labels"], ref
        assert [(b.label, b.left, b.top, b.width, b.height) for b in entry.boxes] == image["boxes"], ref
        if image["boxes"]:
            assert raw["bounding-box"]["image_size"][0]["width"] == (image["header"][1])
        assert raw["cl-metadata"] == {"is_labeled": image["is_labeled"]}
        image_errors = [p for p in image["problems"] if "box" not in p]
        assert raw.get("cl-errors", []) == [{"code": p["code"], "message": p["message"]} for p in image_errors], ref
    tulip = parsed["s3://flowers-bucket/tulips/tulip-1.jpg"][1]
    assert [a.get("cl-errors") for a in tulip["bounding-box"]["annotations"]] == [
        None,
        [{"code": BOX_PROBLEM["code"], "message": BOX_PROBLEM["message"]}],
    ]


@pytest.mark.django_db
def test_an_unchanged_dataset_reuses_its_export_and_a_changed_one_gets_a_new_one(s3, console_bucket, user):
    dataset = DatasetFactory(project__owner=user)
    flowers(dataset)
    first = operations.manifest_export_start(dataset=dataset, user=user)
    assert operations.manifest_export_start(dataset=dataset, user=user) == first  # still queued
    operations.manifest_export_write(export_id=first.pk)
    assert operations.manifest_export_start(dataset=dataset, user=user) == first

    labeling.label_add(dataset=dataset, user=user, name="violet")
    dataset.refresh_from_db()
    second = operations.manifest_export_start(dataset=dataset, user=user)

    assert second != first and second.status == ManifestExport.Status.QUEUED
    assert second.stats_version == dataset.stats_version


@pytest.mark.django_db
def test_a_manifest_over_5_mb_is_uploaded_in_parts_and_reads_back_whole(s3, console_bucket, user):
    dataset = DatasetFactory(project__owner=user, name="big")
    label = Label.objects.create(dataset=dataset, name="leaf")
    folder = "very-long-folder-name/" * 40
    Image.objects.bulk_create(
        Image(
            dataset=dataset, source_ref=f"s3://big-bucket/{folder}{i:05}.jpg", file_name=f"{i:05}.jpg", is_labeled=True
        )
        for i in range(9000)
    )
    ImageLabel.objects.bulk_create(ImageLabel(image=image, label=label) for image in dataset.images.all())

    export = export_now(dataset, user)

    assert export.size > MULTIPART_PART_SIZE  # more than one part's worth
    head = s3.head_object(Bucket=console_bucket.name, Key=export.key)
    assert head["ContentLength"] == export.size
    assert head["ETag"].strip('"').rsplit("-", 1)[1] == "2"  # a multipart object of two parts
    lines = manifest_lines(s3, console_bucket, export)
    assert len(lines) == export.lines == 9000
    entries = [ground_truth.parse_line(line) for line in lines]
    assert [e.source_ref for e in entries] == sorted(dataset.images.values_list("source_ref", flat=True))
    assert all(e.labels == ("leaf",) for e in entries)


@pytest.mark.django_db
def test_an_empty_dataset_exports_an_empty_manifest(s3, console_bucket, user):
    export = export_now(DatasetFactory(project__owner=user), user)
    assert (export.status, export.lines, export.size) == (ManifestExport.Status.SUCCEEDED, 0, 0)
    assert manifest_lines(s3, console_bucket, export) == []


@pytest.mark.django_db
def test_a_dataset_being_imported_has_no_manifest_yet(user, other_user):
    dataset = DatasetFactory(project__owner=user, status=Dataset.Status.UPDATE_IN_PROGRESS)
    with pytest.raises(DatasetError, match="Wait until it finishes"):
        operations.manifest_export_start(dataset=dataset, user=user)
    with pytest.raises(DatasetError):
        operations.manifest_export_start(dataset=DatasetFactory(project=ProjectFactory(owner=other_user)), user=user)
    assert not ManifestExport.objects.exists()
