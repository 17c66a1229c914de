"""S3's naming rules: bucket names and key lengths.

Pure: no Django and no boto3, so the pure formats check a manifest's source-refs by the same rule
customlabels.s3 checks a folder location by.
"""

import re

MAX_KEY_BYTES = 1024  # the longest S3 object key, in bytes of UTF-8

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")


def bucket_name_valid(name: str) -> bool:
    """Whether `name` follows today's bucket naming rules: 3–63 lower-case letters, digits, dots and
    hyphens, beginning and ending with a letter or digit, never two dots in a row."""
    return _BUCKET_RE.fullmatch(name) is not None and ".." not in name
