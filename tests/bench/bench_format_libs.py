"""The format libraries weighed for the COCO/YOLO export (issue 15): labelformat, supervision and
datumaro write the labels of N images with two boxes each, labels only, beside our own writers.

Not part of `make bench` (the three libraries and their dependencies weigh about 900 MB): run it in
a venv of its own,

    python3 -m venv /tmp/fmt-eval && /tmp/fmt-eval/bin/pip install labelformat supervision datumaro pycocotools
    PYTHONPATH=. /tmp/fmt-eval/bin/python tests/bench/bench_format_libs.py --images 100000

Writes go to a temporary folder; the figure is wall time per library and format.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "customlabels.settings")

from datasets.formats import coco, yolo  # noqa: E402  (pure modules, no Django set-up needed)
from datasets.formats.records import Box, ExportImage  # noqa: E402

CLASSES = [f"class{n}" for n in range(10)]


def images(n: int) -> list[ExportImage]:
    return [
        ExportImage(
            ref=f"s3://bucket/images/img{i}.jpg",
            name=f"img{i}.jpg",
            width=640,
            height=480,
            boxes=(Box(CLASSES[i % 10], 10, 20, 100, 80), Box(CLASSES[(i + 3) % 10], 200, 150, 60, 90)),
        )
        for i in range(n)
    ]


def timed(label: str, fn) -> None:
    start = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # a library that cannot do it is a finding, not a crash of the bench
        print(f"{label:40s} failed: {type(exc).__name__}: {exc}"[:200])
        return
    print(f"{label:40s} {time.perf_counter() - start:8.2f} s", flush=True)


def ours(data: list[ExportImage], out: Path) -> None:
    timed("ours COCO", lambda: (out / "ours.json").write_bytes(b"".join(coco.coco_write(data, classes=CLASSES))))
    timed(
        "ours YOLO (in memory)",
        lambda: sum(len(b) for _, b in yolo.yolo_files(data, classes=CLASSES, with_images=False)),
    )


def labelformat_bench(data: list[ExportImage], out: Path) -> None:
    from labelformat.formats.coco import COCOObjectDetectionOutput
    from labelformat.formats.yolov8 import YOLOv8ObjectDetectionOutput
    from labelformat.model.bounding_box import BoundingBox
    from labelformat.model.category import Category
    from labelformat.model.image import Image
    from labelformat.model.object_detection import ImageObjectDetection, SingleObjectDetection

    categories = [Category(id=n, name=name) for n, name in enumerate(CLASSES)]
    by_name = {c.name: c for c in categories}

    class Input:
        def get_categories(self):
            return iter(categories)

        def get_images(self):
            return (Image(id=i, filename=im.name, width=im.width, height=im.height) for i, im in enumerate(data))

        def get_labels(self):
            for i, im in enumerate(data):
                image = Image(id=i, filename=im.name, width=im.width, height=im.height)
                objects = [
                    SingleObjectDetection(
                        category=by_name[b.label],
                        box=BoundingBox(xmin=b.left, ymin=b.top, xmax=b.left + b.width, ymax=b.top + b.height),
                    )
                    for b in im.boxes
                ]
                yield ImageObjectDetection(image=image, objects=objects)

    timed("labelformat COCO", lambda: COCOObjectDetectionOutput(output_file=out / "lf.json").save(Input()))
    timed(
        "labelformat YOLOv8 (files on disk)",
        lambda: YOLOv8ObjectDetectionOutput(output_file=out / "lf-yolo" / "data.yaml", output_split="train").save(
            Input()
        ),
    )


def supervision_bench(data: list[ExportImage], out: Path) -> None:
    import numpy as np
    import supervision as sv

    ids = {name: n for n, name in enumerate(CLASSES)}
    paths = [str(out / "sv-images" / im.name) for im in data]
    annotations = {
        path: sv.Detections(
            xyxy=np.array([[b.left, b.top, b.left + b.width, b.top + b.height] for b in im.boxes], dtype=float),
            class_id=np.array([ids[b.label] for b in im.boxes]),
        )
        for path, im in zip(paths, data, strict=True)
    }
    dataset = sv.DetectionDataset(classes=CLASSES, images=paths, annotations=annotations)
    timed("supervision COCO (reads every image)", lambda: dataset.as_coco(annotations_path=str(out / "sv.json")))
    timed(
        "supervision YOLO (reads every image)",
        lambda: dataset.as_yolo(annotations_directory_path=str(out / "sv-yolo"), data_yaml_path=str(out / "sv.yaml")),
    )


def datumaro_bench(data: list[ExportImage], out: Path) -> None:
    import datumaro as dm

    ids = {name: n for n, name in enumerate(CLASSES)}

    def build():
        return dm.Dataset.from_iterable(
            [
                dm.DatasetItem(
                    id=im.name.rsplit(".", 1)[0],
                    subset="train",
                    media=dm.Image.from_file(path=im.name, size=(im.height, im.width)),
                    annotations=[dm.Bbox(b.left, b.top, b.width, b.height, label=ids[b.label]) for b in im.boxes],
                )
                for im in data
            ],
            categories=CLASSES,
        )

    holder = {}
    timed("datumaro build dataset", lambda: holder.setdefault("ds", build()))
    if "ds" in holder:
        timed("datumaro COCO", lambda: holder["ds"].export(str(out / "dm-coco"), "coco_instances"))
        timed("datumaro YOLO", lambda: holder["ds"].export(str(out / "dm-yolo"), "yolo"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--only", default="ours,labelformat,supervision,datumaro")
    args = parser.parse_args()
    data = images(args.images)
    print(f"{args.images:,} images, 2 boxes each, labels only")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for name in args.only.split(","):
            {
                "ours": ours,
                "labelformat": labelformat_bench,
                "supervision": supervision_bench,
                "datumaro": datumaro_bench,
            }[name](data, out)


if __name__ == "__main__":
    main()
