"""Delete dataset: confirmed by typing delete, refused while an import runs, thumbnails removed."""

import pytest
from django.urls import reverse

from datasets import services
from datasets.errors import DatasetError
from datasets.models import Dataset, Image, Label
from datasets.operations import thumbnails
from tests.factories import DatasetFactory, ImageFactory, LabelFactory

pytestmark = pytest.mark.django_db


def test_deleting_needs_the_word_delete_and_then_removes_the_dataset(client_user, user, console_bucket):
    dataset = DatasetFactory(project__owner=user, status="CREATE_COMPLETE")
    ImageFactory(dataset=dataset)
    LabelFactory(dataset=dataset)
    url = reverse("datasets:delete", args=[dataset.pk])
    page = client_user.get(url).content.decode()
    assert "To confirm deletion, type delete in the field." in page and "1 image" in page
    response = client_user.post(url, {"confirm": "remove"})
    assert "Type delete to confirm." in response.content.decode()
    assert Dataset.objects.filter(pk=dataset.pk).exists()
    response = client_user.post(url, {"confirm": "delete"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("projects:detail", args=[dataset.project_id])
    assert f"Dataset {dataset.name} was deleted." in response.content.decode()
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert not Image.objects.exists() and not Label.objects.exists()


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"])
def test_a_dataset_being_imported_is_not_deleted(client_user, user, console_bucket, status):
    dataset = DatasetFactory(project__owner=user, status=status)
    response = client_user.post(reverse("datasets:delete", args=[dataset.pk]), {"confirm": "delete"})
    assert "while it is being created or updated" in response.content.decode()
    assert Dataset.objects.filter(pk=dataset.pk).exists()
    with pytest.raises(DatasetError):
        services.dataset_delete(dataset=dataset)


def test_a_deleted_datasets_thumbnails_manifests_and_unshown_uploads_leave_its_owners_storage(s3, console_bucket, user):
    gone = 987_654  # no dataset has this id: it was deleted
    own = f"users/{user.pk}/"
    shown = f"{own}assets/{gone}/b/kept.png"
    # A copy of the deleted dataset still shows one of its uploads.
    ImageFactory(dataset=DatasetFactory(project__owner=user), source_ref=f"s3://{console_bucket.name}/{shown}")
    keys = [
        f"{own}thumbnails/{gone}/1.jpg",
        f"{own}thumbnails/{gone}/2.jpg",
        f"{own}exports/{gone}/x.manifest",
        f"{own}assets/{gone}/a/unshown.png",
        shown,
        f"{own}thumbnails/{gone}1/3.jpg",
        f"{own}assets/{gone}1/c/other.png",
        f"users/{user.pk + 1}/thumbnails/{gone}/1.jpg",
    ]
    for key in keys:
        s3.put_object(Bucket=console_bucket.name, Key=key, Body=b"x")

    assert thumbnails.dataset_storage_release(dataset_id=gone, owner_id=user.pk, asset_datasets=[]) == 4

    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=console_bucket.name)["Contents"])
    assert left == sorted(keys[4:])
    assert thumbnails.dataset_storage_release(dataset_id=gone, owner_id=user.pk, asset_datasets=[]) == 0
