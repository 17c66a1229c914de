"""S3's naming rules: bucket names, key lengths, folder locations and URIs, and the S3 errors.

Pure: no Django and no boto3, so the pure formats check a manifest's source-refs by the same rule
customlabels.s3 checks a folder location by.
"""

import re
from dataclasses import dataclass

MAX_KEY_BYTES = 1024  # the longest S3 object key, in bytes of UTF-8

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")


def bucket_name_valid(name: str) -> bool:
    """Whether `name` follows today's bucket naming rules: 3–63 lower-case letters, digits, dots and
    hyphens, beginning and ending with a letter or digit, never two dots in a row."""
    return _BUCKET_RE.fullmatch(name) is not None and ".." not in name


class S3Error(Exception):
    """Base of every S3 failure; str() is a message for the user."""


class S3LocationInvalid(S3Error):
    pass


class S3BucketNotFound(S3Error):
    pass


class S3AccessDenied(S3Error):
    pass


class S3AccessRefused(S3Error):
    """The console refuses the read or write for this user (no grant; another user's storage). Its
    message is the same whether or not the location exists, so it reveals nothing."""


class S3ObjectNotFound(S3Error):
    pass


class S3Unreachable(S3Error):
    """The endpoint could not be reached (network, DNS, timeouts, 5xx). Worth retrying."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" for the bucket root, else ends with "/"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str


_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")


def has_other_scheme(text: str) -> bool:
    """Whether the text is a URL of another scheme than s3:// (http://, file://, …)."""
    return _SCHEME_RE.match(text) is not None and not text.startswith("s3://")


def parse_location(value: str) -> S3Location:
    """Parse `s3://bucket/prefix` or `bucket/prefix` (trailing slash optional) into a folder.

    The prefix always ends with "/" so that `alexa-devices` never matches `alexa-devices-2/`.
    """
    text = (value or "").strip()
    if not text:
        raise S3LocationInvalid("Enter an S3 folder location, for example s3://bucket/folder/.")
    if len(text) > 1024 + 70:
        raise S3LocationInvalid("The S3 folder location is too long.")
    if has_other_scheme(text):
        raise S3LocationInvalid("The S3 folder location must start with s3:// or a bucket name.")
    if text.startswith("s3://"):
        text = text[len("s3://") :]
    bucket, _, prefix = text.partition("/")
    if not bucket:
        raise S3LocationInvalid("The S3 folder location needs a bucket name, for example s3://bucket/folder/.")
    if not bucket_name_valid(bucket):
        raise S3LocationInvalid(
            f"“{bucket}” is not a valid bucket name: use 3–63 lower-case letters, digits, dots and hyphens."
        )
    prefix = prefix.strip("/")
    if any(ch in prefix for ch in "\x00\r\n"):
        raise S3LocationInvalid("The S3 folder location contains characters that are not allowed.")
    segments = prefix.split("/") if prefix else []
    if any(seg in ("", ".", "..") for seg in segments):
        raise S3LocationInvalid("The S3 folder location must not contain empty, “.” or “..” folders.")
    if len(prefix.encode()) > 1000:
        raise S3LocationInvalid("The S3 folder location is too long.")
    return S3Location(bucket=bucket, prefix=f"{prefix}/" if prefix else "")


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key)."""
    if not uri.startswith("s3://"):
        raise S3LocationInvalid(f"{uri} is not an s3:// URI.")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key
