"""A person exports a dataset from its page ("Export dataset": YOLO to an S3 folder, then COCO as a
zip download, with the progress polled) and creates a dataset from the COCO files with the fifth
image location, "Import from COCO, YOLO, Pascal VOC or CSV files", in Chromium."""

import io
import json
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from datasets.models import BoundingBox, ImageLabel
from tests.datasets.support import jpeg_bytes, seed
from tests.factories import DatasetFactory, ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker]

SHOTS = Path(__file__).resolve().parents[2] / "bench-results" / "screenshots"


def test_export_a_dataset_in_each_delivery_and_import_the_coco_files_back(
    page, login, user, console_bucket, celery_worker_proc, s3, make_bucket
):
    bucket = make_bucket("pets")
    seed(s3, bucket, {f"pets/pet-{i}.jpg": jpeg_bytes(320, 240) for i in range(3)})
    project = ProjectFactory(owner=user, name="pets")
    source = DatasetFactory(project=project, name="cats-and-dogs")
    from datasets.models import Image, Label

    cat = Label.objects.create(dataset=source, name="cat")
    for i in range(3):
        image = Image.objects.create(
            dataset=source,
            source_ref=f"s3://{bucket}/pets/pet-{i}.jpg",
            file_name=f"pet-{i}.jpg",
            format="jpeg",
            width=320,
            height=240,
            is_labeled=True,
        )
        ImageLabel.objects.create(image=image, label=cat)
    BoundingBox.objects.create(image=image, label=cat, left=10, top=20, width=100, height=80)
    SHOTS.mkdir(parents=True, exist_ok=True)

    login(page, user)
    page.goto(page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + f"/datasets/{source.pk}/")
    page.get_by_role("link", name="Export dataset").click()
    expect(page.get_by_role("heading", name="Export dataset")).to_be_visible()
    page.get_by_role("radio", name="Ultralytics YOLO object detection").check()
    expect(page.get_by_label("Images in the val split (%)")).to_be_visible()
    page.get_by_role("radio", name="Write to an S3 folder").check()
    page.get_by_label("S3 folder to write to").fill(f"s3://{bucket}/yolo/")
    page.screenshot(path=str(SHOTS / "export-dialog.png"), full_page=True)
    page.get_by_role("button", name="Export").click()
    job = page.locator(".export-job").first
    expect(job.locator(".export-status")).to_have_text("Succeeded", timeout=60_000)
    expect(job).to_contain_text(f"s3://{bucket}/yolo/")
    assert s3.get_object(Bucket=bucket, Key="yolo/data.yaml")["Body"].read().startswith(b"# Exported")

    page.get_by_role("radio", name="COCO object detection (JSON)").check()
    expect(page.get_by_label("Images in the val split (%)")).to_be_hidden()
    page.get_by_role("radio", name="Download a zip file").check()
    expect(page.get_by_label("S3 folder to write to")).to_be_hidden()
    page.get_by_role("button", name="Export").click()
    job = page.locator(".export-job").first
    expect(job.locator(".export-status")).to_have_text("Succeeded", timeout=60_000)
    page.screenshot(path=str(SHOTS / "export-done.png"), full_page=True)
    with page.expect_download() as download_info:
        job.get_by_role("link", name="Download").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))
    document = json.loads(archive.read("annotations.json"))
    assert len(document["images"]) == 3 and len(document["annotations"]) == 1
    s3.put_object(Bucket=bucket, Key="coco/annotations.json", Body=archive.read("annotations.json"))

    page.get_by_role("link", name="pets").first.click()
    page.get_by_role("link", name="Create dataset").first.click()
    page.get_by_role("radio", name="Import from COCO, YOLO, Pascal VOC or CSV files").check()
    expect(page.get_by_label(".manifest file location")).to_be_hidden()
    page.get_by_label("Dataset name").fill("pets-from-coco")
    page.get_by_label("Format").select_option(label="COCO")
    page.get_by_label("S3 location of the files").fill(f"s3://{bucket}/coco/annotations.json")
    page.screenshot(path=str(SHOTS / "import-location.png"), full_page=True)
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", name="pets-from-coco", exact=True)).to_be_visible()
    expect(page.locator("#dataset-status")).to_have_text("CREATE_COMPLETE", timeout=60_000)
    gallery = page.locator("#gallery")
    expect(gallery.locator("[data-stat=total]")).to_have_text("3")
    expect(gallery.get_by_label("cat", exact=True)).to_be_visible()
