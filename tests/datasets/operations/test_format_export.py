"""Export dataset as a zip, downloaded through the page by its owner, read by readers we did not
write: pycocotools for COCO, labelformat for YOLO, the standard XML parser for Pascal VOC."""

import io
import xml.etree.ElementTree as ET
import zipfile
from urllib.request import urlopen

import pytest
from django.urls import reverse

from datasets.models import DatasetExport

from ..imports.test_format_round_trip import labeled  # noqa: F401  (a fixture)
from ..support import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def export_zip(client, dataset, **choices) -> zipfile.ZipFile:
    form = {"contents": "labels", "destination": "DOWNLOAD", **choices}
    response = client.post(reverse("datasets:export", args=[dataset.pk]), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    export = DatasetExport.objects.filter(dataset=dataset).latest("id")

    def written():
        export.refresh_from_db()
        assert export.status != DatasetExport.Status.FAILED, export.message
        return export.status == DatasetExport.Status.SUCCEEDED

    wait_until(written, timeout=60, what="the export to be written")
    listed = client.get(reverse("datasets:export_progress", args=[dataset.pk])).content.decode()
    assert "Succeeded" in listed and reverse("datasets:export_download", args=[export.pk]) in listed
    download = client.get(reverse("datasets:export_download", args=[export.pk]))
    assert download.status_code == 302
    with urlopen(download["Location"], timeout=30) as response:
        assert "attachment" in response.headers["Content-Disposition"]
        return zipfile.ZipFile(io.BytesIO(response.read()))


def test_the_coco_export_loads_in_pycocotools_with_pixel_xywh_boxes_and_negatives(labeled, client_user, tmp_path):  # noqa: F811
    from pycocotools.coco import COCO

    dataset, bucket = labeled
    archive = export_zip(client_user, dataset, format="COCO", contents="images")
    assert sorted(n for n in archive.namelist() if n.startswith("images/")) == [
        "images/rose-1.jpg",
        "images/rose-2.png",
        "images/tulip 1.jpg",
        "images/unsorted.png",
    ]
    archive.extractall(tmp_path)
    coco = COCO(str(tmp_path / "annotations.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["red", "rose", "tulip"]
    by_name = {image["file_name"]: image for image in coco.loadImgs(coco.getImgIds())}
    tulip = by_name["images/tulip 1.jpg"]
    assert (tulip["width"], tulip["height"]) == (800, 600)
    boxes = sorted(
        (coco.loadCats(a["category_id"])[0]["name"], a["bbox"]) for a in coco.loadAnns(coco.getAnnIds(tulip["id"]))
    )
    assert boxes == [("red", [400, 300, 120, 90]), ("tulip", [10, 20, 300, 200])]
    negative = by_name["images/unsorted.png"]
    assert coco.getAnnIds(negative["id"]) == [] and "image_labels" not in negative
    assert (tmp_path / "images" / "tulip 1.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_the_yolo_export_with_images_reads_in_labelformat_with_normalised_centre_boxes(labeled, client_user, tmp_path):  # noqa: F811
    from labelformat.formats.yolov8 import YOLOv8ObjectDetectionInput

    dataset, _ = labeled
    archive = export_zip(client_user, dataset, format="YOLO", contents="images", val_percent="1")
    archive.extractall(tmp_path)
    text = (tmp_path / "data.yaml").read_text()
    assert "names:" in text and "nc: 3" in text
    found = {}
    for split in ("train", "val"):
        reader = YOLOv8ObjectDetectionInput(input_file=tmp_path / "data.yaml", input_split=split)
        assert [c.name for c in reader.get_categories()] == ["red", "rose", "tulip"]
        for label in reader.get_labels():
            found[label.image.filename] = sorted(
                (o.category.name, [round(v) for v in (o.box.xmin, o.box.ymin, o.box.xmax, o.box.ymax)])
                for o in label.objects
            )
    assert found["tulip 1.jpg"] == [("red", [400, 300, 520, 390]), ("tulip", [10, 20, 310, 220])]
    assert found["unsorted.png"] == []  # a negative: an empty label file
    assert len(found) == 4


def test_the_voc_export_has_every_required_element_of_the_schema(labeled, client_user):  # noqa: F811
    dataset, bucket = labeled
    archive = export_zip(client_user, dataset, format="VOC")
    names = archive.namelist()
    assert {"ImageSets/Main/train.txt", "labels.txt"} <= set(names)
    annotations = {n: ET.fromstring(archive.read(n)) for n in names if n.startswith("Annotations/")}
    assert len(annotations) == 4
    for root in annotations.values():
        assert root.tag == "annotation"
        for path in ("folder", "filename", "size/width", "size/height", "size/depth", "segmented"):
            assert root.find(path) is not None and root.find(path).text, path
        for obj in root.findall("object"):
            for path in (
                "name",
                "pose",
                "truncated",
                "difficult",
                "bndbox/xmin",
                "bndbox/ymin",
                "bndbox/xmax",
                "bndbox/ymax",
            ):
                assert obj.find(path) is not None, path
    tulip = annotations["Annotations/tulip 1.xml"]
    assert tulip.find("path").text == f"s3://{bucket}/flowers/tulip/tulip 1.jpg"
    corners = sorted(
        (o.find("name").text, [int(o.find(f"bndbox/{c}").text) for c in ("xmin", "ymin", "xmax", "ymax")])
        for o in tulip.findall("object")
    )
    assert corners == [("red", [400, 300, 520, 390]), ("tulip", [10, 20, 310, 220])]


def test_class_folders_and_csv_list_each_label_and_box(labeled, client_user):  # noqa: F811
    dataset, bucket = labeled
    folders = export_zip(client_user, dataset, format="YOLO_CLASSIFY", contents="images", val_percent="1")
    names = set(folders.namelist())
    assert {"train/rose/rose-1.jpg", "train/tulip/tulip 1.jpg"} <= names or {"val/rose/rose-1.jpg"} <= names
    assert not any("unsorted" in n for n in names)  # no class, so not in a class folder
    rows = export_zip(client_user, dataset, format="CSV").read("labels.csv").decode().splitlines()
    assert rows[0] == "image,file_name,width,height,split,label,left,top,box_width,box_height"
    assert f"s3://{bucket}/flowers/tulip/tulip 1.jpg,tulip 1.jpg,800,600,train,red,400,300,120,90" in rows
    assert f"s3://{bucket}/flowers/unsorted.png,unsorted.png,128,128,train,,,,," in rows


def test_another_user_can_neither_see_nor_download_an_export(labeled, client_user, client_other_user):  # noqa: F811
    dataset, _ = labeled
    export_zip(client_user, dataset, format="CSV")
    export = DatasetExport.objects.get(dataset=dataset)
    assert client_other_user.get(reverse("datasets:export_download", args=[export.pk])).status_code == 404
    assert client_other_user.get(reverse("datasets:export", args=[dataset.pk])).status_code == 404
    assert client_other_user.post(reverse("datasets:export", args=[dataset.pk]), {"format": "COCO"}).status_code == 404
