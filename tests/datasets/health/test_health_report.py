"""Check dataset end to end below the page: the report a worker keeps, the gallery filtered to a check's
images, leakage across a project's training and test datasets, hashes of images thumbnailed before,
reuse of an unchanged report, and Download summary."""

import json

import pytest
from django.urls import reverse

from datasets import health, labeling, selectors
from datasets.errors import DatasetError
from datasets.models import Dataset, HealthReport, Image
from tests.datasets.health.test_health_similar import encoded, scene
from tests.factories import DatasetFactory, ImageFactory, ProjectFactory

from ..support import build_images, gallery_of, put_thumbnail, seed


def check_now(dataset, user) -> HealthReport:
    report = health.health_check_start(dataset=dataset, user=user)
    return health.health_report_run(report_id=report.pk)


def checks(report) -> dict[str, dict]:
    return {check["code"]: check for check in report.checks}


def gallery_names(client, report, code, group=0) -> set[str]:
    query = f"?check={code}&report={report.pk}" + (f"&group={group}" if group else "")
    response = client.get(reverse("datasets:detail", args=[report.dataset_id]) + query)
    return {card.find(cls="name").text() for card in gallery_of(response).find_all("li", cls="card")}


def cats_and_dogs(dataset, **extra):
    specs = [{"key": f"cat-{i}.jpg", "labels": ["cat"]} for i in range(12)]
    specs += [{"key": f"dog-{i}.jpg", "labels": ["dog"]} for i in range(12)]
    return build_images(dataset, specs + extra.get("more", []))


@pytest.mark.django_db
def test_the_report_lists_each_problem_and_the_gallery_shows_exactly_its_images(client_user, user, console_bucket):
    dataset = DatasetFactory(project__owner=user, name="pets")
    made = cats_and_dogs(
        dataset,
        more=[
            {"key": "blank-1.jpg"},
            {"key": "blank-2.jpg"},
            {"key": "copy-a.jpg", "labels": ["cat"], "etag": "f" * 32, "size": 1000},
            {"key": "copy-b.jpg", "labels": ["cat"], "etag": "f" * 32, "size": 1000},
        ],
    )
    report = check_now(dataset, user)
    assert report.status == "SUCCEEDED"
    found = checks(report)
    assert (found["unlabeled"]["level"], found["unlabeled"]["count"]) == ("warning", 2)
    assert (found["exact_duplicates"]["level"], found["exact_duplicates"]["groups"]) == ("warning", [2])
    assert found["labels_minimum"]["level"] == "pass"
    assert gallery_names(client_user, report, "unlabeled") == {"blank-1.jpg", "blank-2.jpg"}
    assert gallery_names(client_user, report, "exact_duplicates", group=1) == {"copy-a.jpg", "copy-b.jpg"}
    page = client_user.get(reverse("datasets:health", args=[dataset.pk])).content.decode()
    assert "View 2 images" in page and f"check=unlabeled&amp;report={report.pk}" in page
    assert made["blank-1.jpg"].pk


@pytest.mark.django_db
def test_an_unchanged_dataset_gets_its_kept_report_and_a_change_makes_a_new_one(user):
    dataset = DatasetFactory(project__owner=user)
    made = cats_and_dogs(dataset)
    first = check_now(dataset, user)
    dataset.refresh_from_db()
    assert health.health_check_start(dataset=dataset, user=user).pk == first.pk
    labeling.images_labels_remove(
        dataset=dataset,
        user=user,
        label_ids=[made["cat-0.jpg"].labels.get().pk],
        images=Image.objects.filter(pk=made["cat-0.jpg"].pk),
    )
    dataset.refresh_from_db()
    second = check_now(dataset, user)
    assert second.pk != first.pk
    assert checks(second)["unlabeled"]["count"] == 1


@pytest.mark.django_db
def test_images_in_both_the_training_and_the_test_dataset_are_leakage(client_user, user, console_bucket):
    project = ProjectFactory(owner=user)
    train = DatasetFactory(project=project, name="train", dataset_type=Dataset.Type.TRAIN)
    test = DatasetFactory(project=project, name="test", dataset_type=Dataset.Type.TEST)
    cats_and_dogs(train)
    build_images(
        test,
        [
            {"key": "cat-0.jpg", "labels": ["cat"]},  # the same S3 object as a training image
            {
                "key": "other/dog.jpg",
                "labels": ["dog"],
                "etag": Image.objects.get(dataset=train, file_name="dog-3.jpg").etag,
                "size": 48_000,
            },
            {"key": "fresh.jpg", "labels": ["dog"]},
            {"key": "bird.jpg", "labels": ["bird"]},
        ],
    )
    reports = health.project_check_start(dataset=train, user=user)
    assert [r.dataset_id for r in reports] == [train.pk, test.pk]
    test_report = health.health_report_run(report_id=reports[1].pk)
    found = checks(test_report)
    assert (found["leakage"]["level"], found["leakage"]["count"]) == ("fail", 2)
    assert gallery_names(client_user, test_report, "leakage") == {"cat-0.jpg", "dog.jpg"}
    assert found["labels_one_side"]["labels"] == ["bird"]
    assert found["label_overlap"]["level"] == "pass"
    summary = json.loads(client_user.get(reverse("datasets:health_summary", args=[test_report.pk])).content)
    assert set(summary["statistics"]) == {"training", "testing"}
    assert summary["statistics"]["testing"]["total_json_lines"] == 4
    assert summary["statistics"]["training"]["total_json_lines"] == 24
    assert summary["errors"] == []


@pytest.mark.django_db
def test_images_thumbnailed_before_hashes_get_one_read_through_the_access_check(s3, console_bucket, user, make_bucket):
    bucket = make_bucket("photos")
    dataset = DatasetFactory(project__owner=user)
    refs = {}
    for name, img in {"a.jpg": scene(1), "a-small.jpg": scene(1).resize((320, 240)), "b.jpg": scene(2)}.items():
        seed(s3, bucket, {name: encoded(img, quality=90)})
        refs[name] = ImageFactory(dataset=dataset, file_name=name, source_ref=f"s3://{bucket}/{name}", is_labeled=False)
        put_thumbnail(s3, console_bucket, refs[name])
    ungranted = ImageFactory(dataset=dataset, file_name="c.jpg", source_ref="s3://not-granted/c.jpg")
    put_thumbnail(s3, console_bucket, ungranted)
    report = check_now(dataset, user)
    hashes = dict(Image.objects.filter(dataset=dataset).values_list("file_name", "phash"))
    assert all(hashes[name] for name in refs) and hashes["c.jpg"] == ""
    assert report.unhashed == 0 and report.basis["unhashed_ids"] == [ungranted.pk]
    groups = [sorted(Image.objects.get(pk=pk).file_name for pk in g) for g in _groups(report, "near_duplicates")]
    assert groups == [["a-small.jpg", "a.jpg"]]


def _groups(report, code):
    return selectors.health_groups(report=report, check_code=code)


@pytest.mark.django_db
def test_a_dataset_being_imported_is_not_checked_and_another_users_report_is_404(
    client_other_user, user, console_bucket
):
    dataset = DatasetFactory(project__owner=user, status=Dataset.Status.UPDATE_IN_PROGRESS)
    with pytest.raises(DatasetError, match="Wait until it finishes"):
        health.health_check_start(dataset=dataset, user=user)
    ready = DatasetFactory(project__owner=user)
    report = check_now(ready, user)
    assert client_other_user.get(reverse("datasets:health_summary", args=[report.pk])).status_code == 404
    assert client_other_user.get(reverse("datasets:health", args=[ready.pk])).status_code == 404


@pytest.mark.django_db
def test_a_report_of_another_dataset_in_the_query_string_selects_nothing(client_user, user, console_bucket):
    checked = DatasetFactory(project__owner=user)
    build_images(checked, [{"key": "a.jpg", "labels": ["cat"]}, {"key": "b.jpg"}])
    report = check_now(checked, user)
    other = DatasetFactory(project__owner=user)
    build_images(other, [{"key": "c.jpg"}])
    response = client_user.get(reverse("datasets:detail", args=[other.pk]) + f"?check=unlabeled&report={report.pk}")
    assert gallery_of(response).find_all("li", cls="card") == []
