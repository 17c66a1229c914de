"""Import from COCO, YOLO, Pascal VOC or CSV files: every problem reported per item in the job's CSV
report (an unknown class id, a box outside the image, a missing image file), the 20% rule, a file
that is not of its format, and the fifth location on "Add images"."""

import csv
import io
import json

import pytest
from django.urls import reverse

from datasets.models import Dataset, Image, ImportJob

from ..support import jpeg_bytes, seed, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def settled(dataset: Dataset, *statuses) -> Dataset:
    def done():
        dataset.refresh_from_db()
        return dataset.status in statuses

    wait_until(done, timeout=90, what=f"{dataset.name} to settle (it is {dataset.status})")
    return dataset


def coco_file(n_images: int, *, bad: dict[int, str]) -> bytes:
    """`n_images` 100×100 images with a box each; `bad` makes image i's problem: "class", "outside" or "missing"."""
    images, annotations = [], []
    for i in range(n_images):
        name = f"missing-{i}.jpg" if bad.get(i) == "missing" else f"img-{i}.jpg"
        images.append({"id": i + 1, "file_name": f"images/{name}", "width": 100, "height": 100})
        box = [150, 10, 30, 30] if bad.get(i) == "outside" else [10, 10, 30, 30]
        category = 7 if bad.get(i) == "class" else 1
        annotations.append({"id": i + 1, "image_id": i + 1, "category_id": category, "bbox": box})
    return json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "cat"}]}).encode()


def create(client, project, name, fmt, location) -> Dataset:
    form = {"name": name, "image_location": "format", "format": fmt, "format_location": location}
    response = client.post(reverse("datasets:create", args=[project.pk]), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    return Dataset.objects.get(project=project, name=name)


def report(client, dataset) -> list[list[str]]:
    job = ImportJob.objects.filter(dataset=dataset).latest("id")
    body = b"".join(client.get(reverse("datasets:import_report", args=[job.pk])).streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))[1:]  # after the header row


@pytest.fixture
def coco_bucket(s3, make_bucket):
    bucket = make_bucket("coco")
    seed(s3, bucket, {f"set/images/img-{i}.jpg": jpeg_bytes(100, 100) for i in range(15)})
    return bucket


def test_each_problem_is_reported_per_item_and_a_fifth_of_problems_still_imports(
    celery_worker_proc, client_user, console_bucket, project, coco_bucket, s3
):
    s3.put_object(
        Bucket=coco_bucket, Key="set/ok.json", Body=coco_file(15, bad={0: "class", 1: "outside", 2: "missing"})
    )
    dataset = settled(
        create(client_user, project, "coco-ok", "COCO", f"s3://{coco_bucket}/set/ok.json"), "CREATE_COMPLETE"
    )
    assert Image.objects.filter(dataset=dataset).count() == 15
    assert Image.objects.filter(dataset=dataset, boxes__isnull=False).distinct().count() == 12
    rows = {row[0]: row for row in report(client_user, dataset)}
    base = f"s3://{coco_bucket}/set/images/"
    assert (
        rows[f"{base}img-0.jpg"][1] == "ERROR_MISSING_CLASS_MAP_ID" and "Category id 7" in rows[f"{base}img-0.jpg"][2]
    )
    assert rows[f"{base}img-1.jpg"][1] == "ERROR_INVALID_BOUNDING_BOX"
    assert rows[f"{base}missing-2.jpg"][1] == "ERROR_INVALID_IMAGE"
    assert len(rows) == 3


def test_more_than_a_fifth_of_items_with_problems_fails_the_import_and_keeps_the_problems_in_the_report(
    celery_worker_proc, client_user, console_bucket, project, coco_bucket, s3
):
    bad = {0: "class", 1: "outside", 2: "missing", 3: "missing"}
    s3.put_object(Bucket=coco_bucket, Key="set/bad.json", Body=coco_file(15, bad=bad))
    dataset = settled(
        create(client_user, project, "coco-bad", "COCO", f"s3://{coco_bucket}/set/bad.json"), "CREATE_FAILED"
    )
    assert "4 of 15 items" in dataset.status_message and "more than 20%" in dataset.status_message
    assert not Image.objects.filter(dataset=dataset).exists()
    codes = sorted(row[1] for row in report(client_user, dataset))
    assert codes == [
        "ERROR_INVALID_BOUNDING_BOX",
        "ERROR_INVALID_IMAGE",
        "ERROR_INVALID_IMAGE",
        "ERROR_MISSING_CLASS_MAP_ID",
    ]


def test_a_file_that_is_not_of_its_format_fails_with_what_is_wrong(
    celery_worker_proc, client_user, console_bucket, project, coco_bucket, s3
):
    s3.put_object(Bucket=coco_bucket, Key="set/broken.json", Body=b"{not json")
    dataset = settled(
        create(client_user, project, "broken", "COCO", f"s3://{coco_bucket}/set/broken.json"), "CREATE_FAILED"
    )
    assert dataset.status_message.startswith("The COCO files could not be read: The COCO file is not valid JSON")


def test_the_form_says_what_is_wrong_with_the_location_where_the_user_is(
    client_user, console_bucket, project, coco_bucket
):
    url = reverse("datasets:create", args=[project.pk])
    form = {"name": "x", "image_location": "format", "format": "YOLO", "format_location": f"s3://{coco_bucket}/a.json"}
    response = client_user.post(url, form)
    assert response.status_code == 200, response.get("Location")
    page = response.content.decode()
    assert "A YOLO file&#x27;s name ends in .yaml or .yml" in page
    form.update(format="COCO", format_location=f"s3://{coco_bucket}/nothing-here.json")
    assert "was not found" in client_user.post(url, form).content.decode()
    assert not Dataset.objects.exists()


def test_yolo_files_added_to_a_dataset_report_an_unknown_class_id(
    celery_worker_proc, client_user, console_bucket, project, make_bucket, s3
):
    bucket = make_bucket("yolo")
    objects = {f"y/images/train/{n}.jpg": jpeg_bytes(200, 100) for n in "abcde"}
    objects.update({f"y/labels/train/{n}.txt": b"0 0.5 0.5 0.5 0.5\n" for n in "abcd"})
    objects["y/labels/train/e.txt"] = b"5 0.5 0.5 0.2 0.2\n0 0.25 0.5 0.1 0.2\n"
    objects["y/data.yaml"] = b"path: .\ntrain: images/train\nnames:\n  0: dog\n"
    seed(s3, bucket, objects)
    dataset = Dataset.objects.create(project=project, name="pets", arn_suffix=1, status="CREATE_COMPLETE")
    form = {"image_location": "format", "format": "YOLO", "format_location": f"s3://{bucket}/y/data.yaml"}
    response = client_user.post(reverse("datasets:add_images", args=[dataset.pk]), form)
    assert response.status_code == 302
    settled(dataset, "UPDATE_COMPLETE")
    a = Image.objects.get(dataset=dataset, file_name="a.jpg").boxes.get()
    assert (a.left, a.top, a.width, a.height) == (50, 25, 100, 50)
    e = Image.objects.get(dataset=dataset, file_name="e.jpg")
    assert e.error_code == "ERROR_MISSING_CLASS_MAP_ID" and "Class id 5" in e.error_message
    assert [(b.left, b.width) for b in e.boxes.all()] == [(40, 20)]
