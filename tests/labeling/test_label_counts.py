"""A label's image count is the number of distinct images that use it, as an image-level label or
on a box (ListDatasetLabels' EntryCount), with its box count beside it; counts carried over from the
cache after a change equal a fresh count."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from datasets import counts as dataset_counts
from datasets import labeling, selectors
from datasets.models import Image
from tests.factories import BoundingBoxFactory, DatasetFactory, ImageFactory, ImageLabelFactory, LabelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(project__owner=user)


def box(image, label):
    return BoundingBoxFactory(image=image, label=label, left=1, top=1, width=10, height=10)


def counts(dataset) -> dict[str, tuple[int, int]]:
    return {
        lb.name: (lb.image_count, lb.box_count) for lb in dataset_counts.dataset_labels_with_counts(dataset=dataset)
    }


def fresh_counts(dataset) -> dict[str, tuple[int, int]]:
    cache.clear()
    return counts(dataset)


def test_labels_used_only_on_boxes_count_the_images_their_boxes_are_on(dataset):
    bird, cat, dog = (LabelFactory(dataset=dataset, name=n) for n in ("bird", "cat", "dog"))
    a, b, c = (ImageFactory(dataset=dataset, is_labeled=True) for _ in range(3))
    box(a, bird), box(a, bird), box(b, bird)
    box(a, cat), box(c, cat)
    box(c, dog)
    assert counts(dataset) == {"bird": (2, 3), "cat": (2, 2), "dog": (1, 1)}


def test_an_image_with_a_label_both_on_the_image_and_on_boxes_counts_once(dataset):
    cat = LabelFactory(dataset=dataset, name="cat")
    a, b, c = (ImageFactory(dataset=dataset, is_labeled=True) for _ in range(3))
    ImageLabelFactory(image=a, label=cat)
    box(a, cat), box(a, cat)
    ImageLabelFactory(image=b, label=cat)
    box(c, cat)
    assert counts(dataset) == {"cat": (3, 3)}


def test_the_label_filters_matching_count_equals_the_labels_image_count(dataset):
    cat = LabelFactory(dataset=dataset, name="cat")
    images = [ImageFactory(dataset=dataset, is_labeled=True) for _ in range(4)]
    ImageLabelFactory(image=images[0], label=cat)
    box(images[0], cat), box(images[1], cat), box(images[1], cat)
    ImageLabelFactory(image=images[2], label=cat)
    matching = selectors.dataset_images_matching(dataset=dataset, filters=selectors.GalleryFilter(label_ids=(cat.pk,)))
    assert matching.count() == counts(dataset)["cat"][0] == 3


def test_assigning_a_label_to_images_that_have_its_boxes_carries_over_exact_counts(
    dataset, user, django_capture_on_commit_callbacks
):
    cat, dog = LabelFactory(dataset=dataset, name="cat"), LabelFactory(dataset=dataset, name="dog")
    images = [ImageFactory(dataset=dataset) for _ in range(6)]
    box(images[0], cat), box(images[0], cat), box(images[1], cat), box(images[5], cat)
    ImageLabelFactory(image=images[2], label=cat)
    box(images[3], dog)
    labeling.images_labeled_refresh(images=[i.pk for i in images])
    assert counts(dataset) == {"cat": (4, 4), "dog": (1, 1)}  # warms the cache
    with django_capture_on_commit_callbacks(execute=True):
        labeling.images_labels_assign(
            dataset=dataset,
            user=user,
            label_ids=[cat.pk, dog.pk],
            images=Image.objects.filter(pk__in=[i.pk for i in images[:5]]),
        )
    dataset.refresh_from_db()
    # Carried over, not recounted: the new version's counts are in the cache before anything reads them.
    assert dataset_counts.counts_cached(dataset_id=dataset.pk, version=dataset.stats_version)
    carried = counts(dataset), dataset_counts.dataset_stats(dataset=dataset)
    assert carried == (fresh_counts(dataset), dataset_counts.dataset_stats(dataset=dataset))
    # cat: images 0, 1 had its boxes, 2 had it already; 3 and 4 are new. dog: 3 had its box.
    assert carried[0] == {"cat": (6, 4), "dog": (5, 1)}
    assert carried[1].labeled == 6


def test_removing_a_label_from_an_image_that_still_has_its_box_keeps_the_image_counted(dataset, user):
    cat = LabelFactory(dataset=dataset, name="cat")
    a, b = ImageFactory(dataset=dataset, is_labeled=True), ImageFactory(dataset=dataset, is_labeled=True)
    ImageLabelFactory(image=a, label=cat)
    ImageLabelFactory(image=b, label=cat)
    box(a, cat)
    assert counts(dataset) == {"cat": (2, 1)}
    labeling.images_labels_remove(
        dataset=dataset, user=user, label_ids=[cat.pk], images=Image.objects.filter(pk__in=[a.pk, b.pk])
    )
    assert counts(dataset) == fresh_counts(dataset) == {"cat": (1, 1)}


def test_deleting_an_images_last_box_of_a_label_uncounts_it_only_without_the_image_level_label(dataset, user):
    cat = LabelFactory(dataset=dataset, name="cat")
    a, b = ImageFactory(dataset=dataset, is_labeled=True), ImageFactory(dataset=dataset, is_labeled=True)
    first, second = box(a, cat), box(a, cat)
    ImageLabelFactory(image=b, label=cat)
    on_b = box(b, cat)
    assert counts(dataset) == {"cat": (2, 3)}
    labeling.box_delete(box=first, user=user)
    assert counts(dataset) == {"cat": (2, 2)}
    labeling.box_delete(box=second, user=user)
    assert counts(dataset) == fresh_counts(dataset) == {"cat": (1, 1)}
    labeling.box_delete(box=on_b, user=user)
    assert counts(dataset) == {"cat": (1, 0)}
    labeling.labeling_undo(dataset=dataset, user=user)
    assert counts(dataset) == fresh_counts(dataset) == {"cat": (1, 1)}


def test_the_label_pane_and_the_chart_show_the_images_of_box_only_labels(client_user, dataset, console_bucket):
    bird = LabelFactory(dataset=dataset, name="bird")
    a, b = ImageFactory(dataset=dataset, is_labeled=True), ImageFactory(dataset=dataset, is_labeled=True)
    box(a, bird), box(a, bird), box(b, bird)
    html = client_user.get(reverse("datasets:detail", args=[dataset.pk])).content.decode()
    assert 'title="2 images, 3 bounding boxes"' in html
    assert '<span class="bar-value">2</span>' in html
