"""Copy a dataset, "Create test dataset" (the 20% split) and "Download manifest": the services, the real
worker where a task runs, moto over HTTP for every S3 object."""

import json
from collections import Counter

import pytest

from customlabels.s3 import MULTIPART_PART_SIZE
from datasets import labeling, operations, services
from datasets.errors import DatasetError
from datasets.formats import ground_truth
from datasets.models import BoundingBox, Dataset, Image, ImageLabel, ImportJob, Label, ManifestExport
from tests.factories import DatasetFactory, ImportJobFactory, ProjectFactory

from .support import build_images, content, jpeg_bytes, pets, png_bytes, wait_until

INSUFFICIENT = "ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE"

# --- building datasets ------------------------------------------------------------------------


def put_thumbnail(s3, console_bucket, image: Image) -> str:
    """A thumbnail in the console bucket where the thumbnail task puts it, recorded on the image."""
    key = f"thumbnails/{image.dataset_id}/{image.pk}.jpg"
    s3.put_object(Bucket=console_bucket.name, Key=key, Body=jpeg_bytes(64, 48), ContentType="image/jpeg")
    Image.objects.filter(pk=image.pk).update(thumbnail_key=key, needs_thumbnail=False)
    return key


def keys_under(s3, bucket: str, prefix: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])}


def settled(dataset: Dataset, status: str) -> Dataset:
    """Wait for the worker to bring the dataset to `status` with every thumbnail made or copied."""

    def done():
        dataset.refresh_from_db()
        return dataset.status == status and not Image.objects.filter(dataset=dataset, needs_thumbnail=True).exists()

    wait_until(done, timeout=60, what=f"{dataset.name} to reach {status} with its thumbnails")
    return dataset


BOX_PROBLEM = {"code": "ERROR_INVALID_BOUNDING_BOX", "message": "The bounding box is invalid.", "level": "error"}
INVALID_IMAGE = (
    "ERROR_INVALID_IMAGE",
    "The image is invalid: it is 32×32 pixels; each side must be 64 to 4096 pixels.",
)


def flowers(dataset: Dataset) -> dict[str, Image]:
    """Image-level labels, boxes, a box error, an unusable image and an unlabeled one."""
    return build_images(
        dataset,
        [
            {"key": "roses/rose-1.jpg", "labels": ["rose"], "boxes": [("rose", 10, 20, 100, 80)]},
            {"key": "roses/rose-2.jpg", "labels": ["rose", "red"], "width": 800, "height": 600},
            {
                "key": "tulips/tulip-1.jpg",
                "boxes": [("tulip", 5, 5, 50, 60), ("tulip", 300, 200, 40, 40)],
                "problems": [{**BOX_PROBLEM, "box": 1}],
            },
            {
                "key": "tiny.png",
                "format": "PNG",
                "width": 32,
                "height": 32,
                "error_code": INVALID_IMAGE[0],
                "error_message": INVALID_IMAGE[1],
                "problems": [{"code": INVALID_IMAGE[0], "message": INVALID_IMAGE[1], "level": "error"}],
            },
            {"key": "meadow.jpg"},
        ],
    )


# --- copy -------------------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_copy_holds_the_same_entries_changes_on_its_own_and_outlives_its_source(
    celery_worker_proc, s3, make_bucket, console_bucket, user, project
):
    source = DatasetFactory(project=project, name="flowers")
    images = flowers(source)
    Label.objects.create(dataset=source, name="daisy")  # on the label list, on no image
    bucket = make_bucket("flowers")
    for key, image in images.items():
        if not image.error_code:
            s3.put_object(Bucket=bucket, Key=key, Body=png_bytes(120, 90))
            Image.objects.filter(pk=image.pk).update(source_ref=f"s3://{bucket}/{key}")
    put_thumbnail(s3, console_bucket, images["roses/rose-1.jpg"])
    put_thumbnail(s3, console_bucket, images["roses/rose-2.jpg"])
    # A thumbnail made but since lost, and one never made: both are made again for the copy.
    Image.objects.filter(pk=images["tulips/tulip-1.jpg"].pk).update(thumbnail_key=f"thumbnails/{source.pk}/gone.jpg")
    Image.objects.filter(pk=images["meadow.jpg"].pk).update(needs_thumbnail=True)
    before = content(source)

    copy = operations.dataset_create_copy(project=project, name="flowers-copy", source=source, user=user)
    assert copy.status == Dataset.Status.CREATE_IN_PROGRESS
    settled(copy, Dataset.Status.CREATE_COMPLETE)

    assert content(copy) == before
    assert sorted(copy.labels.values_list("name", flat=True)) == ["daisy", "red", "rose", "tulip"]
    assert copy.status_message == "The dataset was successfully copied from flowers."
    job = copy.import_jobs.get()
    assert (job.source, job.status, job.found, job.images.count()) == (ImportJob.Source.COPY, "SUCCEEDED", 5, 5)
    assert job.parameters == {"source_dataset": source.pk, "source_name": "flowers"}
    thumbnails = dict(copy.images.values_list("file_name", "thumbnail_key"))
    assert thumbnails.pop("tiny.png") == ""
    assert thumbnails == {
        name: f"thumbnails/{copy.pk}/{pk}.jpg"
        for name, pk in copy.images.values_list("file_name", "id")
        if name in thumbnails
    }
    assert set(thumbnails.values()) == keys_under(s3, console_bucket.name, f"thumbnails/{copy.pk}/")

    rose = copy.labels.get(name="rose")
    labeling.label_rename(label=rose, user=user, name="rosa")
    labeling.images_labels_assign(
        dataset=copy, user=user, label_ids=[copy.labels.get(name="daisy").pk], images=copy.images.all()
    )
    labeling.box_delete(box=BoundingBox.objects.filter(image__dataset=copy).first(), user=user)
    assert content(source) == before
    assert source.labels.filter(name="rose").exists()

    copied = content(copy)
    services.dataset_delete(dataset=source)
    wait_until(
        lambda: not keys_under(s3, console_bucket.name, f"thumbnails/{source.pk}/"),
        what="the deleted source's thumbnails to leave the console bucket",
    )
    assert content(copy) == copied
    assert set(thumbnails.values()) == keys_under(s3, console_bucket.name, f"thumbnails/{copy.pk}/")


def test_copying_is_refused_for_another_users_dataset(user, other_user, project):
    theirs = DatasetFactory(project__owner=other_user)
    with pytest.raises(DatasetError) as refused:
        operations.dataset_create_copy(project=project, name="stolen", source=theirs, user=user)
    assert refused.value.field == "source"
    assert not Dataset.objects.filter(name="stolen").exists()


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "CREATE_FAILED"])
def test_copying_a_dataset_being_made_or_failed_is_refused(user, project, status):
    source = DatasetFactory(project=project, name="flowers", status=status)
    with pytest.raises(DatasetError) as refused:
        operations.dataset_create_copy(project=project, name="flowers-copy", source=source, user=user)
    assert refused.value.field == "source"
    assert not Dataset.objects.filter(name="flowers-copy").exists()


def test_a_copy_needs_a_name_the_project_does_not_use(user, project):
    source = DatasetFactory(project=project, name="flowers")
    DatasetFactory(project=project, name="taken")
    with pytest.raises(DatasetError) as refused:
        operations.dataset_create_copy(project=project, name="taken", source=source, user=user)
    assert refused.value.field == "name"
    assert "already exists" in str(refused.value)
    assert not ImportJob.objects.exists()


def test_a_copy_of_a_dataset_deleted_before_the_worker_ran_fails_with_the_reason(user, project):
    source = DatasetFactory(project=project, name="flowers")
    copy = operations.dataset_create_copy(project=project, name="flowers-copy", source=source, user=user)
    source.delete()

    assert operations.dataset_copy(job_id=copy.import_jobs.get().pk) is False

    copy.refresh_from_db()
    assert copy.status == Dataset.Status.CREATE_FAILED
    assert copy.status_message == "The dataset flowers was deleted before it could be copied."


# --- the split --------------------------------------------------------------------------------


def labels_on_images(dataset: Dataset) -> Counter:
    """How many images of the dataset have each label (image-level or on a box)."""
    pairs = set(ImageLabel.objects.filter(image__dataset=dataset).values_list("image_id", "label__name"))
    pairs |= set(BoundingBox.objects.filter(image__dataset=dataset).values_list("image_id", "label__name"))
    return Counter(name for _, name in pairs)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_create_test_dataset_moves_20_percent_of_each_label_with_labels_boxes_and_thumbnails(
    celery_worker_proc, s3, console_bucket, user, project
):
    train = DatasetFactory(project=project, name="pets")
    images = pets(train)
    old_thumbnails = {put_thumbnail(s3, console_bucket, image) for image in images.values()}
    before = content(train)

    test = operations.dataset_split(dataset=train, name="pets-test", user=user)
    train.refresh_from_db()
    assert (test.dataset_type, test.status) == (Dataset.Type.TEST, Dataset.Status.CREATE_IN_PROGRESS)
    assert train.status == Dataset.Status.UPDATE_IN_PROGRESS
    settled(test, Dataset.Status.CREATE_COMPLETE)
    train.refresh_from_db()

    assert train.status == Dataset.Status.UPDATE_COMPLETE
    assert train.status_message == "10 of 50 images were moved to the test dataset pets-test."
    assert test.status_message == "The dataset was successfully created from 20% of pets."
    assert (test.images.count(), train.images.count()) == (10, 40)
    assert labels_on_images(test) == {"cat": 2, "dog": 4, "bird": 1}
    assert labels_on_images(train) == {"cat": 8, "dog": 16, "bird": 4}
    assert test.images.filter(is_labeled=False).count() == 3
    assert {**content(train), **content(test)} == before
    assert sorted(test.labels.values_list("name", flat=True)) == ["bird", "cat", "dog"]
    assert not ImageLabel.objects.filter(image__dataset=test).exclude(label__dataset=test).exists()
    assert not BoundingBox.objects.filter(image__dataset=test).exclude(label__dataset=test).exists()
    job = test.import_jobs.get()
    assert (job.source, job.status, job.found, job.images.count()) == (ImportJob.Source.SPLIT, "SUCCEEDED", 10, 10)

    moved = dict(test.images.values_list("id", "thumbnail_key"))
    assert moved == {pk: f"thumbnails/{test.pk}/{pk}.jpg" for pk in moved}
    assert keys_under(s3, console_bucket.name, f"thumbnails/{test.pk}/") == set(moved.values())
    assert keys_under(s3, console_bucket.name, f"thumbnails/{train.pk}/") == old_thumbnails - {
        f"thumbnails/{train.pk}/{pk}.jpg" for pk in moved
    }

    services.dataset_delete(dataset=train)
    wait_until(
        lambda: not keys_under(s3, console_bucket.name, f"thumbnails/{train.pk}/"),
        what="the training dataset's thumbnails to leave the console bucket",
    )
    assert keys_under(s3, console_bucket.name, f"thumbnails/{test.pk}/") == set(moved.values())


@pytest.mark.django_db
def test_the_imports_of_a_split_training_dataset_count_the_images_moved_to_the_test_dataset(user, project):
    train = DatasetFactory(project=project, name="pets")
    first = ImportJobFactory(dataset=train, status=ImportJob.Status.SUCCEEDED, found=30)
    second = ImportJobFactory(dataset=train, status=ImportJob.Status.SUCCEEDED, found=20)
    images = pets(train)
    for i, image in enumerate(images.values()):
        Image.objects.filter(pk=image.pk).update(import_job=first if i < 30 else second)

    test = split_now(train, user, "pets-test")

    first.refresh_from_db()
    second.refresh_from_db()
    moved = test.images.values_list("pk", flat=True)
    assert first.moved_out + second.moved_out == len(moved) == 10
    assert first.images.count() + first.moved_out == 30
    assert second.images.count() + second.moved_out == 20


def split_now(dataset: Dataset, user, name: str) -> Dataset:
    """The split, with the worker's step run here (on_commit never fires inside a test's transaction)."""
    test = operations.dataset_split(dataset=dataset, name=name, user=user)
    assert operations.dataset_split_run(job_id=test.import_jobs.get().pk) is True
    return test


@pytest.mark.django_db
def test_two_datasets_with_the_same_content_split_the_same_way(user):
    first, second = DatasetFactory(project__owner=user), DatasetFactory(project__owner=user)
    pets(first)
    pets(second, reverse=True)  # other ids, other order
    assert sorted(first.images.values_list("source_ref", flat=True)) == sorted(
        second.images.values_list("source_ref", flat=True)
    )

    moved_first = set(split_now(first, user, "first-test").images.values_list("source_ref", flat=True))
    moved_second = set(split_now(second, user, "second-test").images.values_list("source_ref", flat=True))

    assert len(moved_first) == 10
    assert moved_first == moved_second


@pytest.mark.django_db
def test_images_with_several_labels_leave_every_label_on_both_sides(user):
    train = DatasetFactory(project__owner=user)
    build_images(
        train,
        [{"key": f"a-{i}.jpg", "labels": ["a"]} for i in range(6)]
        + [{"key": f"ab-{i}.jpg", "labels": ["a"], "boxes": [("b", 1, 1, 20, 20)]} for i in range(4)]
        + [{"key": f"b-{i}.jpg", "labels": ["b"]} for i in range(3)]
        + [{"key": f"bc-{i}.jpg", "labels": ["b", "c"]} for i in range(2)]
        + [{"key": f"c-{i}.jpg", "labels": ["c"]} for i in range(1)]
        + [{"key": f"none-{i}.jpg"} for i in range(4)],
    )
    total = labels_on_images(train)

    test = split_now(train, user, "mixed-test")

    in_test, in_train = labels_on_images(test), labels_on_images(train)
    assert set(in_test) == set(in_train) == {"a", "b", "c"}
    assert in_test + in_train == total
    assert 3 <= test.images.count() <= 6  # 20% of 20 images, give or take what several labels add
    assert test.images.filter(is_labeled=False).count() == 1


def test_split_choose_keeps_an_image_of_every_label_on_each_side_and_ignores_the_order_given():
    images = [(f"s3://b/{i}.jpg", frozenset({"x", "y"} if i < 2 else {"y"})) for i in range(6)]
    images += [(f"s3://b/u{i}.jpg", frozenset()) for i in range(10)]

    chosen = operations.split_choose(images=images)

    assert chosen == operations.split_choose(images=images[::-1])
    labels_chosen = Counter(label for ref, labels in images if ref in chosen for label in labels)
    assert labels_chosen["x"] == 1 and 1 <= labels_chosen["y"] <= 5
    assert len([ref for ref in chosen if "/u" in ref]) == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "specs, words",
    [
        ([{"key": "a.jpg", "labels": ["cat"]}, {"key": "b.jpg", "labels": ["cat", "lynx"]}], "only 1 image has lynx"),
        ([{"key": "a.jpg", "labels": ["cat"]}, {"key": "b.jpg"}, {"key": "c.jpg"}], "It has 1 labeled image"),
        ([{"key": "a.jpg"}, {"key": "b.jpg"}], "It has 0 labeled images"),
    ],
    ids=["a label on one image", "one labeled image", "no labeled image"],
)
def test_too_few_labeled_images_refuse_the_split_with_the_consoles_error(user, specs, words):
    train = DatasetFactory(project__owner=user)
    build_images(train, specs)

    with pytest.raises(DatasetError) as refused:
        operations.dataset_split(dataset=train, name="refused-test", user=user)

    message = str(refused.value)
    assert message.startswith(f"{INSUFFICIENT}: {operations.INSUFFICIENT_MESSAGE}")
    assert words in message
    train.refresh_from_db()
    assert train.status == Dataset.Status.CREATE_COMPLETE
    assert not Dataset.objects.filter(name="refused-test").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields, words",
    [
        ({"dataset_type": "TEST"}, "Only a training dataset can be split"),
        ({"status": "UPDATE_IN_PROGRESS"}, "being created or updated"),
        ({"status": "CREATE_FAILED"}, "could not be created"),
    ],
)
def test_a_test_dataset_or_one_in_progress_is_not_split(user, fields, words):
    dataset = DatasetFactory(project__owner=user, **fields)
    pets(dataset)
    with pytest.raises(DatasetError, match=words):
        operations.dataset_split(dataset=dataset, name="refused-test", user=user)
    assert not Dataset.objects.filter(name="refused-test").exists()


@pytest.mark.django_db
def test_an_empty_dataset_and_a_project_with_a_test_dataset_are_not_split(user):
    empty = DatasetFactory(project__owner=user)
    with pytest.raises(DatasetError, match="no images to split"):
        operations.dataset_split(dataset=empty, name="empty-test", user=user)

    train = DatasetFactory(project__owner=user)
    pets(train)
    DatasetFactory(project=train.project, name="existing-test", dataset_type=Dataset.Type.TEST)
    with pytest.raises(DatasetError, match="already has a test dataset, existing-test"):
        operations.dataset_split(dataset=train, name="second-test", user=user)


@pytest.mark.django_db
def test_a_failed_split_fails_both_datasets_and_moves_nothing(user):
    train = DatasetFactory(project__owner=user, name="pets")
    pets(train)
    test = operations.dataset_split(dataset=train, name="pets-test", user=user)

    operations.dataset_split_fail(job_id=test.import_jobs.get().pk, message="The split failed.")

    train.refresh_from_db()
    test.refresh_from_db()
    assert (train.status, test.status) == (Dataset.Status.UPDATE_FAILED, Dataset.Status.CREATE_FAILED)
    assert train.status_message == test.status_message == "The split failed."
    assert train.images.count() == 50


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
    assert export.key.startswith(f"exports/{dataset.pk}/") and export.key.endswith("-flowers.manifest")
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
