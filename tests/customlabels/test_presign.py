"""The console signs presigned GET URLs itself (a gallery page signs 50); they must be exactly the
URLs botocore would give, for any key, endpoint and region."""

from datetime import UTC, datetime

import botocore.auth
import pytest
from django.test import override_settings

from customlabels import s3

NOW = datetime(2026, 11, 25, 11, 40, 7, tzinfo=UTC)
KEYS = [
    "thumbnails/1/2.jpg",
    "alexa devices/é cho/x+y (1).PNG",
    "a/~b/c%20d.jpg",
    "<b>x</b>.png",
    "deep/" * 20 + "日本語.jpeg",
]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize(
    ("endpoint", "region"),
    [
        ("http://127.0.0.1:9000", "us-east-1"),
        ("https://minio.example.com", "eu-west-1"),
        ("https://minio.example.com:8443/s3", "us-east-1"),
        (None, "us-east-1"),
        (None, "eu-central-1"),
    ],
)
def test_the_console_signs_exactly_as_botocore(monkeypatch, key, endpoint, region):
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    with override_settings(
        AWS_S3_ENDPOINT_URL=endpoint,
        AWS_DEFAULT_REGION=region,
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY="secret/with+chars",
    ):
        expected = s3.client().generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": key}, ExpiresIn=300)
        assert s3._presign_get("bkt", key, expires=300, now=NOW) == expected


def test_a_download_link_with_its_content_disposition_is_still_signed_by_botocore():
    url = s3.presigned_get_url("bkt", "exports/1/x.manifest", content_disposition='attachment; filename="x.manifest"')
    assert "response-content-disposition=attachment" in url and "X-Amz-Signature=" in url
