"""Fixtures of the dataset tests, on top of the suite's (tests/conftest.py)."""

import json
from urllib.request import Request, urlopen

import boto3
import pytest
from django.test.utils import override_settings

from tests.conftest import AWS_ENV
from tests.factories import ProjectFactory

from .support import png_bytes, seed, seed_alexa_devices


@pytest.fixture
def project(user):
    return ProjectFactory(owner=user, name="alexa-project")


@pytest.fixture
def source_bucket(s3, make_bucket):
    """A bucket on the moto server holding the spec's alexa-devices tree and its awkward neighbours."""
    bucket = make_bucket("source")
    seed_alexa_devices(s3, bucket)
    return bucket


def _moto_auth(endpoint: str, initial_no_auth_actions: str) -> None:
    request = Request(
        f"{endpoint}/moto-api/reset-auth",
        data=initial_no_auth_actions.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urlopen(request, timeout=10).close()


@pytest.fixture
def denied_bucket(s3, s3_server, make_bucket, console_bucket):
    """A bucket the console's credentials may not list or read (an IAM policy denies it), as on real S3.

    moto checks IAM policies only once its authentication is on; it is on for the test and off after.
    """
    bucket = make_bucket("denied")
    seed(s3, bucket, {"alexa-devices/echo/echo-image-1.png": png_bytes(100, 100)})
    iam = boto3.client("iam", endpoint_url=s3_server, region_name=AWS_ENV["AWS_DEFAULT_REGION"], **_keys(AWS_ENV))
    iam.create_user(UserName="console")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": ["s3:ListBucket", "s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            },
        ],
    }
    iam.put_user_policy(UserName="console", PolicyName="deny-source", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="console")["AccessKey"]
    _moto_auth(s3_server, "0")
    try:
        with override_settings(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"]):
            yield bucket
    finally:
        _moto_auth(s3_server, "inf")


def _keys(env: dict[str, str]) -> dict[str, str]:
    return {"aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"]}
