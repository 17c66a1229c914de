"""The dataset page's gallery through Django's test client: filters, the pane's counts, htmx partials, paging."""

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest

from datasets.models import BoundingBox, Image, ImageLabel
from datasets.selectors import PAGE_SIZE
from tests.factories import DatasetFactory, ImageLabelFactory, LabelFactory

from ..dom import parse
from ..support import HTMX_GALLERY, detail_url, gallery_of, numbers, page_html

pytestmark = pytest.mark.django_db


def file_names(response) -> list[str]:
    return [card.find(cls="name").text() for card in gallery_of(response).find_all("li", cls="card")]


@dataclass(frozen=True)
class PaneEntry:
    name: str
    value: str
    checked: bool
    count: int


def pane(response) -> dict[str, PaneEntry]:
    """The Filter by labels pane: each filter's label text → its control and image count."""
    gallery = gallery_of(response)
    entries = {}
    for label in gallery.find_all("label"):
        control = gallery.by_id(label.attrs.get("for", ""))
        if control is None or control.attrs.get("name") not in ("show", "label"):
            continue
        count = label.parent.find("span", cls="count")
        entries[label.text()] = PaneEntry(
            name=control.attrs["name"],
            value=control.attrs["value"],
            checked="checked" in control.attrs,
            count=int(re.match(r"[\d,]+", count.text()).group(0).replace(",", "")),
        )
    return entries


def pagination_link(response, rel: str) -> str | None:
    link = gallery_of(response).find("a", rel=rel)
    if link is None:
        return None
    assert link.attrs["href"].startswith("?")
    return link.attrs["href"][1:]


ALL = ["echo-1.png", "echo-2.png", "dot-1.png", "both.png", "x.png", "notes.png", "tiny.png"]


def checked(response) -> set[str]:
    return {text for text, entry in pane(response).items() if entry.checked}


def test_the_gallery_shows_all_images_by_default(client_user, console_bucket, gallery):
    dataset, _, _ = gallery

    response = client_user.get(detail_url(dataset))

    assert file_names(response) == ALL
    assert checked(response) == {"All images"}


@pytest.mark.parametrize(
    ("query", "expected", "current"),
    [
        ("show=labeled", ["echo-1.png", "echo-2.png", "dot-1.png", "both.png", "tiny.png"], "Labeled"),
        ("show=unlabeled", ["x.png", "notes.png"], "Unlabeled"),
        ("show=errors", ["notes.png", "tiny.png"], "Errors"),
        ("show=all", ALL, "All images"),
        ("show=nonsense", ALL, "All images"),
    ],
)
def test_each_filter_of_the_pane_shows_its_images(client_user, console_bucket, gallery, query, expected, current):
    dataset, _, _ = gallery

    response = client_user.get(f"{detail_url(dataset)}?{query}")

    assert file_names(response) == expected
    assert checked(response) == {current}


def test_a_label_filter_shows_only_that_labels_images(client_user, console_bucket, gallery):
    dataset, labels, _ = gallery

    echo = client_user.get(f"{detail_url(dataset)}?label={labels['echo'].pk}")
    echo_dot = client_user.get(f"{detail_url(dataset)}?label={labels['echo-dot'].pk}")

    assert file_names(echo) == ["echo-1.png", "echo-2.png", "both.png", "tiny.png"]
    assert checked(echo) == {"All images", "echo"}
    assert file_names(echo_dot) == ["dot-1.png", "both.png"]
    assert checked(echo_dot) == {"All images", "echo-dot"}


def test_a_label_filter_combines_with_the_show_filter(client_user, console_bucket, gallery):
    dataset, labels, _ = gallery

    response = client_user.get(f"{detail_url(dataset)}?show=errors&label={labels['echo'].pk}")

    assert file_names(response) == ["tiny.png"]
    assert checked(response) == {"Errors", "echo"}


def test_another_datasets_label_shows_no_images(client_user, console_bucket, gallery, project):
    dataset, _, _ = gallery
    other = ImageLabelFactory(image__dataset=DatasetFactory(project=project), label__name="echo")

    response = client_user.get(f"{detail_url(dataset)}?label={other.label_id}")

    assert file_names(response) == []
    assert "No images match this filter." in page_html(response)


def test_the_filter_pane_is_a_get_form_so_the_filter_lands_in_the_url(client_user, console_bucket, gallery):
    dataset, labels, _ = gallery

    response = client_user.get(detail_url(dataset))

    entries = pane(response)
    assert {text: (e.name, e.value) for text, e in entries.items()} == {
        "All images": ("show", "all"),
        "Labeled": ("show", "labeled"),
        "Unlabeled": ("show", "unlabeled"),
        "Errors": ("show", "errors"),
        "echo": ("label", str(labels["echo"].pk)),
        "echo-dot": ("label", str(labels["echo-dot"].pk)),
        "echo-show": ("label", str(dataset.labels.get(name="echo-show").pk)),
    }
    form = gallery_of(response).find("input", name="show").parent
    while form.tag != "form":
        form = form.parent
    assert form.attrs.get("method", "get").lower() == "get"
    assert form.attrs["action"] == detail_url(dataset)


def test_the_pane_counts_images_per_filter_and_label(client_user, console_bucket, gallery):
    dataset, _, _ = gallery

    response = client_user.get(detail_url(dataset))

    assert {text: entry.count for text, entry in pane(response).items()} == {
        "All images": 7,
        "Labeled": 5,
        "Unlabeled": 2,
        "Errors": 2,
        "echo": 4,
        "echo-dot": 2,
        "echo-show": 0,
    }


def test_the_statistics_count_images_labels_and_errors(client_user, console_bucket, gallery):
    dataset, _, _ = gallery

    response = client_user.get(f"{detail_url(dataset)}?show=errors")

    assert numbers(response, "data-stat") == {"total": 7, "labeled": 5, "labels": 3, "errors": 2}
    captions = {
        node.find("strong").attrs["data-stat"]: node.text()
        for node in gallery_of(response).find_all("div")
        if node.find("strong") is not None and "data-stat" in node.find("strong").attrs and len(node.children) <= 3
    }
    assert captions == {
        "total": "7 Total images",
        "labeled": "5 Labeled images",
        "labels": "3 Labels",
        "errors": "2 Images with errors",
    }


def test_an_htmx_filter_request_answers_only_the_gallery(client_user, console_bucket, gallery):
    dataset, _, _ = gallery

    response = client_user.get(f"{detail_url(dataset)}?show=errors", headers=HTMX_GALLERY)

    text = page_html(response)
    top = [node for node in parse(text).children if not isinstance(node, str)]
    assert [(node.tag, node.attrs.get("id")) for node in top] == [("div", "gallery")]
    assert "<html" not in text
    assert "Dataset ARN" not in text
    assert file_names(response) == ["notes.png", "tiny.png"]


def test_an_htmx_history_restore_gets_the_whole_page(client_user, console_bucket, gallery):
    dataset, _, _ = gallery

    response = client_user.get(
        f"{detail_url(dataset)}?show=errors", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )

    assert "<html" in page_html(response)
    assert file_names(response) == ["notes.png", "tiny.png"]


def test_thumbnails_are_shown_through_presigned_urls(client_user, console_bucket, gallery):
    dataset, _, images = gallery

    response = client_user.get(detail_url(dataset))

    text = page_html(response)
    url = urlsplit(gallery_of(response).find("img", alt="echo-1.png").attrs["src"])
    assert url.path == f"/{console_bucket.name}/{images['echo-1.png'].thumbnail_key}"
    query = parse_qs(url.query)
    assert "X-Amz-Signature" in query
    assert 0 < int(query["X-Amz-Expires"][0]) <= 900
    assert "Thumbnail pending…" in text
    assert "No preview" in text


def test_the_gallery_pages_by_50_with_next_and_previous(client_user, console_bucket, project):
    dataset = DatasetFactory(project=project)
    Image.objects.bulk_create(
        [
            Image(dataset=dataset, file_name=f"img-{n:03d}.png", source_ref=f"s3://b/f/img-{n:03d}.png", format="PNG")
            for n in range(120)
        ]
    )
    names = [f"img-{n:03d}.png" for n in range(120)]
    url = detail_url(dataset)

    first = client_user.get(url)
    assert file_names(first) == names[:50]
    assert pagination_link(first, "prev") is None
    next_query = pagination_link(first, "next")
    assert next_query.startswith("after=")

    second = client_user.get(f"{url}?{next_query}")
    assert file_names(second) == names[50:100]
    third = client_user.get(f"{url}?{pagination_link(second, 'next')}")
    assert file_names(third) == names[100:]
    assert len(file_names(third)) == 20
    assert pagination_link(third, "next") is None

    back = client_user.get(f"{url}?{pagination_link(third, 'prev')}")
    assert file_names(back) == names[50:100]
    assert pagination_link(back, "next") is not None
    start = client_user.get(f"{url}?{pagination_link(back, 'prev')}")
    assert file_names(start) == names[:50]
    assert pagination_link(start, "prev") is None
    assert numbers(first, "data-stat")["total"] == 120
    assert PAGE_SIZE == 50


def test_pages_keep_the_filter(client_user, console_bucket, project):
    dataset = DatasetFactory(project=project)
    label = LabelFactory(dataset=dataset, name="echo")
    images = Image.objects.bulk_create(
        [
            Image(
                dataset=dataset,
                file_name=f"img-{n:03d}.png",
                source_ref=f"s3://b/f/img-{n:03d}.png",
                is_labeled=n % 2 == 0,
            )
            for n in range(130)
        ]
    )
    ImageLabel.objects.bulk_create([ImageLabel(image=img, label=label) for img in images if img.is_labeled])

    first = client_user.get(f"{detail_url(dataset)}?label={label.pk}")
    next_query = pagination_link(first, "next")
    assert parse_qs(next_query)["label"] == [str(label.pk)]

    second = client_user.get(f"{detail_url(dataset)}?{next_query}", headers=HTMX_GALLERY)
    assert file_names(second) == [f"img-{n:03d}.png" for n in range(100, 130, 2)]
    assert pagination_link(second, "next") is None


def test_pages_of_a_file_name_filter_go_forward_and_back_through_its_matches_only(client_user, console_bucket, project):
    dataset = DatasetFactory(project=project)
    Image.objects.bulk_create(
        [
            Image(dataset=dataset, file_name=f"{'cat' if n % 3 else 'dog'}-{n:03d}.png", source_ref=f"s3://b/f/{n}.png")
            for n in range(210)
        ]
    )
    cats = [f"cat-{n:03d}.png" for n in range(210) if n % 3]
    url = detail_url(dataset)

    first = client_user.get(f"{url}?name=CAT")
    second = client_user.get(f"{url}?{pagination_link(first, 'next')}", headers=HTMX_GALLERY)
    third = client_user.get(f"{url}?{pagination_link(second, 'next')}", headers=HTMX_GALLERY)
    back = client_user.get(f"{url}?{pagination_link(third, 'prev')}", headers=HTMX_GALLERY)

    assert parse_qs(pagination_link(first, "next"))["name"] == ["CAT"]
    assert [file_names(page) for page in (first, second, third)] == [cats[:50], cats[50:100], cats[100:]]
    assert pagination_link(third, "next") is None
    assert file_names(back) == cats[50:100]


@pytest.mark.parametrize("extra", ["", "&show=labeled"], ids=["label alone", "label and another filter"])
def test_a_label_filter_pages_forward_and_back_through_labels_and_boxes(client_user, console_bucket, project, extra):
    """A label's images are those with it image-level, on a box, or both (each shown once), paged in
    file order both ways, alone or with another filter."""
    dataset = DatasetFactory(project=project)
    label, other = LabelFactory(dataset=dataset, name="echo"), LabelFactory(dataset=dataset, name="dot")
    images = Image.objects.bulk_create(
        [
            Image(
                dataset=dataset, file_name=f"img-{n:03d}.png", source_ref=f"s3://b/f/img-{n:03d}.png", is_labeled=True
            )
            for n in range(160)
        ]
    )
    # Image-level for n % 3 == 0, on a box for n % 4 == 0 (both for n % 12 == 0), the other label elsewhere.
    ImageLabel.objects.bulk_create(
        ImageLabel(image=img, label=label if n % 3 == 0 else other) for n, img in enumerate(images)
    )
    BoundingBox.objects.bulk_create(
        BoundingBox(image=img, label=label, left=1, top=1, width=5, height=5)
        for n, img in enumerate(images)
        if n % 4 == 0
    )
    expected = [f"img-{n:03d}.png" for n in range(160) if n % 3 == 0 or n % 4 == 0]
    url = f"{detail_url(dataset)}?label={label.pk}{extra}"

    pages = [client_user.get(url)]
    while (next_query := pagination_link(pages[-1], "next")) is not None:
        pages.append(client_user.get(f"{detail_url(dataset)}?{next_query}"))
    backwards = [pages[-1]]
    while (prev_query := pagination_link(backwards[-1], "prev")) is not None:
        backwards.append(client_user.get(f"{detail_url(dataset)}?{prev_query}"))

    assert [name for page in pages for name in file_names(page)] == expected
    assert [len(file_names(page)) for page in pages] == [50, 30]
    assert [file_names(page) for page in backwards] == [file_names(page) for page in reversed(pages)]
