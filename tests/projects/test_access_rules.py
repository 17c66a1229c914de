"""The access rule and the console storage layout, as plain values (projects.s3_access.allowed)."""

import pytest

from projects import console_storage
from projects.s3_access import Grant, Use, allowed

CONSOLE = "custom-labels-console-us-east-1-0000000001"


def _allowed(bucket, key, *, use=Use.IMPORT, grants=(), user_id=7):
    return allowed(user_id=user_id, grants=list(grants), console=CONSOLE, bucket=bucket, key=key, use=use)


def test_an_images_thumbnail_is_kept_under_its_owners_and_datasets_prefix():
    assert console_storage.thumbnail_key(3, 7, 42) == "users/3/thumbnails/7/0/42.jpg"
    # A thousand to a folder, so that no folder of a large dataset holds them all.
    assert console_storage.thumbnail_key(3, 7, 123_456) == "users/3/thumbnails/7/123/123456.jpg"
    assert console_storage.thumbnail_key(3, 7, 42).startswith(console_storage.thumbnail_prefix(3, 7))
    assert not console_storage.thumbnail_key(3, 70, 42).startswith(console_storage.thumbnail_prefix(3, 7))
    assert not console_storage.thumbnail_key(30, 7, 42).startswith(console_storage.user_prefix(3))


def test_an_upload_names_its_dataset_and_no_other_key_does():
    key = console_storage.assets_prefix(3, 12) + "0123abcd/cat.jpg"
    assert console_storage.asset_dataset_id(3, key) == 12
    assert console_storage.asset_dataset_id(4, key) is None
    assert console_storage.asset_dataset_id(3, console_storage.thumbnail_key(3, 12, 1)) is None
    assert console_storage.asset_dataset_id(3, "users/3/assets/12x/cat.jpg") is None


def test_without_a_grant_nothing_outside_the_users_own_storage_is_allowed():
    for use in Use:
        assert not _allowed("anything", "", use=use)
        assert not _allowed("anything", "folder/x.jpg", use=use)


def test_a_grant_covers_its_folder_and_nothing_beside_or_above_it():
    grants = [Grant(bucket="team", prefix="medical/", write=False)]
    assert _allowed("team", "medical/", grants=grants)
    assert _allowed("team", "medical/scans/1.png", grants=grants)
    assert not _allowed("team", "", grants=grants)
    assert not _allowed("team", "medical-private/1.png", grants=grants)
    assert not _allowed("team2", "medical/1.png", grants=grants)


def test_writing_needs_a_read_and_write_grant():
    read = [Grant(bucket="team", prefix="", write=False)]
    both = [Grant(bucket="team", prefix="", write=True)]
    assert _allowed("team", "out/", use=Use.VIEW, grants=read)
    assert not _allowed("team", "out/", use=Use.WRITE, grants=read)
    assert _allowed("team", "out/", use=Use.WRITE, grants=both)


def test_only_the_users_own_uploads_are_importable_from_the_console_bucket():
    own = console_storage.assets_prefix(7)
    assert _allowed(CONSOLE, own)
    assert _allowed(CONSOLE, own + "3/abc/cat.jpg")
    assert not _allowed(CONSOLE, console_storage.assets_prefix(8) + "3/abc/cat.jpg")
    assert not _allowed(CONSOLE, "")
    assert not _allowed(CONSOLE, "users/")
    assert not _allowed(CONSOLE, console_storage.thumbnail_prefix(7, 3))
    assert not _allowed(CONSOLE, console_storage.export_prefix(7, 3) + "x.manifest")


@pytest.mark.parametrize("use", [Use.VIEW, Use.WRITE])
def test_the_user_sees_and_the_console_writes_all_of_their_own_storage_and_nobody_elses(use):
    assert _allowed(CONSOLE, console_storage.thumbnail_key(7, 3, 1), use=use)
    assert _allowed(CONSOLE, console_storage.export_prefix(7, 3) + "x.manifest", use=use)
    assert not _allowed(CONSOLE, console_storage.thumbnail_key(8, 3, 1), use=use)
    assert not _allowed(CONSOLE, "users/70/assets/1/x/cat.jpg", use=use)


def test_a_grant_naming_the_console_bucket_opens_nothing_in_it():
    grants = [Grant(bucket=CONSOLE, prefix="", write=True)]
    assert not _allowed(CONSOLE, "users/8/assets/", grants=grants)
    assert not _allowed(CONSOLE, "", grants=grants, use=Use.VIEW)
