"""Where the console keeps each user's files in the installation's console bucket.

Each user is an account: everything the console writes for a user lives under their own prefix,
and only that user may read it (projects.s3_access):

    users/<user id>/assets/<dataset id>/<upload id>/<file name>   uploaded images (importable)
    users/<user id>/thumbnails/<dataset id>/<image id // 1000>/<image id>.jpg   thumbnails (never importable)
    users/<user id>/exports/<dataset id>/<file>                   prepared manifests (never importable)

Pure: plain values in, plain values out.
"""

from __future__ import annotations

ASSETS = "assets/"
# Thumbnails are spread over folders of at most this many: S3-compatible servers on a file system
# (rclone, MinIO) slow down with every object one folder holds. Measured with rclone 1.75: PUTs into
# a folder of 100,000 objects ran at 95/s, into one of 1,000 at 424/s (4 threads, same run).
THUMBNAILS_PER_FOLDER = 1000


def user_prefix(user_id: int) -> str:
    """The user's console storage: every key the console writes for them starts with this."""
    return f"users/{int(user_id)}/"


def assets_prefix(user_id: int, dataset_id: int | None = None) -> str:
    """Where the user's uploaded images are kept (a dataset's, when given): the one importable folder."""
    root = f"{user_prefix(user_id)}{ASSETS}"
    return root if dataset_id is None else f"{root}{int(dataset_id)}/"


def thumbnail_prefix(user_id: int, dataset_id: int) -> str:
    """Where a dataset's thumbnails are kept; deleting the dataset removes the prefix."""
    return f"{user_prefix(user_id)}thumbnails/{int(dataset_id)}/"


def thumbnail_key(user_id: int, dataset_id: int, image_id: int) -> str:
    """The key of an image's own thumbnail (a copied image may still show another's)."""
    image_id = int(image_id)
    return f"{thumbnail_prefix(user_id, dataset_id)}{image_id // THUMBNAILS_PER_FOLDER}/{image_id}.jpg"


def export_prefix(user_id: int, dataset_id: int) -> str:
    """Where a dataset's prepared manifests are kept; deleting the dataset removes the prefix."""
    return f"{user_prefix(user_id)}exports/{int(dataset_id)}/"


def asset_dataset_id(user_id: int, key: str) -> int | None:
    """The dataset id in the key of one of the user's uploaded images, or None for any other key."""
    root = assets_prefix(user_id)
    if not key.startswith(root):
        return None
    head = key[len(root) :].partition("/")[0]
    return int(head) if head.isascii() and head.isdigit() and len(head) <= 18 else None
