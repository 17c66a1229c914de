"""django-storages' S3 storage on the console bucket, where uploads are stored (imports.upload)."""

from __future__ import annotations

import functools
import os

from django.conf import settings
from storages.backends.s3 import S3Storage

from customlabels import s3

from .. import selectors


@functools.lru_cache(maxsize=4)
def _storage(
    bucket: str, endpoint: str | None, access_key: str | None, secret_key: str | None, region: str, pid: int
) -> S3Storage:
    # The same botocore configuration as the console's own client (path-style addressing, SigV4,
    # checksums only when required, timeouts), so uploads work on every S3 server it works on.
    # Every upload has a key of its own (_images_store), so overwriting never replaces another
    # image's object; it only spares django-storages an existence check per file.
    return S3Storage(
        bucket_name=bucket,
        endpoint_url=endpoint,
        access_key=access_key,
        secret_key=secret_key,
        region_name=region,
        addressing_style="path",
        signature_version="s3v4",
        client_config=s3.client().meta.config,
        file_overwrite=True,
        default_acl=None,
    )


def console_storage() -> S3Storage:
    """django-storages' S3 storage on the console bucket, configured from settings."""
    return _storage(
        selectors.console_bucket_name(),
        settings.AWS_S3_ENDPOINT_URL,
        settings.AWS_ACCESS_KEY_ID,
        settings.AWS_SECRET_ACCESS_KEY,
        settings.AWS_DEFAULT_REGION,
        os.getpid(),
    )
