"""The Rekognition API through boto3's own `rekognition` client, signed with a user's access key,
against the live test server; S3 on moto and imports on the real worker, as everywhere."""

import json

import boto3
import pytest
from botocore.config import Config

from projects import access_keys
from tests.conftest import AWS_ENV
from tests.factories import UserFactory

from ..support import png_bytes, seed

WHEN = "2023-07-11T03:32:13.456Z"


def client_for(live_server, key_id: str, secret: str, **config):
    return boto3.client(
        "rekognition",
        endpoint_url=f"{live_server.url}/rekognition",
        region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"mode": "standard", "max_attempts": 2}, **config),
    )


@pytest.fixture
def api_key(user):
    return access_keys.access_key_create(user=user)


@pytest.fixture
def rekognition(live_server, api_key, transactional_db):
    """boto3's rekognition client, as a script would make it, for the `user` fixture's user."""
    return client_for(live_server, api_key.key.access_key_id, api_key.secret)


@pytest.fixture
def rekognition_other(live_server, transactional_db):
    """The same, for another user (another account)."""
    created = access_keys.access_key_create(user=UserFactory(username="eve"))
    return client_for(live_server, created.key.access_key_id, created.secret)


def classification(ref: str, *labels: str) -> str:
    line = {"source-ref": ref}
    for n, label in enumerate(labels):
        line[f"label{n}"] = n
        line[f"label{n}-metadata"] = {
            "confidence": 1,
            "job-name": "labeling-job/pets",
            "class-name": label,
            "human-annotated": "yes",
            "creation-date": WHEN,
            "type": "groundtruth/image-classification",
        }
    return json.dumps(line)


@pytest.fixture
def pets(s3, make_bucket):
    """A bucket with 10 PNGs (5 cats, 5 dogs) and their Ground Truth manifest: (bucket, manifest key, refs)."""
    bucket = make_bucket("pets")
    refs = {}
    for n in range(10):
        key = f"pets/{'cat' if n < 5 else 'dog'}-{n}.png"
        seed(s3, bucket, {key: png_bytes(64 + n, 64)})
        refs[f"s3://{bucket}/{key}"] = "cat" if n < 5 else "dog"
    manifest = "".join(classification(ref, label) + "\n" for ref, label in refs.items())
    seed(s3, bucket, {"gt/output.manifest": manifest.encode()})
    return bucket, "gt/output.manifest", refs
