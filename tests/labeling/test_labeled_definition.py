"""One definition of a labeled image everywhere: it has an image-level label or a bounding box."""

import json
import re

import pytest
from django.urls import reverse

from datasets import counts, labeling, selectors
from datasets.models import Image
from datasets.operations.export import manifest_batches
from tests.factories import DatasetFactory, ImageFactory, LabelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(project__owner=user)


@pytest.fixture
def four(dataset, user):
    """Images labeled on the image only, on a box only, both ways, and not at all, through the services."""
    cat, bird = LabelFactory(dataset=dataset, name="cat"), LabelFactory(dataset=dataset, name="bird")
    image, boxed, both, bare = (
        ImageFactory(dataset=dataset, file_name=f"{n}.jpg") for n in ("image", "boxed", "both", "bare")
    )
    labeling.images_labels_assign(
        dataset=dataset, user=user, label_ids=[cat.pk], images=Image.objects.filter(pk__in=[image.pk, both.pk])
    )
    for target in (boxed, boxed, both):
        labeling.box_add(image=target, label=bird, user=user, left=10, top=10, width=50, height=40)
    labeling.box_add(image=boxed, label=cat, user=user, left=100, top=100, width=50, height=40)
    return image, boxed, both, bare


def labels_on_page(client, image) -> str:
    html = client.get(reverse("datasets:image_detail", args=[image.pk])).content.decode()
    return html.split("<dt>Labels</dt>")[1].split("</dd>")[0]


def test_an_image_with_boxes_but_no_image_level_label_shows_its_box_labels_not_unlabeled(
    client_user, console_bucket, four
):
    _, boxed, _, _ = four
    labels = labels_on_page(client_user, boxed)
    assert "Unlabeled" not in labels
    assert "3 bounding boxes" in labels
    assert re.findall(r'<span class="label-name">([^<]+)</span>', labels) == ["bird", "cat"]


def test_the_image_page_says_unlabeled_only_for_an_image_with_neither_label_nor_box(client_user, console_bucket, four):
    image, boxed, both, bare = four
    assert labels_on_page(client_user, bare) == "<dd>Unlabeled"
    for labeled in (image, boxed, both):
        assert "Unlabeled" not in labels_on_page(client_user, labeled)


def test_statistics_filters_and_the_exported_manifest_agree_on_which_images_are_labeled(dataset, four):
    labeled = {image.pk for image in four[:3]}
    bare = four[3]
    assert (
        set(Image.objects.filter(dataset=dataset).filter(Image.labeled_condition()).values_list("pk", flat=True))
        == labeled
    )
    assert set(Image.objects.filter(dataset=dataset).labeled().values_list("pk", flat=True)) == labeled
    stats = counts.dataset_stats(dataset=dataset)
    assert (stats.labeled, stats.unlabeled) == (3, 1)

    def shown(show):
        page = selectors.dataset_images(dataset=dataset, filters=selectors.GalleryFilter(show=show))
        return {image.pk for image in page.images}

    assert shown("labeled") == labeled and shown("unlabeled") == {bare.pk}
    lines = [json.loads(line) for batch in manifest_batches(dataset_id=dataset.pk) for line in batch]
    marked = {line["source-ref"]: line["cl-metadata"]["is_labeled"] for line in lines}
    assert marked == {image.source_ref: image.pk in labeled for image in four}


def test_removing_an_images_last_label_leaves_it_labeled_while_it_has_a_box(dataset, user, four):
    _, _, both, _ = four
    cat = dataset.labels.get(name="cat")
    labeling.images_labels_remove(
        dataset=dataset, user=user, label_ids=[cat.pk], images=Image.objects.filter(pk=both.pk)
    )
    assert Image.objects.get(pk=both.pk).is_labeled
    labeling.box_delete(box=both.boxes.get(), user=user)
    assert not Image.objects.get(pk=both.pk).is_labeled
