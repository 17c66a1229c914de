"""Labeling mode through Django's test client, with the HX-Request header the gallery sends."""

import pytest
from django.urls import reverse

from datasets.models import BoundingBox, Image, ImageLabel, Label
from tests.factories import BoundingBoxFactory, DatasetFactory, ImageFactory, ImageLabelFactory, LabelFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "gallery"}


@pytest.fixture
def dataset(user, console_bucket):
    return DatasetFactory(project__owner=user, status="CREATE_COMPLETE")


@pytest.fixture
def images(dataset):
    return [ImageFactory(dataset=dataset, file_name=f"img-{i:02}.jpg", width=640, height=480) for i in range(6)]


@pytest.fixture
def echo(dataset, images):
    """The label echo on two images, and on a bounding box of a third."""
    label = LabelFactory(dataset=dataset, name="echo")
    ImageLabelFactory(image=images[0], label=label)
    ImageLabelFactory(image=images[1], label=label)
    BoundingBoxFactory(image=images[2], label=label, left=1, top=1, width=10, height=10)
    return label


def url(name, *args, query=""):
    return reverse(f"datasets:{name}", args=args) + (f"?{query}" if query else "")


def test_assigning_labels_to_selected_images_answers_with_the_gallery_partial(client_user, dataset, images):
    echo, dot = LabelFactory(dataset=dataset, name="echo"), LabelFactory(dataset=dataset, name="dot")
    response = client_user.post(
        url("assign", dataset.pk, query="mode=label"),
        {"image": [images[0].pk, images[1].pk], "assign_label": [echo.pk, dot.pk]},
        **HX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="gallery"' in html
    assert "Saved: 4 label assignments added." in html
    assert set(images[0].labels.values_list("name", flat=True)) == {"echo", "dot"}
    assert Image.objects.filter(dataset=dataset, is_labeled=True).count() == 2
    # the selection survives the re-render
    assert html.count("checked") >= 2


def test_assigning_with_nothing_selected_says_so_and_changes_nothing(client_user, dataset, images):
    echo = LabelFactory(dataset=dataset, name="echo")
    response = client_user.post(url("assign", dataset.pk, query="mode=label"), {"assign_label": echo.pk}, **HX)
    assert "Select one or more images first." in response.content.decode()
    assert not ImageLabel.objects.exists()


def test_select_all_matching_assigns_only_to_images_the_filter_matches(client_user, dataset, images):
    echo, dot = LabelFactory(dataset=dataset, name="echo"), LabelFactory(dataset=dataset, name="dot")
    ImageLabelFactory(image=images[0], label=dot)
    Image.objects.filter(pk=images[0].pk).update(is_labeled=True)
    client_user.post(
        url("assign", dataset.pk, query="mode=label&show=unlabeled"),
        {"all_matching": "1", "assign_label": echo.pk},
        **HX,
    )
    assert set(ImageLabel.objects.filter(label=echo).values_list("image_id", flat=True)) == {i.pk for i in images[1:]}


def test_ids_of_another_dataset_are_ignored(client_user, dataset, images):
    echo = LabelFactory(dataset=dataset, name="echo")
    mine_elsewhere = ImageFactory(dataset=DatasetFactory(project=dataset.project, name="other"))
    client_user.post(
        url("assign", dataset.pk, query="mode=label"), {"image": [mine_elsewhere.pk], "assign_label": echo.pk}, **HX
    )
    assert not ImageLabel.objects.exists()


def test_remove_labels_then_undo(client_user, dataset, images):
    echo = LabelFactory(dataset=dataset, name="echo")
    for image in images[:3]:
        ImageLabelFactory(image=image, label=echo)
    Image.objects.filter(pk__in=[i.pk for i in images[:3]]).update(is_labeled=True)
    response = client_user.post(
        url("unassign", dataset.pk, query="mode=label"),
        {"image": [i.pk for i in images[:2]], "assign_label": echo.pk},
        **HX,
    )
    assert "Saved: 2 label assignments removed." in response.content.decode()
    assert ImageLabel.objects.count() == 1
    response = client_user.post(url("undo", dataset.pk, query="mode=label"), **HX)
    assert "Undone: Remove echo from 2 images." in response.content.decode()
    assert ImageLabel.objects.count() == 3


def test_undo_answers_json_to_the_box_editor(client_user, dataset, images, user):
    label = LabelFactory(dataset=dataset)
    from datasets import labeling

    labeling.box_add(image=images[0], label=label, user=user, left=1, top=1, width=20, height=20)
    response = client_user.post(url("undo", dataset.pk), HTTP_ACCEPT="application/json")
    assert response.json() == {"undone": f"Draw a {label.name} box on {images[0].file_name}"}
    assert not BoundingBox.objects.exists()
    assert client_user.post(url("undo", dataset.pk), HTTP_ACCEPT="application/json").json() == {"undone": None}


def test_a_single_label_is_removed_from_its_card(client_user, dataset, images):
    echo = LabelFactory(dataset=dataset, name="echo")
    ImageLabelFactory(image=images[0], label=echo)
    response = client_user.post(url("image_label_remove", images[0].pk, echo.pk, query="mode=label"), **HX)
    assert f"Saved: removed echo from {images[0].file_name}." in response.content.decode()
    assert not ImageLabel.objects.exists()


def test_a_label_of_another_dataset_cannot_be_removed_through_an_image(client_user, dataset, images):
    stranger_label = LabelFactory(dataset=DatasetFactory(project=dataset.project, name="other"))
    response = client_user.post(url("image_label_remove", images[0].pk, stranger_label.pk), **HX)
    assert response.status_code == 404


def test_add_rename_and_the_duplicate_error_show_in_the_gallery(client_user, dataset, images):
    html = client_user.post(
        url("label_add", dataset.pk, query="mode=label"), {"name": "  echo "}, **HX
    ).content.decode()
    assert "Saved: label echo added." in html
    html = client_user.post(url("label_add", dataset.pk, query="mode=label"), {"name": "echo"}, **HX).content.decode()
    assert "The label “echo” already exists." in html
    label = Label.objects.get(dataset=dataset)
    html = client_user.post(
        url("label_rename", label.pk, query="mode=label"), {"name": "amazon echo"}, **HX
    ).content.decode()
    assert "renamed to amazon echo" in html
    assert Label.objects.get(dataset=dataset).name == "amazon echo"


def test_removing_a_label_asks_first_and_says_what_it_removes(client_user, dataset, echo):
    page = client_user.get(url("label_remove", echo.pk)).content.decode()
    assert "<strong>2</strong> images" in page and "<strong>1</strong> bounding box" in page
    response = client_user.post(url("label_remove", echo.pk))
    assert response.status_code == 302 and response["Location"].endswith("?mode=label")
    assert not Label.objects.exists() and not BoundingBox.objects.exists()


def test_import_label_list_from_another_dataset(client_user, dataset, user):
    source = DatasetFactory(project=dataset.project, name="source")
    LabelFactory(dataset=source, name="cat"), LabelFactory(dataset=source, name="dog")
    page = client_user.get(url("labels_import", dataset.pk)).content.decode()
    assert '<label for="id_source">Dataset to import labels from</label>' in page
    client_user.post(url("labels_import", dataset.pk), {"source": source.pk})
    assert sorted(dataset.labels.values_list("name", flat=True)) == ["cat", "dog"]


def test_another_users_dataset_is_not_offered_for_label_import(client_user, dataset, other_user):
    theirs = DatasetFactory(project__owner=other_user, name="theirs")
    LabelFactory(dataset=theirs, name="secret")
    response = client_user.post(url("labels_import", dataset.pk), {"source": theirs.pk})
    assert "Select a valid choice" in response.content.decode()
    assert not dataset.labels.exists()


def test_filters_combine_in_the_url(client_user, dataset, images):
    echo, dot, bird = (LabelFactory(dataset=dataset, name=n) for n in ("echo", "dot", "bird"))
    ImageLabelFactory(image=images[0], label=echo)
    ImageLabelFactory(image=images[1], label=dot)
    BoundingBoxFactory(image=images[2], label=bird, left=1, top=1, width=10, height=10)
    Image.objects.filter(pk__in=[i.pk for i in images[:3]]).update(is_labeled=True)

    def shown(query):
        html = client_user.get(url("detail", dataset.pk, query=query), **HX).content.decode()
        return sorted(i.file_name for i in images if f'data-image-id="{i.pk}"' in html)

    assert shown(f"label={echo.pk}&label={dot.pk}") == ["img-00.jpg", "img-01.jpg"]
    assert shown(f"label={bird.pk}") == ["img-02.jpg"]  # a box with the label counts
    assert shown("boxes=1") == ["img-02.jpg"]
    assert shown("name=img-0") == [i.file_name for i in images]
    assert shown("name=01") == ["img-01.jpg"]
    assert shown(f"label={echo.pk}&name=01") == []
    assert shown("show=unlabeled") == ["img-03.jpg", "img-04.jpg", "img-05.jpg"]


def test_the_label_pane_shows_image_and_box_counts_and_the_chart(client_user, dataset, echo):
    html = client_user.get(url("detail", dataset.pk)).content.decode()
    assert 'title="3 images, 1 bounding boxes"' in html  # a box with the label counts its image
    assert "Label distribution" in html and 'aria-label="Images per label"' in html


def test_labeling_mode_has_the_consoles_controls_with_labels(client_user, dataset, images):
    LabelFactory(dataset=dataset, name="echo")
    html = client_user.get(url("detail", dataset.pk, query="mode=label")).content.decode()
    for text in (
        "Assign labels",
        "Remove labels",
        "Draw bounding box",
        "Undo",
        "Exit",
        "Assign a label to selected images",
        "Select all on this page",
        "Add label",
        "Manage labels",
    ):
        assert text in html, text
    for image in images:
        assert f'<label for="sel-{image.pk}">' in html
    assert "Start labeling" not in html
    assert "Start labeling" in client_user.get(url("detail", dataset.pk)).content.decode()


def test_a_post_without_htmx_returns_to_the_same_gallery_view(client_user, dataset, images):
    echo = LabelFactory(dataset=dataset, name="echo")
    response = client_user.post(
        url("assign", dataset.pk, query="mode=label&show=unlabeled"), {"image": [images[0].pk], "assign_label": echo.pk}
    )
    assert response.status_code == 302
    assert response["Location"] == url("detail", dataset.pk, query="mode=label&show=unlabeled")
    assert ImageLabel.objects.count() == 1


def test_a_label_is_removed_from_the_image_detail_view(client_user, dataset, images):
    echo = LabelFactory(dataset=dataset, name="echo")
    ImageLabelFactory(image=images[0], label=echo)
    page = client_user.get(url("image_detail", images[0].pk)).content.decode()
    assert f'aria-label="Remove label echo from {images[0].file_name}"' in page
    response = client_user.post(url("image_label_remove", images[0].pk, echo.pk), {"next": "image"})
    assert response.status_code == 302 and response["Location"] == url("image_detail", images[0].pk)
    assert "Unlabeled" in client_user.get(url("image_detail", images[0].pk)).content.decode()


def test_the_toolbar_names_the_last_change_until_it_is_undone(client_user, dataset, images):
    """The toolbar's "All changes saved · last: …" names the user's latest change, read again after
    each change and each undo (each answered with the labeling gallery, which shows its message)."""
    echo, dot = LabelFactory(dataset=dataset, name="echo"), LabelFactory(dataset=dataset, name="dot")
    page = url("detail", dataset.pk, query="mode=label")

    def toolbar() -> tuple[str, bool]:
        html = client_user.get(page).content.decode()
        state = html.split('id="save-state"', 1)[1].split("</div>", 1)[0]
        return state.split('class="msg">', 1)[1].split("</span>", 1)[0], 'title="Nothing to undo"' in html

    assert toolbar() == ("All changes saved", True)
    client_user.post(
        url("assign", dataset.pk, query="mode=label"), {"image": [images[0].pk], "assign_label": echo.pk}, **HX
    )
    assert toolbar() == ("All changes saved · last: Assign echo (1 added)", False)
    client_user.post(
        url("assign", dataset.pk, query="mode=label"),
        {"image": [images[1].pk, images[2].pk], "assign_label": dot.pk},
        **HX,
    )
    assert toolbar() == ("All changes saved · last: Assign dot (2 added)", False)
    client_user.post(url("undo", dataset.pk, query="mode=label"), **HX)
    assert toolbar() == ("All changes saved · last: Assign echo (1 added)", False)
    client_user.post(url("undo", dataset.pk, query="mode=label"), **HX)
    assert toolbar() == ("All changes saved", True)
