"""The Ground Truth manifest import (spec §2.3, §4, §5): through the real Celery worker and moto over HTTP.

A few cases run the import's steps in this process instead, for what the worker cannot be made to
do on cue: a limit patched smaller (the worker is another process), a read replayed after a crash.
"""

import json

import pytest
from django.db import transaction
from django.test import override_settings

from customlabels import s3 as s3_module
from customlabels import s3_stream
from datasets import imports
from datasets.errors import MESSAGES, DatasetError, ErrorCode
from datasets.formats import ground_truth_file
from datasets.imports import manifest as manifest_import
from datasets.imports.manifest import ManifestLocation, manifest_check, manifest_location_parse
from datasets.imports.progress import import_progress
from datasets.models import BoundingBox, Dataset, Image, ImageLabel, ImportChunk, ImportJob, Label
from datasets.tasks import manifest_chunk_task, manifest_read_task
from projects.s3_access import UserS3
from tests.factories import DatasetFactory

from ..support import jpeg_bytes, png_bytes, seed, wait_until

INVALID_IMAGE = "ERROR_INVALID_IMAGE"
WHEN = "2020-04-15T20:17:23.433061"


# --- manifest lines -------------------------------------------------------------------------


def classification(ref: str, *labels: str, **extra) -> str:
    """A Ground Truth classification line, one attribute per label (spec §5.2)."""
    line = {"source-ref": ref}
    for n, label in enumerate(labels):
        line[f"label{n}"] = n
        line[f"label{n}-metadata"] = {
            "confidence": 0.95,
            "job-name": "labeling-job/test",
            "class-name": label,
            "human-annotated": "yes",
            "creation-date": WHEN,
            "type": "groundtruth/image-classification",
            **extra,
        }
    return json.dumps(line)


def detection_attribute(size: tuple[int, int], boxes: list[tuple], class_map: dict[int, str], **metadata) -> dict:
    """A bounding-box attribute and its metadata (spec §5.3); boxes are (class_id, left, top, width, height)."""
    return {
        "value": {
            "image_size": [{"width": size[0], "height": size[1], "depth": 3}],
            "annotations": [
                {"class_id": c, "left": left, "top": top, "width": w, "height": h} for c, left, top, w, h in boxes
            ],
        },
        "metadata": {
            "objects": [{"confidence": 1} for _ in boxes],
            "class-map": {str(k): v for k, v in class_map.items()},
            "type": "groundtruth/object-detection",
            "human-annotated": "yes",
            "creation-date": "2013-11-18T02:53:27",
            "job-name": "my job",
            **metadata,
        },
    }


def detection(ref: str, size: tuple[int, int], boxes: list[tuple], class_map: dict[int, str], **metadata) -> str:
    attribute = detection_attribute(size, boxes, class_map, **metadata)
    return json.dumps(
        {"source-ref": ref, "bounding-box": attribute["value"], "bounding-box-metadata": attribute["metadata"]}
    )


def put_manifest(s3, bucket: str, lines: list[str], *, key: str = "gt-job/manifests/output/output.manifest", eol="\n"):
    body = "".join(line + eol for line in lines).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return ManifestLocation(bucket=bucket, key=key)


def create(project, location: ManifestLocation, *, name: str = "from-manifest") -> Dataset:
    """Create the dataset as the form does, after its checks; the import is queued when this returns."""
    manifest_check(location=location, reader=UserS3(project.owner_id))
    return manifest_import.dataset_create_from_manifest(project=project, name=name, location=location)


def settled(dataset: Dataset, *statuses: str) -> Dataset:
    """Wait until the worker brings the dataset to one of `statuses` and every valid image has its thumbnail."""

    def done():
        dataset.refresh_from_db()
        return dataset.status in statuses and not dataset.images.filter(needs_thumbnail=True).exists()

    wait_until(done, timeout=90, what=f"{dataset.name} to reach {' or '.join(statuses)} with its thumbnails")
    return dataset


def boxes_of(image: Image) -> list[tuple]:
    return [(b.label.name, b.left, b.top, b.width, b.height) for b in image.boxes.select_related("label")]


def labels_of(image: Image) -> set[str]:
    return {label.name for label in image.labels.all()}


def problem(code: str, *, level: str = "error", box: int | None = None, name: str | None = None) -> dict:
    message = MESSAGES[code].format(name) if name else MESSAGES[code]
    found = {"code": code, "message": message, "level": level}
    if box is not None:
        found["box"] = box
    return found


# --- one manifest with every kind of line ---------------------------------------------------

FILLERS = 27  # with them, 8 of the 40 lines are invalid: exactly 20%, which is still accepted


@pytest.fixture
def images_bucket(s3, make_bucket):
    bucket = make_bucket("images")
    objects = {
        "gt/cls.png": png_bytes(100, 100),
        "gt/det.jpg": jpeg_bytes(640, 480),
        "gt/multi.png": png_bytes(300, 200),
        "gt/offframe.png": png_bytes(200, 200),
        "gt/missing-class.png": png_bytes(100, 100),
        "gt/crowded.png": png_bytes(640, 480),
        "gt/wrong-type.png": png_bytes(100, 100),
        "gt/resized.png": png_bytes(400, 300),
        **{f"gt/filler-{n:02}.png": png_bytes(64, 64, color="white") for n in range(FILLERS)},
    }
    seed(s3, bucket, objects)
    return bucket


def every_kind_of_line(bucket: str) -> list[str]:
    def ref(name: str) -> str:
        return f"s3://{bucket}/gt/{name}"

    multi = json.loads(classification(ref("multi.png"), "football", "ball"))
    attribute = detection_attribute((300, 200), [(0, 10, 10, 50, 40)], {0: "ball"})
    multi |= {"bounding-box": attribute["value"], "bounding-box-metadata": attribute["metadata"]}
    too_long = json.loads(classification(ref("long.png"), "Echo"))
    too_long["label0-metadata"]["job-name"] = "x" * 200_000
    return [
        # 1. the classification example of spec §5.2
        f'{{"source-ref":"{ref("cls.png")}","TestCLConsoleBucket":0,"TestCLConsoleBucket-metadata":{{"confidence":0.95,"job-name":"labeling-job/testclconsolebucket","class-name":"Echo Dot","human-annotated":"yes","creation-date":"2020-04-15T20:17:23.433061","type":"groundtruth/image-classification"}}}}',
        # 2. the object detection example of spec §5.3, TABs included
        f'{{"source-ref": "{ref("det.jpg")}", "bounding-box": {{"image_size": [{{"width": 640, "height": 480, "depth": 3}}], "annotations": [{{ "class_id": 1,\t"top": 251,\t"left": 399, "width": 155, "height": 101}}, {{"class_id": 0, "top": 65, "left": 86, "width": 220,\t"height": 334}}]}}, "bounding-box-metadata": {{"objects": [{{ "confidence": 1}}, {{"confidence": 1}}],\t"class-map": {{"0": "Echo",\t"1": "Echo Dot"}}, "type": "groundtruth/object-detection", "human-annotated": "yes",\t"creation-date": "2013-11-18T02:53:27", "job-name": "my job"}}}}',
        # 3. two classification attributes and a bounding-box attribute on one line
        json.dumps(multi),
        # 4. the second box lies partly outside the 200×200 image
        detection(ref("offframe.png"), (200, 200), [(0, 10, 10, 50, 50), (0, 150, 150, 100, 100)], {0: "Echo"}),
        # 5. class_id 5 is not in the class-map
        detection(ref("missing-class.png"), (100, 100), [(5, 10, 10, 20, 20)], {0: "Echo"}),
        # 6. 51 boxes
        detection(ref("crowded.png"), (640, 480), [(0, 12 * n, 5, 10, 10) for n in range(51)], {0: "Echo"}),
        # 7. a use case type the console does not know
        detection(ref("wrong-type.png"), (100, 100), [(0, 10, 10, 20, 20)], {0: "Echo"}, type="groundtruth/wrongtype"),
        # 8. cls.png again
        classification(ref("cls.png"), "Other"),
        # 9. not JSON
        f'{{"source-ref": "{ref("cut.png")}", "label0": 1, "label0-metadata": {{"class-name": ',
        # 10. 200,000 characters
        json.dumps(too_long),
        # 11. blank
        "   ",
        # 12. not in the bucket
        classification(ref("missing.png"), "Echo"),
        # 13. 400×300 in S3, 800×600 in the manifest
        detection(ref("resized.png"), (800, 600), [(0, 100, 100, 200, 150)], {0: "Echo"}),
        *(classification(ref(f"filler-{n:02}.png"), "Echo") for n in range(FILLERS)),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_manifest_with_every_kind_of_line_imports_labels_boxes_and_problems_image_by_image(
    celery_worker_proc, console_bucket, project, images_bucket, s3
):
    # Windows line breaks: each line still ends where its "\r\n" starts.
    location = put_manifest(s3, images_bucket, every_kind_of_line(images_bucket), eol="\r\n")
    dataset = create(project, location)
    assert dataset.status == Dataset.Status.CREATE_IN_PROGRESS
    settled(dataset, Dataset.Status.CREATE_COMPLETE)

    assert dataset.status_message == "The dataset was successfully created from the manifest file."
    assert dataset.status_message_code == Dataset.StatusMessageCode.SUCCESS
    images = {image.file_name: image for image in dataset.images.prefetch_related("labels")}
    assert set(images) == {
        "cls.png",
        "det.jpg",
        "multi.png",
        "offframe.png",
        "missing-class.png",
        "crowded.png",
        "wrong-type.png",
        "missing.png",
        "resized.png",
        *(f"filler-{n:02}.png" for n in range(FILLERS)),
    }
    for image in images.values():
        assert image.source_ref == f"s3://{images_bucket}/gt/{image.file_name}"

    cls = images["cls.png"]
    assert (labels_of(cls), boxes_of(cls), cls.error_code, cls.problems) == ({"Echo Dot"}, [], "", [])
    assert (cls.format, cls.width, cls.height, cls.is_labeled) == ("PNG", 100, 100, True)
    assert cls.size == len(png_bytes(100, 100)) and cls.etag and cls.thumbnail_key

    det = images["det.jpg"]
    assert labels_of(det) == set()
    assert boxes_of(det) == [("Echo Dot", 399, 251, 155, 101), ("Echo", 86, 65, 220, 334)]
    assert (det.error_code, det.problems, det.is_labeled, det.format) == ("", [], True, "JPEG")

    multi = images["multi.png"]
    assert labels_of(multi) == {"football", "ball"}
    assert boxes_of(multi) == [("ball", 10, 10, 50, 40)]
    assert multi.error_code == ""

    offframe = images["offframe.png"]
    assert boxes_of(offframe) == [("Echo", 10, 10, 50, 50)]
    assert offframe.problems == [problem(ErrorCode.ERROR_INVALID_BOUNDING_BOX, box=2)]
    assert offframe.error_code == ErrorCode.ERROR_INVALID_BOUNDING_BOX
    assert offframe.error_message == "The bounding box has off frame values."
    assert offframe.is_labeled and offframe.thumbnail_key

    missing_class = images["missing-class.png"]
    assert (labels_of(missing_class), boxes_of(missing_class), missing_class.is_labeled) == (set(), [], False)
    assert missing_class.problems == [problem(ErrorCode.ERROR_MISSING_CLASS_MAP_ID)]
    assert missing_class.error_code == ErrorCode.ERROR_MISSING_CLASS_MAP_ID
    assert missing_class.thumbnail_key  # the file is fine; only its line is not

    crowded = images["crowded.png"]
    assert len(boxes_of(crowded)) == 51  # all kept, so someone can choose which one to delete
    assert crowded.problems == [problem(ErrorCode.ERROR_TOO_MANY_BOUNDING_BOXES)]
    assert crowded.error_message == "There are more bounding boxes than the allowed maximum."

    wrong_type = images["wrong-type.png"]
    assert (labels_of(wrong_type), boxes_of(wrong_type)) == (set(), [])
    assert wrong_type.problems == [
        problem(ErrorCode.ERROR_UNSUPPORTED_USE_CASE_TYPE, name="bounding-box"),
        problem(ErrorCode.ERROR_NO_VALID_LABEL_ATTRIBUTES),
    ]
    assert wrong_type.error_code == ErrorCode.ERROR_UNSUPPORTED_USE_CASE_TYPE

    missing = images["missing.png"]
    assert labels_of(missing) == {"Echo"}
    assert missing.error_code == INVALID_IMAGE
    assert missing.error_message == (
        "The image is invalid. Check S3 path and/or image properties. "
        f"The object s3://{images_bucket}/gt/missing.png does not exist."
    )
    assert missing.problems == [{"code": INVALID_IMAGE, "message": missing.error_message, "level": "error"}]
    assert (missing.width, missing.format, missing.needs_thumbnail, missing.thumbnail_key) == (None, "", False, "")

    resized = images["resized.png"]
    assert (resized.width, resized.height) == (400, 300)
    assert boxes_of(resized) == [("Echo", 50, 50, 100, 75)]  # scaled from the manifest's 800×600
    assert resized.error_code == ""

    assert sorted(dataset.labels.values_list("name", flat=True)) == ["Echo", "Echo Dot", "ball", "football"]
    assert dataset.images.filter(error_code="").count() == len(images) - 5
    assert dataset.images.filter(is_labeled=False).count() == 2  # missing-class.png and wrong-type.png

    job = dataset.import_jobs.get()
    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.found, job.skipped, job.already_present) == (40, 4, 0)
    assert list(job.report_items.order_by("id").values_list("key", "code", "reason")) == [
        ("line 8", ErrorCode.ERROR_DUPLICATE_SOURCE_REF, MESSAGES[ErrorCode.ERROR_DUPLICATE_SOURCE_REF]),
        ("line 9", ErrorCode.ERROR_INVALID_JSON_LINE, "The JSON Line has an invalid format."),
        ("line 10", ErrorCode.ERROR_JSON_LINE_TOO_LONG, MESSAGES[ErrorCode.ERROR_JSON_LINE_TOO_LONG]),
        ("line 11", "", "The line is blank."),
    ]
    assert job.message == f"{len(images)} imported, 5 with errors or warnings, 4 lines dropped."
    progress = import_progress(job=job)
    assert (progress.imported, progress.with_errors, progress.percent) == (len(images), 5, 100)
    assert progress.thumbnails == len(images) - 1  # every image but the missing one


@pytest.mark.django_db(transaction=True)
def test_running_a_manifest_import_step_again_creates_no_duplicates(
    celery_worker_proc, console_bucket, project, images_bucket, s3
):
    location = put_manifest(s3, images_bucket, every_kind_of_line(images_bucket))
    dataset = settled(create(project, location), Dataset.Status.CREATE_COMPLETE)
    job = dataset.import_jobs.get()
    before = snapshot(dataset, job)

    assert manifest_import.manifest_read(job_id=job.pk) is False
    manifest_read_task.apply(args=[job.pk]).get()
    for chunk in job.chunks.all():
        assert manifest_import.manifest_chunk(chunk_id=chunk.pk) == []
        manifest_chunk_task.apply(args=[chunk.pk]).get()
    assert manifest_import.manifest_finish_if_done(job_id=job.pk) is False

    assert snapshot(dataset, job) == before
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_COMPLETE


def snapshot(dataset: Dataset, job: ImportJob) -> dict:
    job.refresh_from_db()
    return {
        "images": sorted(dataset.images.values_list("source_ref", "error_code")),
        "image_labels": ImageLabel.objects.filter(image__dataset=dataset).count(),
        "boxes": BoundingBox.objects.filter(image__dataset=dataset).count(),
        "labels": sorted(dataset.labels.values_list("name", flat=True)),
        "chunks": list(job.chunks.order_by("seq").values_list("seq", "done")),
        "report": list(job.report_items.order_by("key").values_list("key", flat=True)),
        "counts": (job.found, job.skipped, job.already_present, job.chunks_total, job.chunks_done, job.status),
    }


# --- terminal file errors -------------------------------------------------------------------


def assert_failed_empty(dataset: Dataset, message: str) -> ImportJob:
    """The dataset failed with the console's message and holds nothing."""
    settled(dataset, Dataset.Status.CREATE_FAILED)
    assert dataset.status_message == message
    assert dataset.status_message_code == Dataset.StatusMessageCode.CLIENT_ERROR
    assert not dataset.images.exists()
    assert not dataset.labels.exists()
    job = dataset.import_jobs.get()
    assert job.status == ImportJob.Status.FAILED
    return job


@pytest.mark.django_db(transaction=True)
def test_an_empty_manifest_fails_the_dataset(celery_worker_proc, console_bucket, project, make_bucket, s3):
    location = put_manifest(s3, make_bucket("images"), [])
    assert_failed_empty(create(project, location), "The manifest file is empty.")


@pytest.mark.django_db(transaction=True)
def test_more_than_a_fifth_of_invalid_lines_fails_the_dataset_and_lists_them(
    celery_worker_proc, console_bucket, project, images_bucket, s3
):
    lines = [classification(f"s3://{images_bucket}/gt/filler-{n:02}.png", "Echo") for n in range(7)]
    lines += ["{not json", "[]", '{"no-source-ref": 1}']
    dataset = create(project, put_manifest(s3, images_bucket, lines))

    job = assert_failed_empty(dataset, "The manifest file contains too many invalid rows.")
    assert list(job.report_items.order_by("id").values_list("key", "code")) == [
        ("line 8", ErrorCode.ERROR_INVALID_JSON_LINE),
        ("line 9", ErrorCode.ERROR_INVALID_JSON_LINE),
        ("line 10", ErrorCode.ERROR_MISSING_SOURCE_REF),
    ]
    assert (job.found, job.skipped) == (10, 3)
    assert not job.chunks.exists()  # failed as the file was read: no image header was ever read


@pytest.mark.django_db(transaction=True)
def test_invalid_lines_and_missing_images_together_over_a_fifth_fail_the_dataset_and_remove_its_images(
    celery_worker_proc, console_bucket, project, images_bucket, s3
):
    # 10% invalid JSON passes the file check; 20% missing images on top make 30% in all.
    lines = [classification(f"s3://{images_bucket}/gt/filler-{n:02}.png", "Echo") for n in range(7)]
    lines += [
        classification(f"s3://{images_bucket}/gt/gone-1.png", "Gone"),
        classification(f"s3://{images_bucket}/gt/gone-2.png", "Gone"),
        "{not json",
    ]
    dataset = create(project, put_manifest(s3, images_bucket, lines))

    job = assert_failed_empty(dataset, "The manifest file contains too many invalid rows.")
    assert job.message == (
        "The manifest file contains too many invalid rows. 3 of 10 lines are invalid, more than 20%: "
        "1 in the file and 2 whose image is missing or invalid. No image was imported."
    )
    assert not ImageLabel.objects.filter(image__dataset=dataset).exists()


@pytest.mark.django_db(transaction=True)
def test_images_in_two_buckets_fail_the_dataset(
    celery_worker_proc, console_bucket, project, images_bucket, make_bucket, s3
):
    other = make_bucket("other")
    seed(s3, other, {"gt/elsewhere.png": png_bytes(100, 100)})
    lines = [
        classification(f"s3://{images_bucket}/gt/cls.png", "Echo"),
        classification(f"s3://{other}/gt/elsewhere.png", "Echo"),
    ]
    dataset = create(project, put_manifest(s3, images_bucket, lines))
    assert_failed_empty(dataset, "The manifest file contains images from multiple S3 buckets.")


@pytest.mark.django_db(transaction=True)
def test_more_than_250_labels_fail_the_dataset(celery_worker_proc, console_bucket, project, make_bucket, s3):
    bucket = make_bucket("images")
    lines = [classification(f"s3://{bucket}/gt/{n}.png", f"label-{n}") for n in range(251)]
    dataset = create(project, put_manifest(s3, bucket, lines))
    assert_failed_empty(dataset, "The manifest file has too many labels.")


@pytest.mark.django_db(transaction=True)
def test_a_manifest_deleted_before_the_worker_reads_it_fails_the_dataset(
    celery_worker_proc, console_bucket, project, images_bucket, s3
):
    location = put_manifest(s3, images_bucket, [classification(f"s3://{images_bucket}/gt/cls.png", "Echo")])
    manifest_check(location=location, reader=UserS3(project.owner_id))
    with transaction.atomic():
        # The import is queued when this commits, so the file is gone before the worker reads it.
        dataset = manifest_import.dataset_create_from_manifest(project=project, name="gone", location=location)
        s3.delete_object(Bucket=location.bucket, Key=location.key)

    message = f"The manifest file extension or contents are invalid. The object {location.uri} does not exist."
    job = assert_failed_empty(dataset, message)
    assert job.message == message


# --- adding images from a manifest ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_adding_from_a_manifest_imports_new_lines_and_a_failed_update_leaves_the_dataset_as_it_was(
    celery_worker_proc, console_bucket, project, images_bucket, s3
):
    def ref(name: str) -> str:
        return f"s3://{images_bucket}/gt/{name}"

    first = put_manifest(s3, images_bucket, [classification(ref("cls.png"), "Echo")], key="first.manifest")
    dataset = settled(create(project, first), Dataset.Status.CREATE_COMPLETE)

    second = put_manifest(
        s3,
        images_bucket,
        [classification(ref("cls.png"), "Changed"), classification(ref("multi.png"), "Echo Dot")],
        key="second.manifest",
    )
    job = imports.images_add(dataset=dataset, user=project.owner, source=imports.MANIFEST, manifest_location=second)
    settled(dataset, Dataset.Status.UPDATE_COMPLETE)
    assert dataset.status_message == "1 image was successfully added from the manifest file."
    assert {image.file_name: labels_of(image) for image in dataset.images.all()} == {
        "cls.png": {"Echo"},
        "multi.png": {"Echo Dot"},
    }
    job.refresh_from_db()
    assert (job.found, job.already_present, job.images.count()) == (2, 1, 1)
    assert job.message == "1 imported, 0 with errors or warnings, 0 lines dropped. 1 already in the dataset."

    before = snapshot(dataset, job)
    third = put_manifest(
        s3,
        images_bucket,
        [
            classification(ref("offframe.png"), "New"),
            classification(ref("resized.png"), "New"),
            classification(ref("crowded.png"), "New"),
            classification(ref("gone-1.png"), "New"),
            classification(ref("gone-2.png"), "New"),
        ],
        key="third.manifest",
    )
    failed = imports.images_add(dataset=dataset, user=project.owner, source=imports.MANIFEST, manifest_location=third)
    settled(dataset, Dataset.Status.UPDATE_FAILED)
    assert dataset.status_message == "The manifest file contains too many invalid rows."
    assert snapshot(dataset, job) == before
    assert not failed.images.exists()


# --- in this process ------------------------------------------------------------------------


def start(project, location: ManifestLocation) -> ImportJob:
    """Create the dataset; its queued task never runs (the test's transaction never commits)."""
    dataset = manifest_import.dataset_create_from_manifest(project=project, name="in-process", location=location)
    return dataset.import_jobs.get()


@pytest.mark.django_db
def test_more_lines_than_the_maximum_fail_the_dataset(project, make_bucket, s3, monkeypatch):
    # 250,001 lines take too long to build here; the limit is patched, so this runs in-process.
    monkeypatch.setattr(ground_truth_file, "MAX_LINES", 5)
    bucket = make_bucket("images")
    job = start(project, put_manifest(s3, bucket, [classification(f"s3://{bucket}/{n}.png", "a") for n in range(6)]))

    assert manifest_import.manifest_read(job_id=job.pk) is False
    job.refresh_from_db()
    job.dataset.refresh_from_db()
    assert (job.dataset.status, job.dataset.status_message) == (
        Dataset.Status.CREATE_FAILED,
        "The manifest file has too many rows.",
    )
    assert job.dataset.status_message_code == Dataset.StatusMessageCode.CLIENT_ERROR
    assert not job.chunks.exists() and not job.dataset.images.exists()


@pytest.mark.django_db
def test_a_manifest_larger_than_the_maximum_size_fails_without_being_read(project, make_bucket, s3, monkeypatch):
    monkeypatch.setattr(ground_truth_file, "MAX_MANIFEST_BYTES", 100)
    bucket = make_bucket("images")
    job = start(project, put_manifest(s3, bucket, [classification(f"s3://{bucket}/{n}.png", "a") for n in range(3)]))

    manifest_import.manifest_read(job_id=job.pk)
    job.refresh_from_db()
    assert job.dataset.status == Dataset.Status.CREATE_FAILED
    assert job.dataset.status_message == "The manifest file size exceeds the maximum supported size."
    assert job.found == 0


@pytest.mark.django_db
def test_a_read_replayed_after_a_crash_stores_and_counts_each_chunk_once(project, images_bucket, s3, monkeypatch):
    monkeypatch.setattr(manifest_import, "CHUNK_SIZE", 2)

    def ref(name: str) -> str:
        return f"s3://{images_bucket}/gt/{name}"

    lines = [classification(ref(f"filler-{n:02}.png"), f"label-{n % 2}") for n in range(5)]
    lines.insert(2, "")
    job = start(project, put_manifest(s3, images_bucket, lines))

    assert manifest_import.manifest_read(job_id=job.pk) is False  # chunks queued, none done
    job.refresh_from_db()
    first = (job.found, job.skipped, job.chunks_total, job.chunks.count(), job.report_items.count())
    assert first == (6, 1, 3, 3, 1)
    manifest_import.manifest_chunk(chunk_id=job.chunks.get(seq=1).pk)
    # The worker died after storing the chunks but before recording that the reading was done.
    ImportJob.objects.filter(pk=job.pk).update(listing_done=False)
    manifest_import.manifest_read(job_id=job.pk)
    for _ in range(2):
        for chunk in job.chunks.order_by("seq"):
            manifest_import.manifest_chunk(chunk_id=chunk.pk)

    job.refresh_from_db()
    assert (job.found, job.skipped, job.chunks_total, job.chunks.count(), job.report_items.count()) == first
    assert job.dataset.images.count() == 5
    assert ImageLabel.objects.filter(image__dataset=job.dataset).count() == 5
    assert sorted(Label.objects.filter(dataset=job.dataset).values_list("name", flat=True)) == ["label-0", "label-1"]
    assert manifest_import.manifest_finish_if_done(job_id=job.pk) is True
    assert manifest_import.manifest_finish_if_done(job_id=job.pk) is False
    job.dataset.refresh_from_db()
    assert job.dataset.status == Dataset.Status.CREATE_COMPLETE
    assert ImportChunk.objects.filter(job=job, done=False).count() == 0


@pytest.mark.django_db
@override_settings(IMPORT_SKIPPED_LISTED=3)
def test_dropped_lines_past_the_cap_are_counted_but_not_listed(project, images_bucket, s3):
    # 5 blank lines of 30: dropped and listed up to the cap, and within the 20% rule.
    lines = [classification(f"s3://{images_bucket}/gt/filler-{n:02}.png", "a") for n in range(25)] + [""] * 5
    job = start(project, put_manifest(s3, images_bucket, lines))

    manifest_import.manifest_read(job_id=job.pk)
    for chunk in job.chunks.order_by("seq"):
        manifest_import.manifest_chunk(chunk_id=chunk.pk)
    manifest_import.manifest_finish_if_done(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.SUCCEEDED, job.message
    assert (job.found, job.skipped) == (30, 5)
    assert sorted(job.report_items.values_list("key", flat=True)) == ["line 26", "line 27", "line 28"]
    assert job.message == (
        "25 imported, 0 with errors or warnings, 5 lines dropped. The first 3 are listed in the report."
    )


def test_the_line_reader_splits_on_line_breaks_across_reads_and_cuts_overlong_lines(make_bucket, s3, monkeypatch):
    monkeypatch.setattr(s3_stream, "LINE_READ_SIZE", 3)  # every line break straddles a read
    bucket = make_bucket("lines")
    body = b"one\r\ntwo\n\n" + b"x" * 20 + b"\r\nthree\r\n  \nlast"
    s3.put_object(Bucket=bucket, Key="m.manifest", Body=body)

    lines = list(s3_stream.iter_lines(bucket, "m.manifest", max_line_bytes=10))
    assert lines == [b"one", b"two", b"", b"x" * 11, b"three", b"  ", b"last"]

    s3.put_object(Bucket=bucket, Key="n.manifest", Body=b"one\n")
    assert list(s3_stream.iter_lines(bucket, "n.manifest", max_line_bytes=10)) == [b"one"]


# --- checks before anything is created -----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "bucket", "key"),
    [
        (
            "s3://bucket-1/gt-job/manifests/output/output.manifest",
            "bucket-1",
            "gt-job/manifests/output/output.manifest",
        ),
        ("  bucket-1/output.manifest ", "bucket-1", "output.manifest"),
    ],
)
def test_a_manifest_location_is_an_s3_uri_or_a_bucket_and_key(value, bucket, key):
    location = manifest_location_parse(value)
    assert (location.bucket, location.key, location.uri) == (bucket, key, f"s3://{bucket}/{key}")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "Enter the S3 location of the .manifest file"),
        ("https://bucket-1/output.manifest", "must start with s3:// or a bucket name"),
        ("s3:///output.manifest", "needs a bucket name"),
        ("s3://Bad_Bucket/output.manifest", "“Bad_Bucket” is not a valid bucket name"),
        ("s3://bucket-1", "needs the file's key after the bucket name"),
        ("bucket-1/manifests/", "needs the file's key after the bucket name"),
        ("s3://bucket-1/" + "k" * 1025, "too long"),
    ],
)
def test_a_malformed_manifest_location_is_refused_at_the_field(value, words):
    with pytest.raises(DatasetError) as caught:
        manifest_location_parse(value)
    assert caught.value.field == "manifest_location"
    assert words in str(caught.value)


@pytest.mark.django_db
def test_the_check_names_a_missing_bucket_a_missing_file_and_a_file_without_extension(make_bucket, s3, user, grant):
    # Inside a granted location the console's detailed messages stay.
    grant("no-such-bucket-here")
    bucket = make_bucket("manifests")
    reader = UserS3(user.pk)
    with pytest.raises(s3_module.S3BucketNotFound, match="The bucket “no-such-bucket-here” does not exist."):
        manifest_check(location=manifest_location_parse("s3://no-such-bucket-here/output.manifest"), reader=reader)

    with pytest.raises(DatasetError) as caught:
        manifest_check(location=manifest_location_parse(f"s3://{bucket}/gt/output.manifest"), reader=reader)
    assert caught.value.field == "manifest_location"
    assert str(caught.value) == (
        f"The manifest file extension or contents are invalid. The file s3://{bucket}/gt/output.manifest was not found."
    )

    s3.put_object(Bucket=bucket, Key="gt/output", Body=b"{}\n")
    with pytest.raises(DatasetError) as caught:
        manifest_check(location=manifest_location_parse(f"s3://{bucket}/gt/output"), reader=reader)
    assert caught.value.field == "manifest_location"
    assert str(caught.value) == (
        "The manifest file extension or contents are invalid. The file name “output” has no file extension; "
        "a manifest file's name ends in .manifest."
    )

    s3.put_object(Bucket=bucket, Key="gt/output.manifest", Body=b"{}\n")
    manifest_check(location=manifest_location_parse(f"s3://{bucket}/gt/output.manifest"), reader=reader)


@pytest.mark.django_db
def test_the_check_says_when_the_bucket_may_not_be_read(denied_bucket, user):
    with pytest.raises(s3_module.S3AccessDenied, match=f"Access to the bucket “{denied_bucket}” was denied"):
        manifest_check(
            location=manifest_location_parse(f"s3://{denied_bucket}/output.manifest"), reader=UserS3(user.pk)
        )


@pytest.mark.django_db
def test_a_second_dataset_of_the_same_name_is_refused_at_the_name(project):
    DatasetFactory(project=project, name="taken")
    with pytest.raises(DatasetError) as caught:
        manifest_import.dataset_create_from_manifest(
            project=project, name="taken", location=ManifestLocation(bucket="bucket-1", key="output.manifest")
        )
    assert caught.value.field == "name"
    assert str(caught.value) == "A dataset named “taken” already exists in this project."
    assert not ImportJob.objects.filter(dataset__project=project).exists()
