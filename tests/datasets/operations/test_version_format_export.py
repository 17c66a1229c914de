"""Export dataset of a version: every format writes the entries the version froze, not what the live
dataset has become (boxes moved and deleted, labels added and renamed, images deleted), read by readers
we did not write (pycocotools, labelformat); only the version's owner sees or downloads it."""

import io
import zipfile
from urllib.request import urlopen

import pytest
from django.urls import reverse

from datasets import labeling, versions
from datasets.models import BoundingBox, DatasetExport, Image, Label
from projects.models import S3AccessGrant

from ..imports.test_format_round_trip import labeled  # noqa: F401  (a fixture)
from ..support import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def changed(labeled, user):  # noqa: F811
    """Version v1 of the labeled dataset, then the live dataset changed in every way a version must not see."""
    dataset, bucket = labeled
    version = versions.version_create(dataset=dataset, user=user, name="v1")
    tulip = Image.objects.get(dataset=dataset, file_name="tulip 1.jpg")
    moved = BoundingBox.objects.get(image=tulip, label__name="tulip")
    labeling.box_change(box=moved, user=user, left=100, top=100, width=50, height=50)
    labeling.box_delete(box=BoundingBox.objects.get(image=tulip, label__name="red"), user=user)
    blue = labeling.label_add(dataset=dataset, user=user, name="blue")
    labeling.images_labels_assign(
        dataset=dataset, user=user, label_ids=[blue.pk], images=Image.objects.filter(dataset=dataset)
    )
    labeling.label_rename(label=Label.objects.get(dataset=dataset, name="rose"), user=user, name="roses")
    Image.objects.filter(dataset=dataset, file_name__in=["unsorted.png", "rose-1.jpg"]).delete()
    return dataset, version, bucket


def version_export_zip(client, version, **choices) -> zipfile.ZipFile:
    form = {"contents": "labels", "destination": "DOWNLOAD", **choices}
    response = client.post(reverse("datasets:version_export_dataset", args=[version.pk]), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    export = DatasetExport.objects.filter(version=version).latest("id")

    def written():
        export.refresh_from_db()
        assert export.status != DatasetExport.Status.FAILED, export.message
        return export.status == DatasetExport.Status.SUCCEEDED

    wait_until(written, timeout=60, what="the version's export to be written")
    assert export.images_done == export.images_total == 4
    listed = client.get(reverse("datasets:version_export_progress", args=[version.pk])).content.decode()
    assert "Succeeded" in listed and reverse("datasets:export_download", args=[export.pk]) in listed
    download = client.get(reverse("datasets:export_download", args=[export.pk]))
    assert download.status_code == 302
    with urlopen(download["Location"], timeout=30) as response:
        assert "-v1-" in response.headers["Content-Disposition"]
        return zipfile.ZipFile(io.BytesIO(response.read()))


def test_a_versions_coco_export_holds_its_frozen_entries_not_the_live_dataset(changed, client_user, tmp_path):
    from pycocotools.coco import COCO

    dataset, version, _ = changed
    archive = version_export_zip(client_user, version, format="COCO", contents="images")
    assert sorted(n for n in archive.namelist() if n.startswith("images/")) == [
        "images/rose-1.jpg",
        "images/rose-2.png",
        "images/tulip 1.jpg",
        "images/unsorted.png",
    ]  # the deleted images too: the version refers to them where they are in S3
    archive.extractall(tmp_path)
    coco = COCO(str(tmp_path / "annotations.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["red", "rose", "tulip"]  # no blue, no roses
    by_name = {image["file_name"]: image for image in coco.loadImgs(coco.getImgIds())}
    tulip = by_name["images/tulip 1.jpg"]
    boxes = sorted(
        (coco.loadCats(a["category_id"])[0]["name"], a["bbox"]) for a in coco.loadAnns(coco.getAnnIds(tulip["id"]))
    )
    assert boxes == [("red", [400, 300, 120, 90]), ("tulip", [10, 20, 300, 200])]
    assert coco.getAnnIds(by_name["images/unsorted.png"]["id"]) == []
    assert (tmp_path / "images" / "unsorted.png").read_bytes()[:4] == b"\x89PNG"

    # The dataset's own export is of the dataset as it is now, and lists only its own exports.
    page = client_user.get(reverse("datasets:export", args=[dataset.pk])).content.decode()
    assert "No export yet." in page


def test_a_versions_yolo_export_splits_its_own_entries_and_reads_in_labelformat(changed, client_user, tmp_path):
    from labelformat.formats.yolov8 import YOLOv8ObjectDetectionInput

    _, version, _ = changed
    archive = version_export_zip(client_user, version, format="YOLO", contents="images", val_percent="50")
    archive.extractall(tmp_path)
    found, splits = {}, {}
    for split in ("train", "val"):
        reader = YOLOv8ObjectDetectionInput(input_file=tmp_path / "data.yaml", input_split=split)
        assert [c.name for c in reader.get_categories()] == ["red", "rose", "tulip"]
        for label in reader.get_labels():
            splits[label.image.filename] = split
            found[label.image.filename] = sorted(
                (o.category.name, [round(v) for v in (o.box.xmin, o.box.ymin, o.box.xmax, o.box.ymax)])
                for o in label.objects
            )
    assert found == {
        "rose-1.jpg": [],
        "rose-2.png": [("red", [33, 17, 134, 94])],
        "tulip 1.jpg": [("red", [400, 300, 520, 390]), ("tulip", [10, 20, 310, 220])],
        "unsorted.png": [],
    }
    assert sorted(splits.values()) == ["train", "train", "val", "val"]  # 50% of the version's own entries
    again = version_export_zip(client_user, version, format="YOLO", val_percent="50")
    assert sorted(n for n in again.namelist() if n.startswith("labels/val/")) == sorted(
        f"labels/val/{name.rsplit('.', 1)[0]}.txt" for name, split in splits.items() if split == "val"
    )  # the same entries in val on every export


def test_a_versions_csv_and_ground_truth_exports_hold_its_labels(changed, client_user):
    _, version, bucket = changed
    rows = version_export_zip(client_user, version, format="CSV").read("labels.csv").decode().splitlines()
    assert f"s3://{bucket}/flowers/rose/rose-1.jpg,rose-1.jpg,640,480,train,rose,,,," in rows
    assert not any(",blue," in row or ",roses," in row for row in rows)
    manifest = version_export_zip(client_user, version, format="GROUND_TRUTH")
    (name,) = manifest.namelist()
    assert name == "flowers-v1.manifest" and len(manifest.read(name).splitlines()) == 4


def test_another_user_can_neither_open_nor_start_nor_download_a_versions_export(
    changed, client_user, client_other_user
):
    _, version, _ = changed
    version_export_zip(client_user, version, format="CSV")
    export = DatasetExport.objects.get(version=version)
    for name in ("datasets:version_export_dataset", "datasets:version_export_progress"):
        assert client_other_user.get(reverse(name, args=[version.pk])).status_code == 404
    response = client_other_user.post(
        reverse("datasets:version_export_dataset", args=[version.pk]),
        {"format": "COCO", "contents": "labels", "destination": "DOWNLOAD"},
    )
    assert response.status_code == 404
    assert client_other_user.get(reverse("datasets:export_download", args=[export.pk])).status_code == 404
    assert DatasetExport.objects.count() == 1


def test_a_versions_export_to_a_folder_the_user_may_only_read_is_refused_on_the_form(changed, client_user, user):
    _, version, bucket = changed
    S3AccessGrant.objects.filter(user=user, bucket=bucket).update(can_write=False)
    response = client_user.post(
        reverse("datasets:version_export_dataset", args=[version.pk]),
        {"format": "COCO", "contents": "labels", "destination": "S3", "s3_location": f"s3://{bucket}/out/"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert 'role="alert"' in page and "Export version <strong>v1</strong>" in page
    assert not DatasetExport.objects.exists()
