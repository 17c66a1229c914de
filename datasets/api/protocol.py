"""The wire protocol: SigV4 authentication, the X-Amz-Target dispatch and JSON 1.1 answers and errors."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse

from customlabels import s3_names
from customlabels.sigv4_check import SignatureError, signature_check, signed_request_parse
from projects import access_keys
from projects.errors import ProjectError

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "RekognitionService."
SIGNING_NAME = "rekognition"

# The HTTP status of each code as AWS answers it. None of the 400s is one botocore retries (those
# would repeat): a limit a retry can't change is answered InvalidParameterException.
STATUS = {
    "MissingAuthenticationTokenException": 403,
    "InvalidSignatureException": 403,
    "IncompleteSignatureException": 400,
    "UnrecognizedClientException": 400,
    "SerializationException": 400,
    "UnknownOperationException": 400,
    "AccessDeniedException": 400,
    "InvalidParameterException": 400,
    "ResourceNotFoundException": 400,
    "ResourceInUseException": 400,
    "ResourceAlreadyExistsException": 400,
    "InvalidPaginationTokenException": 400,
    "InvalidS3ObjectException": 400,
    "LimitExceededException": 400,
    "ResourceNotReadyException": 400,
    "ThrottlingException": 500,
    "InternalServerError": 500,
}


class ApiError(Exception):
    """An error answered as {"__type": code, "Message": message}; botocore raises it as client.exceptions.<code>."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


Operation = Callable[..., dict]


def _answer(body: dict, *, status: int, request_id: str) -> HttpResponse:
    response = HttpResponse(json.dumps(body, separators=(",", ":")), status=status, content_type=CONTENT_TYPE)
    response["x-amzn-RequestId"] = request_id
    return response


def error_response(error: ApiError, *, request_id: str) -> HttpResponse:
    return _answer({"__type": error.code, "Message": error.message}, status=STATUS[error.code], request_id=request_id)


def _body(request: HttpRequest) -> bytes:
    """The raw body, up to API_MAX_BODY_BYTES: Django's DATA_UPLOAD_MAX_MEMORY_SIZE is left to the
    pages, since UpdateDatasetEntries carries up to 5 MiB base64-encoded (about 7 MB)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0 or length > settings.API_MAX_BODY_BYTES:
        raise ApiError(
            "SerializationException",
            f"The request body must say its length and be at most {settings.API_MAX_BODY_BYTES:,} bytes.",
        )
    return request.read(length) if length else b""


def authenticate(request: HttpRequest, body: bytes):
    """The user whose active access key signed the request (SigV4, signing name rekognition, the
    console's region, within API_CLOCK_SKEW_SECONDS). Raises ApiError."""
    try:
        signed = signed_request_parse(
            authorization=request.META.get("HTTP_AUTHORIZATION", ""), amz_date=request.META.get("HTTP_X_AMZ_DATE", "")
        )
        found = access_keys.access_key_secret(access_key_id=signed.access_key_id)
        if found is None:
            raise ApiError("UnrecognizedClientException", "The security token included in the request is invalid.")
        key, secret = found
        headers = {name.lower(): value for name, value in request.headers.items()}
        query = request.META.get("QUERY_STRING", "")
        signature_check(
            signed=signed,
            secret_key=secret,
            method=request.method,
            url=f"{request.scheme}://{headers.get('host', '')}{request.path}" + (f"?{query}" if query else ""),
            headers=headers,
            body=body,
            region=settings.AWS_DEFAULT_REGION,
            service=SIGNING_NAME,
            now=datetime.now(UTC),
            max_skew_seconds=settings.API_CLOCK_SKEW_SECONDS,
        )
    except SignatureError as exc:
        raise ApiError(exc.code, str(exc)) from exc
    except ProjectError as exc:
        log.error("Access key %s: %s", signed.access_key_id, exc)
        raise ApiError("InternalServerError", "The access key could not be read.") from exc
    access_keys.access_key_used(key=key)
    return key.user


def handle(request: HttpRequest, operations: dict[str, Operation]) -> HttpResponse:
    """Answer one API request: authenticate, find the operation, run it on the parsed body."""
    request_id = str(uuid.uuid4())
    try:
        if request.method != "POST":
            raise ApiError("UnknownOperationException", "The Rekognition API takes POST requests.")
        body = _body(request)
        user = authenticate(request, body)
        target = request.META.get("HTTP_X_AMZ_TARGET", "")
        operation = operations.get(target.removeprefix(TARGET_PREFIX)) if target.startswith(TARGET_PREFIX) else None
        if operation is None:
            raise ApiError("UnknownOperationException", f"Unknown operation {target or '(no X-Amz-Target)'}.")
        try:
            params = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError("SerializationException", "The request body is not JSON.") from exc
        if not isinstance(params, dict):
            raise ApiError("SerializationException", "The request body must be a JSON object.")
        return _answer(operation(user=user, params=params), status=200, request_id=request_id)
    except ApiError as error:
        return error_response(error, request_id=request_id)
    except (s3_names.S3Unreachable, OperationalError) as exc:
        log.warning("Rekognition API %s: %s", request_id, exc)
        return error_response(
            ApiError("ThrottlingException", "A service the console needs is unreachable. Try again."),
            request_id=request_id,
        )
    except Exception:
        log.exception("Rekognition API request %s failed", request_id)
        return error_response(ApiError("InternalServerError", "Internal server error."), request_id=request_id)
