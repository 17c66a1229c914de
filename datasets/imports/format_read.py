"""Reading a format's files from S3 as the user may (every read through their UserS3): the items
of a COCO or CSV file, a YOLO data.yaml with its label files, a Pascal VOC folder of annotation
files. Each item's image becomes an S3 URI: as written when it is one, else relative to the
annotation file's folder (a VOC file's: the dataset's `JPEGImages/`)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import yaml
from django.conf import settings

from customlabels import s3_names
from projects.s3_access import UserS3

from .. import rules
from ..formats import coco, table, voc, yolo
from ..formats.records import NORMALISED_SCALE, FormatError, ReadItem, names_unique, stem_of

COCO, YOLO, VOC, CSV = "COCO", "YOLO", "VOC", "CSV"
# Largest COCO, CSV or data.yaml file read (held in memory while it is parsed).
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_SMALL_FILE_BYTES = 4 * 1024 * 1024  # a VOC annotation, a YOLO label file or list


def _uri(base: str, bucket: str, ref: str) -> str:
    if ref.startswith("s3://"):
        return ref
    return f"s3://{bucket}/{posixpath.normpath(posixpath.join(base, ref.lstrip('/')))}"


def _parallel(fn: Callable, values: list) -> list:
    with ThreadPoolExecutor(max_workers=settings.IMPORT_HEADER_THREADS) as pool:
        return list(pool.map(fn, values))


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{what} is not UTF-8 text.") from exc


def _keys(reader: UserS3, bucket: str, prefix: str) -> list[str]:
    return [obj.key for page in reader.list_pages(bucket, prefix) for obj in page]


def format_items_read(*, fmt: str, bucket: str, key: str, reader: UserS3) -> list[ReadItem]:
    """The items of the format's files at s3://bucket/key (a file; VOC: the dataset's folder), each
    `ref` an S3 URI. Raises FormatError for files not of the format, s3_names.S3Error for reads."""
    if fmt == COCO:
        items = coco.coco_read(reader.read_object(bucket, key, max_bytes=MAX_FILE_BYTES))
        base = posixpath.dirname(key)
    elif fmt == CSV:
        text = _decode(reader.read_object(bucket, key, max_bytes=MAX_FILE_BYTES), "The CSV file")
        items, base = table.csv_read(text), posixpath.dirname(key)
    elif fmt == VOC:
        items, base = _voc_read(reader, bucket, key), posixpath.join(key, "JPEGImages")
    else:
        return _yolo_read(reader, bucket, key)
    for item in items:
        item.ref = _uri(base, bucket, item.ref) if item.ref else ""
    return items


def _voc_read(reader: UserS3, bucket: str, prefix: str) -> list[ReadItem]:
    annotations = sorted(k for k in _keys(reader, bucket, f"{prefix}Annotations/") if k.lower().endswith(".xml"))
    if not annotations:
        raise FormatError(f"s3://{bucket}/{prefix}Annotations/ holds no .xml annotation files.")

    def read(key: str) -> ReadItem:
        data = reader.read_object(bucket, key, max_bytes=MAX_SMALL_FILE_BYTES)
        return voc.voc_read(data, source=key.removeprefix(prefix))

    return _parallel(read, annotations)


def _yolo_read(reader: UserS3, bucket: str, key: str) -> list[ReadItem]:
    text = _decode(reader.read_object(bucket, key, max_bytes=MAX_SMALL_FILE_BYTES), "The data.yaml file")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FormatError(f"The data.yaml file is not valid YAML: {exc}".split("\n")[0]) from exc
    data = yolo.yolo_data_read(document)
    base = posixpath.dirname(key)
    images: list[tuple[str, str, str]] = []  # (image URI, label key, split)
    for split, entry in data.splits.items():
        path = posixpath.normpath(posixpath.join(base, entry))
        if path.lower().endswith(".txt"):
            listed = _decode(reader.read_object(bucket, path, max_bytes=MAX_FILE_BYTES), f"{entry}").splitlines()
            listed = [line.strip() for line in listed if line.strip()]
            uris = [line for line in listed if line.startswith("s3://")]
            unique = iter(names_unique(posixpath.basename(u) for u in uris))
            for line in listed:
                if line.startswith("s3://"):
                    label = posixpath.join(base, "labels", split, stem_of(next(unique)) + ".txt")
                    images.append((line, label, split))
                else:
                    image_key = posixpath.normpath(posixpath.join(base, line))
                    images.append((f"s3://{bucket}/{image_key}", yolo.label_path_of(image_key), split))
        else:
            for image_key in _keys(reader, bucket, path.rstrip("/") + "/"):
                if image_key.lower().endswith(rules.IMAGE_EXTENSIONS):
                    images.append((f"s3://{bucket}/{image_key}", yolo.label_path_of(image_key), split))
    if not images:
        raise FormatError("The data.yaml file's train and val entries hold no images.")
    labels_prefix = posixpath.join(base, "labels") + "/" if base else "labels/"
    # Label files by their size: an empty one, like a missing one, is a negative image (S3 refuses a
    # ranged read of an empty object).
    existing = {obj.key: obj.size for page in reader.list_pages(bucket, labels_prefix) for obj in page}
    names = data.names

    def read(entry: tuple[str, str, str]) -> ReadItem:
        uri, label_key, split = entry
        item = ReadItem(ref=uri, source=label_key, size=(NORMALISED_SCALE, NORMALISED_SCALE))
        if label_key.startswith(labels_prefix) and not existing.get(label_key):
            return item  # no label file: a negative (background) image, as Ultralytics reads it
        try:
            data = reader.read_object(bucket, label_key, max_bytes=MAX_SMALL_FILE_BYTES)
        except s3_names.S3ObjectNotFound:
            return item  # no label file: a negative (background) image, as Ultralytics reads it
        item.boxes, item.box_errors = yolo.yolo_labels_read(_decode(data, label_key), names=names)
        return item

    return _parallel(read, images)
