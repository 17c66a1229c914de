"""AWS Signature Version 4 query signing of an S3 GET or PUT, as botocore's generate_presigned_url does
it with static keys (path-style, UNSIGNED-PAYLOAD). Pure: no Django, no boto3."""

import functools
import hashlib
import hmac
from datetime import datetime
from urllib.parse import quote, urlsplit


class UrlSigner:
    """Presigned GET (or PUT) URLs for one endpoint, key pair and region, valid `expires` seconds from `now`.

    What every URL shares (the host, the query, the scope, the signing key) is made once, so each
    URL costs only its path's two hashes: a gallery page signs fifty.
    """

    def __init__(
        self, *, endpoint_url: str, access_key: str, secret_key: str, region: str, expires: int, now: datetime
    ):
        endpoint = urlsplit(endpoint_url)
        host = endpoint.netloc
        if (endpoint.scheme, endpoint.port) in (("http", 80), ("https", 443)):
            host = endpoint.hostname
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{access_key}/{scope}",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(expires),
            "X-Amz-SignedHeaders": "host",
        }
        self._origin = f"{endpoint.scheme}://{endpoint.netloc}"
        self._root = endpoint.path.rstrip("/")
        self._query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()))
        self._request_tail = f"\n{self._query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD"
        self._to_sign_head = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
        self._key = _signing_key(secret_key, amz_date[:8], region)

    def url(self, bucket: str, key: str, *, method: str = "GET") -> str:
        """The presigned `method` URL of s3://bucket/key (path-style). Only the host is signed: a PUT
        may send any Content-Type, and its body is not hashed (UNSIGNED-PAYLOAD)."""
        path = quote(f"{self._root}/{bucket}/{key}", safe="/~")
        canonical_request = f"{method}\n{path}{self._request_tail}"
        to_sign = self._to_sign_head + hashlib.sha256(canonical_request.encode()).hexdigest()
        signature = hmac.new(self._key, to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{self._origin}{path}?{self._query}&X-Amz-Signature={signature}"


def presign_get(
    *,
    endpoint_url: str,
    access_key: str,
    secret_key: str,
    region: str,
    bucket: str,
    key: str,
    expires: int,
    now: datetime,
) -> str:
    """A presigned GET URL of s3://bucket/key on the endpoint, valid `expires` seconds from `now`."""
    signer = UrlSigner(
        endpoint_url=endpoint_url,
        access_key=access_key,
        secret_key=secret_key,
        region=region,
        expires=expires,
        now=now,
    )
    return signer.url(bucket, key)


@functools.lru_cache(maxsize=8)
def _signing_key(secret: str, day: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
