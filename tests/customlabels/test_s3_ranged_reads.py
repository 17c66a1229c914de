"""The header reads of an import go over plain HTTP with presigned URLs (customlabels.s3_http) instead of
boto3; against moto's S3 server they must read what boto3 reads and fail as boto3's reads fail."""

import socket
import uuid

import pytest
from django.test import override_settings

from customlabels import s3 as console_s3

KEYS = [
    "plain.jpg",
    "alexa devices/é cho/x+y (1).PNG",
    "a/~b/c%20d.jpg",
    "q?a=1&b#frag.png",
    "deep/" * 30 + "日本語.jpeg",
]


@pytest.fixture
def bucket(s3):
    name = f"ranged-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.mark.parametrize("key", KEYS)
def test_a_ranged_read_gives_the_bytes_size_and_etag_boto3_gives(s3, bucket, key):
    body = bytes(range(256)) * 40
    etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')

    assert console_s3._getter() is not None, "static keys read over plain HTTP"
    assert console_s3.read_range(bucket, key, 100) == body[:100]
    assert console_s3.read_range(bucket, key, 100, start=1000) == body[1000:1100]
    assert console_s3.read_range_sized(bucket, key, 512) == (body[:512], len(body), etag)
    # Asking for more than there is gives the whole object and its size.
    assert console_s3.read_range_sized(bucket, key, 1 << 20) == (body, len(body), etag)


def test_an_empty_object_reads_as_no_bytes_where_s3_refuses_every_range(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty.jpg", Body=b"")

    assert console_s3.read_range_sized(bucket, "empty.jpg", 1024) == (b"", 0, "")
    # A whole-object read too (an empty YOLO split list, val.txt, read by the format import).
    assert console_s3.read_range(bucket, "empty.jpg", 1024) == b""
    assert console_s3.read_object(bucket, "empty.jpg", max_bytes=1024) == b""


def test_a_missing_object_and_a_missing_bucket_raise_what_boto3_reads_raise(s3, bucket):
    with pytest.raises(console_s3.S3ObjectNotFound, match=f"s3://{bucket}/gone.jpg does not exist"):
        console_s3.read_range(bucket, "gone.jpg", 100)
    with pytest.raises(console_s3.S3ObjectNotFound):
        console_s3.read_range_sized(bucket, "gone.jpg", 100)
    with pytest.raises(console_s3.S3BucketNotFound, match="“no-such-bucket-here” does not exist"):
        console_s3.read_range_sized("no-such-bucket-here", "a.jpg", 100)


def test_an_unreachable_server_raises_s3_unreachable_worth_a_retry(s3_server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with override_settings(AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}"):
        with pytest.raises(console_s3.S3Unreachable, match="could not be reached"):
            console_s3.read_range("some-bucket", "a.jpg", 100)


def test_without_static_keys_or_behind_a_proxy_boto3_does_the_reads(s3, bucket, monkeypatch):
    s3.put_object(Bucket=bucket, Key="a.jpg", Body=b"0123456789")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "")
    with override_settings(AWS_ACCESS_KEY_ID="other-key"):  # a new configuration: the reader is made again
        assert console_s3._getter() is None
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    with override_settings(AWS_ACCESS_KEY_ID="third-key"):
        assert console_s3._getter() is None
        assert console_s3.read_range(bucket, "a.jpg", 4) == b"0123"
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    with override_settings(AWS_ACCESS_KEY_ID="fourth-key"):
        assert console_s3._getter() is not None


@pytest.mark.parametrize("key", KEYS)
def test_a_small_put_stores_what_boto3_reads_back_with_its_content_type(s3, bucket, key):
    body = b"\xff\xd8thumbnail" * 50

    console_s3.put_object(bucket, key, body, content_type="image/jpeg")

    stored = s3.get_object(Bucket=bucket, Key=key)
    assert (stored["Body"].read(), stored["ContentType"]) == (body, "image/jpeg")
    # Stored again (a thumbnail made twice): the new bytes replace the old.
    console_s3.put_object(bucket, key, b"second", content_type="image/jpeg")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"second"


def test_a_put_to_a_missing_bucket_or_an_unreachable_server_raises_what_boto3_raises(s3_server):
    assert console_s3._getter() is not None, "static keys write over plain HTTP"
    with pytest.raises(console_s3.S3BucketNotFound, match="“no-such-bucket-here” does not exist"):
        console_s3.put_object("no-such-bucket-here", "t.jpg", b"x", content_type="image/jpeg")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with override_settings(AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}"):
        with pytest.raises(console_s3.S3Unreachable, match="could not be reached"):
            console_s3.put_object("some-bucket", "t.jpg", b"x", content_type="image/jpeg")
