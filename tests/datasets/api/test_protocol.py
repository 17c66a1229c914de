"""Who may call the API and how it answers: SigV4 with the user's access key, JSON 1.1 errors."""

import json
from urllib.request import Request, urlopen

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from projects import access_keys
from projects.models import AccessKey

from .conftest import client_for


def test_a_signed_call_answers_and_records_the_key_as_used(rekognition, api_key):
    arn = rekognition.create_project(ProjectName="signed")["ProjectArn"]

    assert arn.startswith("arn:aws:rekognition:us-east-1:")
    assert AccessKey.objects.get(pk=api_key.key.pk).last_used_at is not None


def test_an_unknown_access_key_is_refused_as_unrecognized(live_server, transactional_db):
    client = client_for(live_server, "AKIAUNKNOWNUNKNOWN00", "x" * 40)

    with pytest.raises(client.exceptions.ClientError) as caught:
        client.describe_projects()
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_inactive_key_is_refused_and_works_again_once_active(rekognition, api_key):
    access_keys.access_key_active_set(key=api_key.key, active=False)
    with pytest.raises(ClientError) as caught:
        rekognition.describe_projects()
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"

    access_keys.access_key_active_set(key=api_key.key, active=True)
    assert rekognition.describe_projects()["ProjectDescriptions"] == []


def test_a_wrong_secret_is_an_invalid_signature(live_server, api_key, transactional_db):
    client = client_for(live_server, api_key.key.access_key_id, "not-the-secret" * 3)

    with pytest.raises(ClientError) as caught:
        client.describe_projects()
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_body_changed_after_signing_is_refused_and_changes_nothing(rekognition):
    def tamper(request, **kwargs):
        request.body = request.body.replace(b"mine", b"evil")

    rekognition.meta.events.register("before-send.rekognition.CreateProject", tamper)

    with pytest.raises(ClientError) as caught:
        rekognition.create_project(ProjectName="mine")
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    rekognition.meta.events.unregister("before-send.rekognition.CreateProject", tamper)
    assert rekognition.describe_projects()["ProjectDescriptions"] == []


def test_an_unsigned_request_is_missing_authentication(live_server, transactional_db):
    client = client_for(live_server, "unused", "unused", signature_version=UNSIGNED)

    with pytest.raises(ClientError) as caught:
        client.describe_projects()
    assert caught.value.response["Error"]["Code"] == "MissingAuthenticationTokenException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_errors_are_json_with_a_type_a_message_and_a_request_id(live_server, transactional_db):
    request = Request(
        f"{live_server.url}/rekognition",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "RekognitionService.DescribeProjects"},
    )
    with pytest.raises(Exception) as caught:
        urlopen(request, timeout=10)
    response = caught.value
    assert response.code == 403
    assert response.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert response.headers["x-amzn-RequestId"]
    assert json.loads(response.read()) == {
        "__type": "MissingAuthenticationTokenException",
        "Message": "Missing Authentication Token",
    }


def test_the_endpoint_takes_no_trailing_slash_and_never_redirects(rekognition, live_server):
    assert rekognition.meta.endpoint_url.endswith("/rekognition")
    assert rekognition.describe_projects()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_the_environment_variable_points_the_client_at_the_console(live_server, api_key, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", f"{live_server.url}/rekognition")
    client = boto3.client(
        "rekognition",
        region_name="us-east-1",
        aws_access_key_id=api_key.key.access_key_id,
        aws_secret_access_key=api_key.secret,
    )

    assert client.create_project(ProjectName="from-env")["ProjectArn"].endswith(
        client.describe_projects()["ProjectDescriptions"][0]["ProjectArn"].rsplit(":", 1)[1]
    )


def test_secrets_are_encrypted_at_rest(api_key):
    stored = AccessKey.objects.get(pk=api_key.key.pk).secret_encrypted

    assert api_key.secret not in stored
    assert access_keys.access_key_secret(access_key_id=api_key.key.access_key_id)[1] == api_key.secret
