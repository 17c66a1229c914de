"""A dataset leaves the console in each training format (written by the real worker to an S3 folder
the user may write) and comes back through "Import from COCO, YOLO, Pascal VOC or CSV files" on the
Create dataset page, through the worker: the same images, labels and boxes (within one pixel)."""

import pytest
from django.urls import reverse

from datasets import labeling, operations
from datasets.models import Dataset, DatasetExport, Image
from projects.models import S3AccessGrant

from ..support import jpeg_bytes, png_bytes, seed, wait_until
from .test_manifest_round_trip import entries, settle

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def labeled(celery_worker_proc, client_user, console_bucket, project, user, s3, make_bucket):
    """A dataset of four images: two labeled by folder, boxes on one, one unlabeled (a negative)."""
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
    dataset = settle(Dataset.objects.get(project=project, name="flowers"))
    red = labeling.label_add(dataset=dataset, user=user, name="red")
    tulip = Image.objects.get(dataset=dataset, file_name="tulip 1.jpg")
    labeling.box_add(
        image=tulip, label=dataset.labels.get(name="tulip"), user=user, left=10, top=20, width=300, height=200
    )
    labeling.box_add(image=tulip, label=red, user=user, left=400, top=300, width=120, height=90)
    rose = Image.objects.get(dataset=dataset, file_name="rose-2.png")
    labeling.box_add(image=rose, label=red, user=user, left=33, top=17, width=101, height=77)
    dataset.refresh_from_db()
    return dataset, bucket


def export_to_s3(dataset, user, bucket, fmt, *, prefix, include_images=False) -> DatasetExport:
    from customlabels.s3_names import S3Location

    export = operations.dataset_export_start(
        dataset=dataset, user=user, fmt=fmt, include_images=include_images, s3_location=S3Location(bucket, prefix)
    )

    def written():
        export.refresh_from_db()
        assert export.status != DatasetExport.Status.FAILED, export.message
        return export.status == DatasetExport.Status.SUCCEEDED

    wait_until(written, timeout=60, what=f"the {fmt} export to be written")
    return export


def import_from(client_user, project, name, fmt, location) -> Dataset:
    form = {"name": name, "image_location": "format", "format": fmt, "format_location": location}
    response = client_user.post(reverse("datasets:create", args=[project.pk]), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    return settle(Dataset.objects.get(project=project, name=name))


def close(a: dict, b: dict, *, labels: bool = True) -> None:
    assert a.keys() == b.keys()
    for ref in a:
        assert a[ref]["size"] == b[ref]["size"], ref
        if labels:
            assert a[ref]["labels"] == b[ref]["labels"], ref
        assert len(a[ref]["boxes"]) == len(b[ref]["boxes"]), ref
        for box_a, box_b in zip(a[ref]["boxes"], b[ref]["boxes"], strict=True):
            assert box_a[0] == box_b[0], ref
            assert all(abs(x - y) <= 1 for x, y in zip(box_a[1:], box_b[1:], strict=True)), (box_a, box_b)


@pytest.mark.parametrize(
    ("fmt", "location", "labels"),
    [
        ("COCO", "annotations.json", True),
        ("CSV", "labels.csv", True),
        ("VOC", "", True),
        # YOLO detection has boxes only: image-level labels have no place in it.
        ("YOLO", "data.yaml", False),
    ],
)
def test_each_format_exported_to_s3_and_imported_again_gives_the_same_images_labels_and_boxes(
    labeled, client_user, project, user, fmt, location, labels
):
    dataset, bucket = labeled
    prefix = f"exports/{fmt.lower()}/"
    export = export_to_s3(dataset, user, bucket, fmt, prefix=prefix)
    assert export.images_done == export.images_total == 4
    back = import_from(client_user, project, f"back-{fmt.lower()}", fmt, f"s3://{bucket}/{prefix}{location}")
    before, after = entries(dataset), entries(back)
    if not labels:
        before = {ref: {**e, "labels": []} for ref, e in before.items()}
    close(before, after, labels=labels)


def test_a_yolo_export_with_its_images_imports_the_copies_with_their_boxes(labeled, client_user, project, user, s3):
    dataset, bucket = labeled
    export_to_s3(dataset, user, bucket, "YOLO", prefix="yolo-images/", include_images=True)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="yolo-images/")["Contents"]}
    assert "yolo-images/data.yaml" in keys
    assert sum(k.startswith("yolo-images/images/") for k in keys) == 4
    back = import_from(client_user, project, "back-yolo-images", "YOLO", f"s3://{bucket}/yolo-images/data.yaml")
    boxes = sorted(b for e in entries(back).values() for b in e["boxes"])
    assert boxes == sorted(b for e in entries(dataset).values() for b in e["boxes"])
    assert all(ref.startswith(f"s3://{bucket}/yolo-images/images/") for ref in entries(back))


def test_an_export_to_a_folder_the_user_may_only_read_is_refused_before_anything_is_written(labeled, user):
    dataset, bucket = labeled
    S3AccessGrant.objects.filter(user=user, bucket=bucket).update(can_write=False)
    from customlabels.s3_names import S3AccessRefused, S3Location

    with pytest.raises(S3AccessRefused):
        operations.dataset_export_start(
            dataset=dataset, user=user, fmt="COCO", include_images=False, s3_location=S3Location(bucket, "out/")
        )
    assert not DatasetExport.objects.exists()
