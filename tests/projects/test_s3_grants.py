"""Granting S3 access: `manage.py grant_s3_access` (idempotent, --write, --revoke, --group) and the admin."""

import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.urls import reverse

from projects.models import S3AccessGrant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def grant_s3_access(*args) -> str:
    out = io.StringIO()
    call_command("grant_s3_access", *args, stdout=out)
    return out.getvalue().strip()


def grants(**who) -> list[tuple[str, str, bool]]:
    return list(S3AccessGrant.objects.filter(**who).values_list("bucket", "prefix", "can_write"))


def test_the_command_grants_once_adds_writing_and_takes_it_back(user):
    assert grant_s3_access("alice", "s3://team-data/photos") == "user alice, s3://team-data/photos/: granted (read)."
    assert grant_s3_access("alice", "team-data/photos/") == "user alice, s3://team-data/photos/: unchanged (read)."
    assert grants(user=user) == [("team-data", "photos/", False)]

    assert "write added (read and write)" in grant_s3_access("alice", "s3://team-data/photos/", "--write")
    assert "unchanged (read and write)" in grant_s3_access("alice", "s3://team-data/photos/")
    assert grants(user=user) == [("team-data", "photos/", True)]

    assert "write removed (read)" in grant_s3_access("alice", "s3://team-data/photos/", "--revoke", "--write")
    assert "revoked (no access)" in grant_s3_access("alice", "s3://team-data/photos/", "--revoke")
    assert "unchanged (no access)" in grant_s3_access("alice", "s3://team-data/photos/", "--revoke")
    assert grants(user=user) == []


def test_the_command_grants_a_whole_bucket_to_a_group(user):
    group = Group.objects.create(name="vision")
    grant_s3_access("vision", "s3://shared-images", "--group")
    assert grants(group=group) == [("shared-images", "", False)]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["nobody", "s3://team-data/"], "There is no user named 'nobody'."),
        (["nobody", "s3://team-data/", "--group"], "There is no group named 'nobody'."),
        (["alice", "http://example.com/x"], "must start with s3://"),
        (["alice", "s3://Bad_Bucket/"], "not a valid bucket name"),
        (["alice", "s3://team/../x/"], "“..”"),
    ],
)
def test_the_command_refuses_unknown_grantees_and_malformed_locations(user, args, words):
    with pytest.raises(CommandError, match=words):
        grant_s3_access(*args)
    assert not S3AccessGrant.objects.exists()


def test_the_console_bucket_is_never_granted(user, console_bucket):
    with pytest.raises(CommandError, match="is the console bucket"):
        grant_s3_access("alice", f"s3://{console_bucket.name}/users/")
    assert not S3AccessGrant.objects.exists()


def test_staff_grant_access_in_the_admin_and_the_folder_is_normalised(client, user, console_bucket):
    staff = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client.force_login(staff)
    add = reverse("admin:projects_s3accessgrant_add")
    response = client.post(add, {"user": user.pk, "bucket": "team-data", "prefix": "/photos", "can_write": "on"})
    assert response.status_code == 302, response.content.decode()
    assert grants(user=user) == [("team-data", "photos/", True)]

    response = client.post(add, {"user": user.pk, "bucket": console_bucket.name, "prefix": ""})
    assert "is the console bucket" in response.content.decode()
    response = client.post(add, {"user": user.pk, "group": Group.objects.create(name="g").pk, "bucket": "b-one"})
    assert "Choose a user or a group, not both." in response.content.decode()
    assert S3AccessGrant.objects.count() == 1

    listing = client.get(reverse("admin:projects_s3accessgrant_changelist")).content.decode()
    assert "s3://team-data/photos/" in listing and "Read and write" in listing
