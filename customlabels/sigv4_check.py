"""Checking the AWS Signature Version 4 of a request to the console's Rekognition API.

The signature is computed again with botocore's own signer (the code every AWS SDK's Python client
signs with), over the request rebuilt from the headers the client says it signed and the raw body, and
compared in constant time. Only botocore's signing is used here, never a call to AWS; this module and
customlabels.s3 are the only ones that import botocore.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


class SignatureError(Exception):
    """The request's signature can't be accepted; `code` is the AWS error code to answer with."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SignedRequest:
    """What the Authorization header says: who signed, for which day, region and service, and how."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str


def signed_request_parse(*, authorization: str, amz_date: str) -> SignedRequest:
    """Read the Authorization and X-Amz-Date headers. Raises SignatureError: no Authorization →
    MissingAuthenticationTokenException; a malformed one → IncompleteSignatureException."""
    if not authorization:
        raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
    match = _AUTHORIZATION.match(authorization.strip())
    if not match:
        raise SignatureError(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' (AWS4-HMAC-SHA256).",
        )
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise SignatureError("IncompleteSignatureException", "The Credential of the Authorization header is malformed.")
    signed = tuple(match["signed"].split(";"))
    if "host" not in signed or "x-amz-date" not in signed:
        raise SignatureError("IncompleteSignatureException", "The signed headers must include host and x-amz-date.")
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date or ""):
        raise SignatureError("IncompleteSignatureException", "The X-Amz-Date header is missing or malformed.")
    return SignedRequest(
        access_key_id=parts[0],
        date=parts[1],
        region=parts[2],
        service=parts[3],
        signed_headers=signed,
        signature=match["signature"],
        amz_date=amz_date,
    )


def signature_check(
    *,
    signed: SignedRequest,
    secret_key: str,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    region: str,
    service: str,
    now: datetime,
    max_skew_seconds: int,
) -> None:
    """Check the request's signature with the key's secret. `headers` are the request's headers by
    lower-case name; `url` is the URL the client addressed (scheme, Host header, path, query).
    Raises SignatureError: InvalidSignatureException for another scope, a signature that differs (a
    changed body or header), or a date more than `max_skew_seconds` away from `now`."""
    if signed.service != service or signed.region != region or signed.date != signed.amz_date[:8]:
        raise SignatureError(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region and service: '{region}' and '{service}', "
            f"on the day of X-Amz-Date.",
        )
    moment = datetime.strptime(signed.amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if abs((now - moment).total_seconds()) > max_skew_seconds:
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature expired: {signed.amz_date} is more than {max_skew_seconds // 60} minutes from the "
            f"server's time {now.strftime('%Y%m%dT%H%M%SZ')}.",
        )
    content_hash = headers.get("x-amz-content-sha256")
    if content_hash is not None and content_hash != hashlib.sha256(body).hexdigest():
        # botocore's signer takes this header's word for the body's hash: it must be the body's.
        raise SignatureError("InvalidSignatureException", "X-Amz-Content-SHA256 is not the hash of the body.")
    missing = [name for name in signed.signed_headers if name not in headers]
    if missing:
        raise SignatureError("InvalidSignatureException", f"Signed header {missing[0]} is not in the request.")
    request = AWSRequest(
        method=method, url=url, headers={name: headers[name] for name in signed.signed_headers}, data=body
    )
    request.context["timestamp"] = signed.amz_date
    signer = SigV4Auth(Credentials(signed.access_key_id, secret_key), service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, signed.signature):
        raise SignatureError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )
