"""Nobody reads what isn't theirs in S3: two users, alice and bob, one console bucket, alice's private
bucket, a team bucket granted to both (through a group), a bucket granted to nobody. Every way in —
an S3 folder location, a manifest file and its source-refs, a copy, Retry import, the label list,
an export, a presigned URL, the import report — tried by bob against alice's storage and ungranted
buckets: refused with the same message whether or not the object exists, nothing imported, nothing
listed. With a grant it works, for both. Through the real worker, moto over HTTP and PostgreSQL.
"""

import json
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from django.urls import reverse

from datasets import labeling, operations
from datasets.errors import DatasetError
from datasets.imports import copy as copy_import
from datasets.imports import recovery
from datasets.models import Dataset, Image, ImportChunk, ImportJob, ManifestExport
from datasets.tasks import import_chunk_task
from projects import console_storage, services
from projects.models import S3AccessGrant
from projects.s3_access import REFUSED, UserS3
from tests.factories import DatasetFactory, ImageFactory, ProjectFactory, UserFactory

from ..datasets.support import failed_dataset, jpeg_bytes, page, png_bytes, seed, settled, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def refused(uri: str) -> str:
    return REFUSED.format(uri=uri)


def field_error(response, field: str) -> str:
    node = page(response).by_id(f"id_{field}")
    assert node is not None, response.content.decode()[:2000]
    while "field" not in node.classes:
        node = node.parent
    return " ".join(p.text() for p in node.find_all("p", cls="error"))


@pytest.fixture
def world(s3, make_bucket, console_bucket, user):
    """alice (the `user` fixture) with an upload, an export and a private bucket; bob; a team bucket
    both may read through the group "team"; a bucket nobody was granted."""
    bob = UserFactory(username="bob")
    private = make_bucket("alice-private")  # granted to alice by make_bucket
    seed(s3, private, {"medical/scan-001.png": png_bytes(120, 90), "medical/notes.txt": b"secret"})
    team = make_bucket("team", grant=False)
    seed(s3, team, {"photos/cat/c1.jpg": jpeg_bytes(100, 80), "photos/dog/d1.jpg": jpeg_bytes(90, 70)})
    group = Group.objects.create(name="team")
    group.user_set.add(user, bob)
    S3AccessGrant.objects.create(group=group, bucket=team)
    nobody = make_bucket("nobody", grant=False)
    seed(s3, nobody, {"x/a.png": png_bytes(80, 80)})

    project = ProjectFactory(owner=user, name="alice-project")
    uploaded = DatasetFactory(project=project, name="uploaded")
    alice = Client()
    alice.force_login(user)
    response = alice.post(
        reverse("datasets:upload", args=[uploaded.pk]),
        {"images": _file("mine.png", png_bytes(100, 100))},
        headers={"Accept": "application/json", "X-CSRFToken": "x"},
    )
    assert response.status_code == 200, response.content
    upload_ref = Image.objects.get(dataset=uploaded).source_ref
    export = operations.manifest_export_start(dataset=uploaded, user=user)
    wait_until(
        lambda: ManifestExport.objects.get(pk=export.pk).status == ManifestExport.Status.SUCCEEDED,
        what="alice's manifest export",
    )
    export.refresh_from_db()

    bob_client = Client()
    bob_client.force_login(bob)
    return {
        "alice": user,
        "bob": bob,
        "alice_client": alice,
        "bob_client": bob_client,
        "bob_project": ProjectFactory(owner=bob, name="bob-project"),
        "alice_project": project,
        "uploaded": uploaded,
        "upload_ref": upload_ref,
        "export_uri": f"s3://{console_bucket.name}/{export.key}",
        "private": private,
        "team": team,
        "nobody": nobody,
        "console": console_bucket.name,
    }


def _file(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


def create(client, project, **form):
    return client.post(reverse("datasets:create", args=[project.pk]), {"name": "attempt", **form})


# --- the create form: S3 folder location and manifest file -------------------------------------


def test_bob_is_refused_every_folder_of_alices_storage_and_every_ungranted_bucket_alike(celery_worker_proc, world):
    alice_id, console = world["alice"].pk, world["console"]
    upload_folder = world["upload_ref"].rsplit("/", 1)[0] + "/"
    locations = [
        f"s3://{console}/",
        f"s3://{console}/users/",
        f"s3://{console}/{console_storage.assets_prefix(alice_id)}",
        upload_folder,
        f"s3://{console}/{console_storage.thumbnail_prefix(alice_id, world['uploaded'].pk)}",
        f"s3://{world['private']}/",
        f"s3://{world['private']}/medical/",
        f"s3://{world['nobody']}/x/",
        "s3://no-such-bucket-9f3e/x/",  # does not exist at all
        f"s3://{world['nobody']}/no-such-folder/",  # exists, folder does not
    ]
    for location in locations:
        response = create(world["bob_client"], world["bob_project"], image_location="s3", s3_location=location)
        assert field_error(response, "s3_location") == refused(location), location
    assert not Dataset.objects.filter(project__owner=world["bob"]).exists()


def test_bob_is_refused_alices_exported_manifest_and_a_missing_one_with_the_same_message(celery_worker_proc, world):
    console = world["console"]
    for uri in (world["export_uri"], f"s3://{console}/users/{world['alice'].pk}/exports/1/none.manifest"):
        response = create(world["bob_client"], world["bob_project"], image_location="manifest", manifest_location=uri)
        assert field_error(response, "manifest_location") == refused(uri)
    # Not even alice imports from the console's own folders: exports and thumbnails are never importable.
    response = create(
        world["alice_client"], world["alice_project"], image_location="manifest", manifest_location=world["export_uri"]
    )
    assert field_error(response, "manifest_location") == refused(world["export_uri"])
    assert not Dataset.objects.filter(name="attempt").exists()


def test_with_a_grant_both_users_import_the_team_bucket_and_alice_her_own(celery_worker_proc, world):
    location = f"s3://{world['team']}/photos/"
    for client, project in (
        (world["alice_client"], world["alice_project"]),
        (world["bob_client"], world["bob_project"]),
    ):
        response = create(client, project, image_location="s3", s3_location=location, auto_label="on")
        assert response.status_code == 302, field_error(response, "s3_location")
        dataset = settled(Dataset.objects.get(project=project, name="attempt"), Dataset.Status.CREATE_COMPLETE)
        assert sorted(dataset.labels.values_list("name", flat=True)) == ["cat", "dog"]
        assert dataset.images.count() == 2

    response = create(
        world["alice_client"], world["alice_project"], name="private", image_location="s3",
        s3_location=f"s3://{world['private']}/medical/",
    )  # fmt: skip
    dataset = settled(Dataset.objects.get(name="private"), Dataset.Status.CREATE_COMPLETE)
    assert [i.file_name for i in dataset.images.all()] == ["scan-001.png"]
    # Her report lists the non-image key of her bucket; bob has no way to see it.
    report = world["alice_client"].get(reverse("datasets:import_report", args=[dataset.import_jobs.get().pk]))
    assert "medical/notes.txt" in b"".join(report.streaming_content).decode()

    # Her own uploads are importable by her, from her storage.
    upload_folder = world["upload_ref"].rsplit("/", 1)[0] + "/"
    response = create(world["alice_client"], world["alice_project"], name="reuse", image_location="s3",
                      s3_location=upload_folder)  # fmt: skip
    assert response.status_code == 302, field_error(response, "s3_location")
    reused = settled(Dataset.objects.get(name="reuse"), Dataset.Status.CREATE_COMPLETE)
    assert list(reused.images.values_list("source_ref", flat=True)) == [world["upload_ref"]]


# --- manifest source-refs ------------------------------------------------------------------------


def test_a_manifest_in_a_granted_bucket_pointing_at_alices_images_imports_none_and_names_the_first(
    celery_worker_proc, s3, world
):
    team, private = world["team"], world["private"]
    manifests = {
        # Her private images, one of which does not exist: the message is the same either way.
        "gt/private.manifest": [f"s3://{private}/medical/none.png", f"s3://{private}/medical/scan-001.png"],
        # Her upload in the console bucket.
        "gt/uploads.manifest": [world["upload_ref"]],
    }
    for number, (key, refs) in enumerate(manifests.items()):
        body = "\n".join(json.dumps({"source-ref": ref, "pet": 0, "pet-metadata": {"class-name": "x"}}) for ref in refs)
        s3.put_object(Bucket=team, Key=key, Body=body.encode())
        response = create(
            world["bob_client"], world["bob_project"], name=f"m{number}", image_location="manifest",
            manifest_location=f"s3://{team}/{key}",
        )  # fmt: skip
        assert response.status_code == 302, field_error(response, "manifest_location")
        dataset = settled(Dataset.objects.get(name=f"m{number}"), Dataset.Status.CREATE_FAILED)
        assert (
            dataset.status_message == f"{refused(refs[0])} It is on line 1 of the manifest, so no image was imported."
        )
        assert not dataset.images.exists()


# --- copy, label list, export, presigned URLs -----------------------------------------------------


def test_bob_can_neither_copy_nor_take_the_labels_of_nor_export_alices_dataset(celery_worker_proc, world):
    alices, bob = world["uploaded"], world["bob"]
    with pytest.raises(DatasetError):
        copy_import.dataset_create_copy(project=world["bob_project"], name="stolen", source=alices, user=bob)
    mine = DatasetFactory(project=world["bob_project"], name="mine")
    with pytest.raises(DatasetError):
        labeling.labels_import(dataset=mine, source=alices, user=bob)
    with pytest.raises(DatasetError):
        operations.manifest_export_start(dataset=alices, user=bob)
    client = world["bob_client"]
    assert client.get(reverse("datasets:manifest_download", args=[alices.pk])).status_code == 404
    image = alices.images.get()
    assert client.get(reverse("datasets:image_detail", args=[image.pk])).status_code == 404
    form = {"name": "copy", "image_location": "copy", "source_dataset": str(alices.pk)}
    response = client.post(reverse("datasets:create", args=[world["bob_project"].pk]), form)
    assert "Select a valid choice" in field_error(response, "source_dataset")
    assert not Dataset.objects.filter(name__in=["stolen", "copy"]).exists()


def test_a_dataset_holding_an_image_bob_may_no_longer_read_is_not_copied_and_not_shown(celery_worker_proc, world):
    bob = world["bob"]
    # Imported while bob had a grant on alice's bucket, which has since been revoked.
    mine = DatasetFactory(project=world["bob_project"], name="old")
    secret = f"s3://{world['private']}/medical/scan-001.png"
    image = ImageFactory(
        dataset=mine, source_ref=secret, file_name="scan-001.png", thumbnail_key="", needs_thumbnail=False
    )
    ImageFactory(dataset=mine)

    with pytest.raises(DatasetError) as caught:
        copy_import.dataset_create_copy(project=world["bob_project"], name="copy", source=mine, user=bob)
    assert str(caught.value).startswith(refused(secret))

    detail = world["bob_client"].get(reverse("datasets:image_detail", args=[image.pk])).content.decode()
    assert "X-Amz-Signature" not in detail
    assert "You don&#x27;t have access to" in detail
    gallery = page(world["bob_client"].get(reverse("datasets:detail", args=[mine.pk])))
    cards = {c.find(cls="name").text(): c for c in gallery.by_id("gallery").find_all("li", cls="card")}
    assert "No access" in cards["scan-001.png"].text()


def test_a_grant_revoked_after_submit_fails_the_copy_in_the_worker_and_copies_nothing(celery_worker_proc, world):
    alice = world["alice"]
    scans = DatasetFactory(project=world["alice_project"], name="scans")
    secret = f"s3://{world['private']}/medical/scan-001.png"
    ImageFactory(dataset=scans, source_ref=secret, file_name="scan-001.png")
    with transaction.atomic():  # the worker gets the copy once both are committed
        copy = copy_import.dataset_create_copy(project=world["alice_project"], name="copy", source=scans, user=alice)
        services.s3_access_grant_set(location=f"s3://{world['private']}", user=alice, revoke=True)

    job = ImportJob.objects.get(dataset=copy)
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).is_finished, what="the copy in the worker")
    copy.refresh_from_db()
    job.refresh_from_db()
    assert copy.status == Dataset.Status.CREATE_FAILED
    assert job.status == ImportJob.Status.FAILED
    assert copy.status_message.startswith(refused(secret))
    assert not Image.objects.filter(dataset=copy).exists()


def test_revoking_a_grant_stops_presigned_urls_of_images_already_imported(celery_worker_proc, world):
    alice = world["alice"]
    dataset = DatasetFactory(project=world["alice_project"], name="scans")
    image = ImageFactory(dataset=dataset, source_ref=f"s3://{world['private']}/medical/scan-001.png")
    url = reverse("datasets:image_detail", args=[image.pk])
    assert "X-Amz-Signature" in world["alice_client"].get(url).content.decode()

    services.s3_access_grant_set(location=f"s3://{world['private']}", user=alice, revoke=True)

    html = world["alice_client"].get(url).content.decode()
    assert "X-Amz-Signature" not in html
    assert "You don&#x27;t have access to" in html


# --- Retry import and revocation at the next step ------------------------------------------------


def test_retry_import_checks_the_stored_location_against_todays_grants(celery_worker_proc, world):
    bob = world["bob"]
    dataset = failed_dataset(owner=bob)
    job = dataset.import_jobs.get()
    job.parameters = {"bucket": world["team"], "prefix": "photos/", "auto_label": True}
    job.save()
    group_grant = S3AccessGrant.objects.get(group__name="team")
    group_grant.delete()

    with pytest.raises(DatasetError) as caught:
        recovery.import_retry(dataset=dataset)
    assert str(caught.value) == refused(f"s3://{world['team']}/photos/")
    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_FAILED

    services.s3_access_grant_set(location=f"s3://{world['team']}/photos/", user=bob)
    recovery.import_retry(dataset=dataset)
    settled(dataset, Dataset.Status.CREATE_COMPLETE)
    assert dataset.images.count() == 2


def test_a_grant_revoked_during_an_import_fails_it_at_its_next_step(world, s3, monkeypatch):
    from customlabels import s3 as s3_module

    bob, team = world["bob"], world["team"]
    seed(s3, team, {f"photos/many/{n}.png": png_bytes(70, 70) for n in range(5)})
    services.s3_access_grant_set(location=f"s3://{team}/photos/", user=bob)
    S3AccessGrant.objects.filter(group__name="team").delete()
    monkeypatch.setattr(s3_module, "LIST_PAGE_SIZE", 2)

    # The listing reads the grants again before each page.
    pages = UserS3(bob.pk).list_pages(team, "photos/many/")
    assert len(next(pages)) == 2
    services.s3_access_grant_set(location=f"s3://{team}/photos/", user=bob, revoke=True)
    with pytest.raises(s3_module.S3AccessRefused):
        next(pages)

    # A chunk queued before the grant was revoked reads nothing and fails the import with the message.
    services.s3_access_grant_set(location=f"s3://{team}/photos/", user=bob)
    dataset = DatasetFactory(project=world["bob_project"], status=Dataset.Status.CREATE_IN_PROGRESS)
    job = ImportJob.objects.create(
        dataset=dataset,
        source=ImportJob.Source.S3_FOLDER,
        parameters={"bucket": team, "prefix": "photos/many/", "auto_label": False},
    )
    # Listed while the grant held: one chunk of the folder's images waits for a worker.
    items = [
        {"key": f"photos/many/{n}.png", "size": len(png_bytes(70, 70)), "etag": "", "label": None} for n in range(2)
    ]
    ImportJob.objects.filter(pk=job.pk).update(listing_done=True, chunks_total=1, found=2)
    chunk = ImportChunk.objects.create(job=job, seq=1, items=items)
    services.s3_access_grant_set(location=f"s3://{team}/photos/", user=bob, revoke=True)
    result = import_chunk_task.apply(args=[chunk.pk])
    assert isinstance(result.result, s3_module.S3AccessRefused), result.traceback

    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.CREATE_FAILED
    assert dataset.status_message == refused(f"s3://{team}/photos/many/")
    assert not dataset.images.exists()


# --- deleting a dataset and its uploads --------------------------------------------------------


def test_deleting_a_dataset_removes_its_uploads_once_no_copy_shows_them(celery_worker_proc, s3, world):
    from datasets import services as dataset_services

    alice, console = world["alice"], world["console"]
    original = world["uploaded"]
    key = world["upload_ref"].split("/", 3)[3]
    copy = copy_import.dataset_create_copy(project=world["alice_project"], name="copy", source=original, user=alice)
    settled(copy, Dataset.Status.CREATE_COMPLETE)

    dataset_services.dataset_delete(dataset=original)
    thumbs = console_storage.thumbnail_prefix(alice.pk, original.pk)
    wait_until(
        lambda: not s3.list_objects_v2(Bucket=console, Prefix=thumbs).get("KeyCount"),
        what="the original's thumbnails to go",
    )
    s3.head_object(Bucket=console, Key=key)  # the copy still shows it

    dataset_services.dataset_delete(dataset=copy)
    wait_until(
        lambda: not s3.list_objects_v2(Bucket=console, Prefix=key).get("KeyCount"),
        what="the upload to leave once no dataset shows it",
    )


# --- the S3 access page and the command ------------------------------------------------------------


def test_the_s3_access_page_lists_the_users_own_grants_and_their_groups_and_no_one_elses(world, grant):
    grant("only-alice-bucket", "reports/", write=True)
    html = world["alice_client"].get(reverse("projects:s3_access")).content.decode().replace("<wbr>", "")
    assert f"s3://{world['team']}/" in html and "Group team" in html
    assert "s3://only-alice-bucket/reports/" in html and "Read and write" in html
    assert f"users/{world['alice'].pk}/assets/" in html

    bob_html = world["bob_client"].get(reverse("projects:s3_access")).content.decode().replace("<wbr>", "")
    assert "only-alice-bucket" not in bob_html and world["private"] not in bob_html
    assert f"s3://{world['team']}/" in bob_html
    create_page = world["bob_client"].get(reverse("datasets:create", args=[world["bob_project"].pk])).content.decode()
    assert reverse("projects:s3_access") in create_page


def test_a_refused_location_on_a_page_quotes_odd_characters_as_text(celery_worker_proc, world):
    location = "s3://nobody-else/<b>x</b>/"
    response = create(world["bob_client"], world["bob_project"], image_location="s3", s3_location=location)
    html = response.content.decode()
    assert "<b>x</b>" not in html
    assert quote("<") not in field_error(response, "s3_location")
    assert field_error(response, "s3_location") == refused(location)
