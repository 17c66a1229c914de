"""AWS Signature Version 4 query signing of an S3 GET, as botocore's generate_presigned_url does it
with static keys (path-style, UNSIGNED-PAYLOAD). Pure: no Django, no boto3."""

import functools
import hashlib
import hmac
from datetime import datetime
from urllib.parse import quote, urlsplit


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
    endpoint = urlsplit(endpoint_url)
    host = endpoint.netloc
    if (endpoint.scheme, endpoint.port) in (("http", 80), ("https", 443)):
        host = endpoint.hostname
    path = quote(f"{endpoint.path.rstrip('/')}/{bucket}/{key}", safe="/~")
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    query = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
    }
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()))
    canonical_request = f"GET\n{path}\n{canonical_query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    signature = hmac.new(_signing_key(secret_key, amz_date[:8], region), to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{endpoint.scheme}://{endpoint.netloc}{path}?{canonical_query}&X-Amz-Signature={signature}"


@functools.lru_cache(maxsize=8)
def _signing_key(secret: str, day: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
