"""Labeling-mode services (spec §6.3–6.5): label list, assignments, boxes, undo."""

import pytest

from datasets import counts, labeling
from datasets.errors import DatasetError
from datasets.models import BoundingBox, Image, ImageLabel, Label
from datasets.selectors import GalleryFilter, _filtered
from tests.factories import BoundingBoxFactory, DatasetFactory, ImageFactory, ImageLabelFactory, LabelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(project__owner=user)


def images_of(dataset, n=5, **kw):
    return [ImageFactory(dataset=dataset, width=640, height=480, **kw) for _ in range(n)]


def test_label_names_are_trimmed_and_must_be_unique_exactly(dataset, user):
    label = labeling.label_add(dataset=dataset, user=user, name="  Echo Dot ")
    assert label.name == "Echo Dot"
    with pytest.raises(DatasetError, match="already exists"):
        labeling.label_add(dataset=dataset, user=user, name="Echo Dot")
    assert labeling.label_add(dataset=dataset, user=user, name="echo dot").name == "echo dot"


@pytest.mark.parametrize("name", ["", "   ", "x" * 256])
def test_label_names_outside_1_to_255_characters_are_refused(dataset, user, name):
    with pytest.raises(DatasetError):
        labeling.label_add(dataset=dataset, user=user, name=name)
    assert not dataset.labels.exists()


def test_a_label_of_255_characters_is_accepted(dataset, user):
    assert len(labeling.label_add(dataset=dataset, user=user, name="x" * 255).name) == 255


def test_renaming_a_label_renames_it_on_every_image_and_box(dataset, user):
    label = LabelFactory(dataset=dataset, name="echo")
    image = images_of(dataset, 1)[0]
    ImageLabelFactory(image=image, label=label)
    BoundingBoxFactory(image=image, label=label, left=1, top=1, width=10, height=10)
    labeling.label_rename(label=label, user=user, name="amazon-echo")
    assert list(image.labels.values_list("name", flat=True)) == ["amazon-echo"]
    assert image.boxes.get().label.name == "amazon-echo"


def test_removing_a_label_removes_its_assignments_and_boxes_and_unlabels_images(dataset, user):
    label = LabelFactory(dataset=dataset, name="echo")
    other = LabelFactory(dataset=dataset, name="dot")
    a, b = images_of(dataset, 2, is_labeled=True)
    ImageLabelFactory(image=a, label=label)
    ImageLabelFactory(image=b, label=other)
    BoundingBoxFactory(image=b, label=label, left=1, top=1, width=10, height=10)
    assert labeling.label_usage(label=label) == (1, 1)
    assert labeling.label_remove(label=label) == (1, 1)
    a.refresh_from_db(), b.refresh_from_db()
    assert not a.is_labeled and b.is_labeled
    assert not BoundingBox.objects.exists()


def test_assign_to_every_image_matching_a_filter_and_undo_removes_only_what_it_added(dataset, user):
    echo = LabelFactory(dataset=dataset, name="echo")
    images = images_of(dataset, 6)
    ImageLabelFactory(image=images[0], label=echo)
    Image.objects.filter(pk=images[0].pk).update(is_labeled=True)
    added = labeling.images_labels_assign(
        dataset=dataset, user=user, label_ids=[echo.pk], images=_filtered(dataset=dataset, filters=GalleryFilter())
    )
    assert added == 5
    assert Image.objects.filter(dataset=dataset, is_labeled=True).count() == 6
    labeling.labeling_undo(dataset=dataset, user=user)
    assert list(ImageLabel.objects.values_list("image_id", flat=True)) == [images[0].pk]
    assert Image.objects.filter(dataset=dataset, is_labeled=True).count() == 1


def test_assign_touches_only_images_of_the_dataset(dataset, user):
    echo = LabelFactory(dataset=dataset, name="echo")
    stranger = ImageFactory(width=640, height=480)
    labeling.images_labels_assign(
        dataset=dataset, user=user, label_ids=[echo.pk], images=Image.objects.filter(pk=stranger.pk)
    )
    assert not ImageLabel.objects.exists()


def test_remove_labels_and_undo_puts_them_back(dataset, user):
    echo, dot = LabelFactory(dataset=dataset, name="echo"), LabelFactory(dataset=dataset, name="dot")
    images = images_of(dataset, 3, is_labeled=True)
    for image in images:
        ImageLabelFactory(image=image, label=echo)
    ImageLabelFactory(image=images[0], label=dot)
    removed = labeling.images_labels_remove(
        dataset=dataset, user=user, label_ids=[echo.pk], images=Image.objects.filter(pk__in=[i.pk for i in images])
    )
    assert removed == 3
    assert Image.objects.filter(is_labeled=True).count() == 1
    labeling.labeling_undo(dataset=dataset, user=user)
    assert ImageLabel.objects.filter(label=echo).count() == 3
    assert Image.objects.filter(is_labeled=True).count() == 3


def test_a_box_is_kept_inside_the_image_and_labels_it(dataset, user):
    label = LabelFactory(dataset=dataset)
    image = images_of(dataset, 1)[0]
    box = labeling.box_add(image=image, label=label, user=user, left=600, top=-20, width=100, height=100)
    assert (box.left, box.top, box.width, box.height) == (600, 0, 40, 80)
    image.refresh_from_db()
    assert image.is_labeled


def test_a_box_of_1_pixel_is_refused_with_the_console_code(dataset, user):
    label = LabelFactory(dataset=dataset)
    image = images_of(dataset, 1)[0]
    with pytest.raises(labeling.BoxError) as err:
        labeling.box_add(image=image, label=label, user=user, left=5, top=5, width=1, height=40)
    assert err.value.code == "ERROR_BOUNDING_BOX_TOO_SMALL"


def test_the_51st_box_is_refused(dataset, user):
    label = LabelFactory(dataset=dataset)
    image = images_of(dataset, 1)[0]
    for i in range(50):
        labeling.box_add(image=image, label=label, user=user, left=i, top=i, width=5, height=5)
    with pytest.raises(labeling.BoxError) as err:
        labeling.box_add(image=image, label=label, user=user, left=0, top=0, width=5, height=5)
    assert err.value.code == "ERROR_TOO_MANY_BOUNDING_BOXES"
    assert image.boxes.count() == 50


def test_box_move_resize_delete_each_undo_in_turn(dataset, user):
    label = LabelFactory(dataset=dataset)
    image = images_of(dataset, 1)[0]
    box = labeling.box_add(image=image, label=label, user=user, left=10, top=10, width=50, height=50)
    labeling.box_change(box=box, user=user, left=100, top=100, width=80, height=60)
    labeling.box_delete(box=box, user=user)
    image.refresh_from_db()
    assert not image.is_labeled
    labeling.labeling_undo(dataset=dataset, user=user)  # the delete
    restored = image.boxes.get()
    assert (restored.left, restored.top, restored.width, restored.height) == (100, 100, 80, 60)
    labeling.labeling_undo(dataset=dataset, user=user)  # the move
    moved_back = image.boxes.get()
    assert (moved_back.left, moved_back.top, moved_back.width, moved_back.height) == (10, 10, 50, 50)
    labeling.labeling_undo(dataset=dataset, user=user)  # the drawing
    assert not image.boxes.exists()


def test_undo_is_per_user(dataset, user, other_user):
    label = LabelFactory(dataset=dataset)
    image = images_of(dataset, 1)[0]
    labeling.box_add(image=image, label=label, user=user, left=10, top=10, width=50, height=50)
    assert labeling.labeling_undo(dataset=dataset, user=other_user) is None
    assert image.boxes.count() == 1


def test_import_label_list_only_into_a_dataset_without_labels(dataset, user):
    source = DatasetFactory(project=dataset.project, name="source")
    LabelFactory(dataset=source, name="a"), LabelFactory(dataset=source, name="b")
    assert [label.name for label in labeling.labels_import(dataset=dataset, source=source, user=user)] == ["a", "b"]
    with pytest.raises(DatasetError, match="doesn't have any labels"):
        labeling.labels_import(dataset=dataset, source=source, user=user)
    assert Label.objects.filter(dataset=dataset).count() == 2


def test_counts_carried_over_after_an_assignment_equal_a_fresh_count(dataset, user, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    echo, dot = LabelFactory(dataset=dataset, name="echo"), LabelFactory(dataset=dataset, name="dot")
    images = images_of(dataset, 6)
    ImageLabelFactory(image=images[0], label=dot)
    Image.objects.filter(pk=images[0].pk).update(is_labeled=True)
    counts.dataset_stats(dataset=dataset)  # warm the cache
    with django_capture_on_commit_callbacks(execute=True):
        labeling.images_labels_assign(
            dataset=dataset,
            user=user,
            label_ids=[echo.pk, dot.pk],
            images=Image.objects.filter(pk__in=[i.pk for i in images[:4]]),
        )
    carried = (counts.dataset_stats(dataset=dataset), counts.dataset_labels_with_counts(dataset=dataset))
    cache.clear()
    fresh = (counts.dataset_stats(dataset=dataset), counts.dataset_labels_with_counts(dataset=dataset))
    assert carried[0] == fresh[0] and carried[0].labeled == 4
    assert [(lb.name, lb.image_count) for lb in carried[1]] == [(lb.name, lb.image_count) for lb in fresh[1]]
    assert [(lb.name, lb.image_count) for lb in fresh[1]] == [("dot", 4), ("echo", 4)]
