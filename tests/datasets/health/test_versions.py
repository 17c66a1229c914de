"""Dataset versions: frozen entries that survive later changes, the comparison against an expected set,
restore as a new dataset, the Ground Truth export of a version, and deletion with the dataset."""

import json

import pytest
from django.urls import reverse

from datasets import labeling, operations, versions
from datasets.errors import DatasetError
from datasets.formats import ground_truth
from datasets.models import BoundingBox, Dataset, DatasetVersion, Image, Label, VersionEntry
from datasets.version_rules import entry_change
from tests.factories import DatasetFactory

from ..support import build_images, content, flowers

pytestmark = pytest.mark.django_db


def frozen(version) -> dict[str, tuple]:
    return {
        e.source_ref: (json.loads(e.labels), [tuple(b) for b in json.loads(e.boxes)])
        for e in VersionEntry.objects.filter(version=version)
    }


def test_a_version_stays_the_same_after_the_live_dataset_changes(user):
    dataset = DatasetFactory(project__owner=user)
    made = flowers(dataset)
    v1 = versions.version_create(dataset=dataset, user=user, name="v1")
    before = frozen(v1)
    assert (v1.images, v1.labeled) == (5, 3)
    rose = Label.objects.get(dataset=dataset, name="rose")
    labeling.images_labels_assign(
        dataset=dataset, user=user, label_ids=[rose.pk], images=Image.objects.filter(dataset=dataset)
    )
    labeling.label_rename(label=rose, user=user, name="roses")
    Image.objects.filter(pk=made["meadow.jpg"].pk).delete()
    assert frozen(DatasetVersion.objects.get(pk=v1.pk)) == before
    assert before["s3://flowers-bucket/roses/rose-2.jpg"] == (["red", "rose"], [])
    assert before["s3://flowers-bucket/tulips/tulip-1.jpg"] == (
        [],
        [("tulip", 5, 5, 50, 60), ("tulip", 300, 200, 40, 40)],
    )


def test_a_name_used_twice_is_refused_and_leaves_nothing(user):
    dataset = DatasetFactory(project__owner=user)
    flowers(dataset)
    versions.version_create(dataset=dataset, user=user, name="v1")
    with pytest.raises(DatasetError, match="already exists"):
        versions.version_create(dataset=dataset, user=user, name="v1")
    assert DatasetVersion.objects.count() == 1 and VersionEntry.objects.count() == 5


def test_the_comparison_of_two_versions_and_of_a_version_and_now_matches_the_expected_set(user):
    dataset = DatasetFactory(project__owner=user)
    made = build_images(
        dataset,
        [
            {"key": "a.jpg", "labels": ["cat"]},
            {"key": "b.jpg", "labels": ["cat", "pet"], "boxes": [("cat", 10, 10, 50, 50), ("cat", 200, 200, 40, 40)]},
            {"key": "c.jpg", "boxes": [("dog", 0, 0, 30, 30)]},
            {"key": "d.jpg"},
        ],
    )
    v1 = versions.version_create(dataset=dataset, user=user, name="v1")
    cat, dog = Label.objects.get(dataset=dataset, name="cat"), Label.objects.get(dataset=dataset, name="dog")
    b = made["b.jpg"]
    labeling.images_labels_remove(
        dataset=dataset,
        user=user,
        label_ids=[Label.objects.get(name="pet", dataset=dataset).pk],
        images=Image.objects.filter(pk=b.pk),
    )
    moved = BoundingBox.objects.get(image=b, left=200)
    labeling.box_change(box=moved, user=user, left=220, top=230, width=40, height=40)
    labeling.box_add(image=b, label=dog, user=user, left=5, top=5, width=20, height=20)
    labeling.images_labels_assign(
        dataset=dataset, user=user, label_ids=[dog.pk], images=Image.objects.filter(pk=made["a.jpg"].pk)
    )
    Image.objects.filter(pk=made["d.jpg"].pk).delete()
    build_images(dataset, [{"key": "e.jpg", "labels": ["cat"]}])
    dataset.refresh_from_db()
    v2 = versions.version_create(dataset=dataset, user=user, name="v2")

    # The expected set, computed here from the two frozen sides.
    one, two = frozen(v1), frozen(v2)
    expected_added = sorted(set(two) - set(one))
    expected_removed = sorted(set(one) - set(two))
    changes = {
        ref: entry_change(
            labels_before=one[ref][0], boxes_before=one[ref][1], labels_after=two[ref][0], boxes_after=two[ref][1]
        )
        for ref in set(one) & set(two)
        if one[ref] != two[ref]
    }
    for after in (v2, None):  # v2 and now are the same content
        counts = versions.versions_compare_counts(dataset=dataset, before=v1, after=after)
        rows, next_ref = versions.versions_compare_page(dataset=dataset, before=v1, after=after)
        assert next_ref is None
        assert [r.source_ref for r in rows if r.kind == "added"] == expected_added == ["s3://flowers-bucket/e.jpg"]
        assert [r.source_ref for r in rows if r.kind == "removed"] == expected_removed == ["s3://flowers-bucket/d.jpg"]
        assert {r.source_ref: r.change for r in rows if r.kind == "changed"} == changes
        assert (counts.images_added, counts.images_removed, counts.images_changed) == (1, 1, 2)
        assert (counts.labels_added, counts.labels_removed) == (1, 1)
        assert (counts.boxes_added, counts.boxes_removed, counts.boxes_moved) == (1, 0, 1)
    change = changes["s3://flowers-bucket/b.jpg"]
    assert change.boxes_moved == [(("cat", 200, 200, 40, 40), ("cat", 220, 230, 40, 40))]
    assert change.boxes_added == [("dog", 5, 5, 20, 20)] and change.labels_removed == ["pet"]
    assert cat.pk


def test_the_comparison_pages_through_the_differences_in_order(user):
    dataset = DatasetFactory(project__owner=user)
    v0 = versions.version_create(dataset=dataset, user=user, name="empty")
    build_images(dataset, [{"key": f"img-{n:03d}.jpg"} for n in range(120)])
    dataset.refresh_from_db()
    seen, after_ref = [], ""
    while True:
        rows, after_ref = versions.versions_compare_page(
            dataset=dataset, before=v0, after=None, after_ref=after_ref or ""
        )
        seen += [r.file_name for r in rows]
        if after_ref is None:
            break
    assert seen == [f"img-{n:03d}.jpg" for n in range(120)]


def test_restore_gives_a_new_dataset_with_the_same_entries(user):
    dataset = DatasetFactory(project__owner=user)
    flowers(dataset)
    version = versions.version_create(dataset=dataset, user=user, name="v1")
    labeling.images_labels_assign(
        dataset=dataset,
        user=user,
        label_ids=[Label.objects.get(dataset=dataset, name="red").pk],
        images=Image.objects.filter(dataset=dataset),
    )
    restored = versions.version_restore_start(version=version, user=user, name="flowers-v1")
    assert restored.status == Dataset.Status.CREATE_IN_PROGRESS
    assert versions.version_restore(dataset_id=restored.pk, version_id=version.pk) == 5
    restored.refresh_from_db()
    assert restored.status == Dataset.Status.CREATE_COMPLETE
    mine = content(restored)
    assert mine["s3://flowers-bucket/roses/rose-2.jpg"]["labels"] == ["red", "rose"]
    assert mine["s3://flowers-bucket/meadow.jpg"]["labels"] == []
    again = versions.version_create(dataset=restored, user=user, name="same")
    assert frozen(again) == frozen(version)
    with pytest.raises(DatasetError, match="already exists"):
        versions.version_restore_start(version=version, user=user, name="flowers-v1")


def test_a_version_exports_as_ground_truth_whatever_the_dataset_became(s3, console_bucket, user):
    dataset = DatasetFactory(project__owner=user)
    flowers(dataset)
    version = versions.version_create(dataset=dataset, user=user, name="v1")
    Image.objects.filter(dataset=dataset).delete()
    export = operations.version_export_start(version=version, user=user)
    export = operations.manifest_export_write(export_id=export.pk)
    body = s3.get_object(Bucket=console_bucket.name, Key=export.key)["Body"].read().decode()
    entries = {}
    for line in body.splitlines():
        entry = ground_truth.parse_line(line)
        entries[entry.source_ref] = entry
    assert export.lines == 5 and export.key.endswith("-v1.manifest")
    assert sorted(entries["s3://flowers-bucket/roses/rose-2.jpg"].labels) == ["red", "rose"]
    assert operations.version_export_start(version=version, user=user).pk == export.pk


def test_the_delete_page_names_the_versions_deleted_with_the_dataset(client_user, user, console_bucket):
    dataset = DatasetFactory(project__owner=user)
    versions.version_create(dataset=dataset, user=user, name="first")
    versions.version_create(dataset=dataset, user=user, name="second")
    page = client_user.get(reverse("datasets:delete", args=[dataset.pk])).content.decode()
    assert "Its 2 versions (first, second) are deleted with it." in page
    client_user.post(reverse("datasets:delete", args=[dataset.pk]), {"confirm": "wrong"})
    assert DatasetVersion.objects.count() == 2
    client_user.post(reverse("datasets:delete", args=[dataset.pk]), {"confirm": "delete"})
    assert DatasetVersion.objects.count() == 0 and VersionEntry.objects.count() == 0


def test_versions_pages_are_the_owners_only(client_other_user, user, console_bucket):
    dataset = DatasetFactory(project__owner=user)
    version = versions.version_create(dataset=dataset, user=user, name="v1")
    for url in (
        reverse("datasets:versions", args=[dataset.pk]),
        reverse("datasets:version_detail", args=[version.pk]),
        reverse("datasets:version_restore", args=[version.pk]),
        reverse("datasets:versions_compare", args=[dataset.pk]) + f"?before={version.pk}&after=now",
    ):
        assert client_other_user.get(url).status_code == 404


def test_a_dataset_being_restored_says_so_polls_and_reloads_once_it_is_made(client_user, user, console_bucket):
    dataset = DatasetFactory(project__owner=user, name="flowers")
    flowers(dataset)
    version = versions.version_create(dataset=dataset, user=user, name="v1")
    restored = versions.version_restore_start(version=version, user=user, name="flowers-v1")
    page = client_user.get(reverse("datasets:detail", args=[restored.pk])).content.decode()
    assert "Restoring from version v1 of flowers (5 images)." in page
    progress = reverse("datasets:progress", args=[restored.pk]) + "?phase=restore"
    assert f'hx-get="{progress}"' in page.replace("&amp;", "&")
    polled = client_user.get(progress, headers={"HX-Request": "true"})
    assert polled.status_code == 200 and "Restoring from version v1 of flowers" in polled.content.decode()
    versions.version_restore(dataset_id=restored.pk, version_id=version.pk)
    polled = client_user.get(progress, headers={"HX-Request": "true"})
    assert polled.status_code == 204 and polled["HX-Refresh"] == "true"  # the page reloads with the gallery
    page = client_user.get(reverse("datasets:detail", args=[restored.pk])).content.decode()
    assert "Restored from version v1 of flowers." in page and "phase=restore" not in page
