"""A dataset leaves the console as a manifest and comes back unchanged: an S3 import, labels and
boxes drawn in labeling mode, "Download manifest" written by the real worker, and a new dataset
created from that file with "Import images labeled by SageMaker Ground Truth", through the worker."""

import pytest
from django.db.models import Prefetch
from django.urls import reverse

from datasets import labeling, operations
from datasets.models import BoundingBox, Dataset, Image, ManifestExport

from ..support import jpeg_bytes, png_bytes, seed, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def entries(dataset: Dataset) -> dict[str, dict]:
    images = Image.objects.filter(dataset=dataset).prefetch_related(
        "labels", Prefetch("boxes", queryset=BoundingBox.objects.select_related("label").order_by("id"))
    )
    return {
        image.source_ref: {
            "size": (image.format, image.width, image.height),
            "labels": sorted(label.name for label in image.labels.all()),
            "boxes": sorted((b.label.name, b.left, b.top, b.width, b.height) for b in image.boxes.all()),
            "is_labeled": image.is_labeled,
        }
        for image in images
    }


def settle(dataset: Dataset) -> Dataset:
    def done():
        dataset.refresh_from_db()
        return dataset.status == Dataset.Status.CREATE_COMPLETE

    wait_until(done, timeout=90, what=f"{dataset.name} to be created (it is {dataset.status})")
    return dataset


def test_a_dataset_exported_as_a_manifest_and_imported_again_has_the_same_images_labels_and_boxes(
    celery_worker_proc, client_user, console_bucket, project, user, s3, make_bucket
):
    bucket = make_bucket("flowers")
    seed(
        s3,
        bucket,
        {
            "flowers/rose/rose-1.jpg": jpeg_bytes(640, 480),
            "flowers/rose/rose-2.png": png_bytes(300, 200),
            "flowers/tulip/tulip 1.jpg": jpeg_bytes(800, 600),
            "flowers/unsorted.png": png_bytes(128, 128),
        },
    )
    form = {"name": "flowers", "image_location": "s3", "s3_location": f"s3://{bucket}/flowers/", "auto_label": "on"}
    client_user.post(reverse("datasets:create", args=[project.pk]), form)
    original = settle(Dataset.objects.get(project=project, name="flowers"))

    # Labeling: a second label on a rose, boxes on the tulip, the unsorted image left unlabeled.
    red = labeling.label_add(dataset=original, user=user, name="red")
    tulip_label = original.labels.get(name="tulip")
    rose = Image.objects.get(dataset=original, file_name="rose-1.jpg")
    tulip = Image.objects.get(dataset=original, file_name="tulip 1.jpg")
    labeling.images_labels_assign(
        dataset=original, user=user, label_ids=[red.pk], images=Image.objects.filter(pk=rose.pk)
    )
    labeling.box_add(image=tulip, label=tulip_label, user=user, left=10, top=20, width=300, height=200)
    labeling.box_add(image=tulip, label=red, user=user, left=400, top=300, width=120, height=90)
    before = entries(original)

    export = operations.manifest_export_start(dataset=original, user=user)

    def written():
        export.refresh_from_db()
        assert export.status != ManifestExport.Status.FAILED, export.message
        return export.status == ManifestExport.Status.SUCCEEDED

    wait_until(written, timeout=60, what="the manifest to be written")
    assert export.lines == 4

    # The console's exports folder is never importable: the user downloads the file and puts it
    # where they keep manifests, a bucket they may import from.
    console_copy = {"name": "exported-here", "image_location": "manifest"}
    console_copy["manifest_location"] = f"s3://{console_bucket.name}/{export.key}"
    refused = client_user.post(reverse("datasets:create", args=[project.pk]), console_copy)
    assert "You don&#x27;t have access to" in refused.content.decode()
    s3.put_object(
        Bucket=bucket,
        Key="manifests/flowers.manifest",
        Body=s3.get_object(Bucket=console_bucket.name, Key=export.key)["Body"].read(),
    )
    location = f"s3://{bucket}/manifests/flowers.manifest"
    form = {"name": "flowers-again", "image_location": "manifest", "manifest_location": location}
    response = client_user.post(reverse("datasets:create", args=[project.pk]), form)
    assert response.status_code == 302, response.content.decode()
    again = settle(Dataset.objects.get(project=project, name="flowers-again"))

    assert again.status_message == "The dataset was successfully created from the manifest file."
    assert entries(again) == before
    assert sorted(again.labels.values_list("name", flat=True)) == ["red", "rose", "tulip"]
    assert not Image.objects.filter(dataset=again).exclude(error_code="").exists()
