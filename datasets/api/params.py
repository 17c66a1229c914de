"""The checks botocore leaves to the server: it checks required members, types and minimums, the
server maximum lengths, patterns, enums and ranges (the limits of the service model). Each raises
InvalidParameterException naming the member, as AWS's validation does."""

from __future__ import annotations

import re
import unicodedata

from django.core import signing

from .protocol import ApiError

PROJECT_NAME = re.compile(r"[a-zA-Z0-9_.\-]+")
NON_BLANK = re.compile(r".*\S.*", re.S)
TAG_PUNCTUATION = set("_.:/=+-@")


def _tag_text(value: str) -> bool:
    """TagKey's and TagValue's [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*: letters, separators, digits and _.:/=+-@."""
    return all(unicodedata.category(ch)[0] in "LZN" or ch in TAG_PUNCTUATION for ch in value)


MAX_TOKEN = 1024


def invalid(message: str) -> ApiError:
    return ApiError("InvalidParameterException", message)


def string(
    params: dict, name: str, *, required: bool = False, min_len: int = 1, max_len: int, pattern=None
) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise invalid(f"{name} is required.")
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string.")
    if not min_len <= len(value) <= max_len:
        raise invalid(f"{name} must be {min_len} to {max_len:,} characters long.")
    if pattern is not None and not pattern.fullmatch(value):
        raise invalid(f"{name} “{value[:100]}” does not match the pattern {pattern.pattern}.")
    return value


def integer(params: dict, name: str, *, low: int, high: int, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise invalid(f"{name} must be an integer from {low} to {high}.")
    return value


def boolean(params: dict, name: str) -> bool | None:
    value = params.get(name)
    if value is not None and not isinstance(value, bool):
        raise invalid(f"{name} must be true or false.")
    return value


def string_list(params: dict, name: str, *, min_items: int, max_items: int, max_len: int, pattern=None) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not min_items <= len(value) <= max_items:
        raise invalid(f"{name} must be a list of {min_items} to {max_items} items.")
    return [string({name: item}, name, required=True, max_len=max_len, pattern=pattern) for item in value]


def tag_key(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128:
        raise invalid("A tag key must be 1 to 128 characters long.")
    if value.startswith("aws:") or not _tag_text(value):
        raise invalid(
            f"The tag key “{value}” is not allowed: use letters, digits, spaces and _.:/=+-@, not starting with aws:."
        )
    return value


def tags(params: dict, name: str = "Tags") -> dict[str, str]:
    value = params.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 200:
        raise invalid(f"{name} must be a map of at most 200 tags.")
    for key, text in value.items():
        tag_key(key)
        if not isinstance(text, str) or len(text) > 256 or not _tag_text(text):
            raise invalid(f"The value of the tag “{key}” must be at most 256 letters, digits, spaces and _.:/=+-@.")
    return dict(value)


def page_token(params: dict, *, scope: str) -> dict | None:
    """The page a NextToken points at, or None for the first page (no token, or "" as some scripts
    send first). Tokens are signed with SECRET_KEY for `scope` (an operation and a resource), so one
    can't be forged or used for another listing. Raises InvalidPaginationTokenException."""
    token = string(params, "NextToken", min_len=0, max_len=MAX_TOKEN)
    if not token:
        return None
    try:
        return signing.loads(token, salt=f"rekognition-api:{scope}")
    except signing.BadSignature as exc:
        raise ApiError("InvalidPaginationTokenException", "The NextToken is invalid.") from exc


def page_token_make(value: dict, *, scope: str) -> str:
    return signing.dumps(value, salt=f"rekognition-api:{scope}", compress=True)
