"""Who may read what in S3: the one access check, and S3 as one user may use it.

Every read made on a user's behalf — the create form's checks, each listing page, a manifest file
and each of its source-refs, a copy, a retried import, a thumbnail of an imported image, every
presigned URL — goes through a UserS3, whose methods check first and only then call
customlabels.s3. The rules (default deny):

- the user's own console storage (projects.console_storage): their uploaded images are importable
  and everything in it is theirs to view; nobody else's is, by any path, and the console's own
  folders (thumbnails, exports) are never importable;
- any other bucket only under an S3AccessGrant of the user or of one of their groups (a bucket,
  optionally a folder in it; reading, or reading and writing).

A refusal says the same whether or not the location exists (REFUSED), and no S3 request is made
for it. Grants are read from the database when a UserS3 is made and again by refresh(), which a
long step (a listing) calls before every page, so revoking a grant stops a running import at its
next step.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Q

from customlabels import s3, s3_multipart, s3_stream, sql_batch

from . import console_storage
from .models import S3AccessGrant
from .selectors import console_bucket, request_console_bucket

REFUSED = "You don't have access to {uri}. An administrator can grant it on the S3 access page."


class Use(enum.Enum):
    IMPORT = "import"  # images or a manifest file to bring into a dataset
    VIEW = "view"  # a presigned URL of something the user already has (an image, a thumbnail, an export)
    WRITE = "write"  # the console writing for the user


@dataclass(frozen=True)
class Grant:
    bucket: str
    prefix: str
    write: bool


def refused_message(bucket: str, key: str = "") -> str:
    return REFUSED.format(uri=f"s3://{bucket}/{key}")


def grants_read(user_id: int) -> tuple[str, list]:
    """The read of the grants of the user and of the user's groups, for grants_from.

    Read on every page that shows S3 objects, so a revoke counts at once; written in SQL because the
    ORM spent ten times as long compiling the join through the groups as the database answering it.
    """
    grants, memberships = S3AccessGrant._meta.db_table, get_user_model().groups.through._meta.db_table
    return (
        f"SELECT bucket, prefix, can_write FROM {grants} "
        f"WHERE user_id = %s OR group_id IN (SELECT group_id FROM {memberships} WHERE user_id = %s)",
        [int(user_id), int(user_id)],
    )


def grants_from(rows) -> list[Grant]:
    return [Grant(bucket=b, prefix=p, write=w) for b, p, w in rows]


def grants_of(user_id: int) -> list[Grant]:
    """The grants of the user and of the user's groups, read now."""
    return grants_from(sql_batch.read_all([grants_read(user_id)])[0])


def allowed(*, user_id: int, grants: list[Grant], console: str | None, bucket: str, key: str, use: Use) -> bool:
    """Whether the user may `use` the key (or every key under the prefix `key`) of the bucket. Pure."""
    if console is not None and bucket == console:
        own = console_storage.user_prefix(user_id)
        if use is Use.IMPORT:
            return key.startswith(console_storage.assets_prefix(user_id))
        return key.startswith(own)
    return any(g.bucket == bucket and key.startswith(g.prefix) and (g.write or use is not Use.WRITE) for g in grants)


class UserS3:
    """S3 as one user may use it: each method checks the user's access, then calls customlabels.s3.

    Raises s3.S3AccessRefused (REFUSED) before any request when the user may not; inside an allowed
    location the console's own S3 errors (missing bucket, access denied, …) come through.
    """

    def __init__(self, user_id: int, *, console: str | None = None, grants: list[Grant] | None = None):
        """`grants`: the user's grants (grants_from), when the caller has just read them."""
        self.user_id = int(user_id)
        self.grants = grants if grants is not None else grants_of(self.user_id)
        self.console = console if console is not None else _console_name()

    def refresh(self) -> None:
        """Read the user's grants (and the console bucket) again: a revoked grant counts from now on."""
        self.grants = grants_of(self.user_id)
        self.console = _console_name()

    # --- the check ---------------------------------------------------------------------------

    def allows(self, bucket: str, key: str = "", *, use: Use = Use.IMPORT) -> bool:
        return allowed(user_id=self.user_id, grants=self.grants, console=self.console, bucket=bucket, key=key, use=use)

    def check(self, bucket: str, key: str = "", *, use: Use = Use.IMPORT) -> None:
        """The one access check. Raises s3.S3AccessRefused with REFUSED."""
        if not self.allows(bucket, key, use=use):
            raise s3.S3AccessRefused(refused_message(bucket, key))

    def allows_uri(self, uri: str, *, use: Use = Use.IMPORT) -> bool:
        try:
            bucket, key = s3.split_uri(uri)
        except s3.S3LocationInvalid:
            return False
        return self.allows(bucket, key, use=use)

    def importable_refs(self, field: str = "source_ref") -> Q:
        """A filter on an s3:// URI column matching what the user may import, for checking many rows
        in one query (a copy checks every image it would copy)."""
        allow = Q(pk__in=[])
        if self.console is not None:
            allow |= Q(**{f"{field}__startswith": f"s3://{self.console}/{console_storage.assets_prefix(self.user_id)}"})
        for g in self.grants:
            if g.bucket != self.console:
                allow |= Q(**{f"{field}__startswith": f"s3://{g.bucket}/{g.prefix}"})
        return allow

    # --- reads for an import -----------------------------------------------------------------

    def head_bucket(self, bucket: str, prefix: str = "") -> None:
        self.check(bucket, prefix)
        s3.head_bucket(bucket)

    def list_pages(self, bucket: str, prefix: str) -> Iterator[list[s3.S3Object]]:
        """The listing's pages; the grants are read again before each page after the first."""
        self.check(bucket, prefix)
        for number, page in enumerate(s3.list_pages(bucket, prefix)):
            if number:
                self.refresh()
                self.check(bucket, prefix)
            yield page

    def head_object(self, bucket: str, key: str) -> s3.S3Object:
        self.check(bucket, key)
        return s3.head_object(bucket, key)

    def read_range(self, bucket: str, key: str, length: int) -> bytes:
        self.check(bucket, key)
        return s3.read_range(bucket, key, length)

    def read_range_sized(self, bucket: str, key: str, length: int) -> tuple[bytes, int, str]:
        self.check(bucket, key)
        return s3.read_range_sized(bucket, key, length)

    def read_object(self, bucket: str, key: str, *, max_bytes: int) -> bytes:
        self.check(bucket, key)
        return s3.read_object(bucket, key, max_bytes=max_bytes)

    def iter_lines(self, bucket: str, key: str, *, max_line_bytes: int) -> Iterator[bytes]:
        self.check(bucket, key)
        return s3_stream.iter_lines(bucket, key, max_line_bytes=max_line_bytes)

    def iter_object(self, bucket: str, key: str) -> Iterator[bytes]:
        """An object's bytes as they stream (an export's copy of an image the user may view)."""
        self.check(bucket, key, use=Use.VIEW)
        return s3_stream.iter_object(bucket, key)

    # --- writes for the user (an export): Use.WRITE, a grant with writing or their own storage ---

    def put_object(self, bucket: str, key: str, data: bytes, *, content_type: str) -> None:
        self.check(bucket, key, use=Use.WRITE)
        s3.put_object(bucket, key, data, content_type=content_type)

    def copy_object(self, source_bucket: str, source_key: str, bucket: str, key: str) -> None:
        """Copy an object the user may view to a key they may write, on the server side."""
        self.check(source_bucket, source_key, use=Use.VIEW)
        self.check(bucket, key, use=Use.WRITE)
        s3.copy_object_across(source_bucket, source_key, bucket, key)

    def writer(self, bucket: str, key: str, *, content_type: str) -> s3_multipart.MultipartWriter:
        """A multipart writer of one object the user may write (see s3_multipart.MultipartWriter)."""
        self.check(bucket, key, use=Use.WRITE)
        return s3_multipart.MultipartWriter(bucket, key, content_type=content_type)

    # --- what the pages show -----------------------------------------------------------------

    def presigned_get_url(self, bucket: str, key: str, *, content_disposition: str | None = None) -> str:
        self.check(bucket, key, use=Use.VIEW)
        return s3.presigned_get_url(bucket, key, content_disposition=content_disposition)

    def presigner(self) -> Callable[[str, str], str]:
        """presigned_get_url for many objects at once, as a function of (bucket, key) that checks each
        and returns "" for an object the user may not view: what the URLs share is computed once."""
        sign = s3.presigner()

        def presign(bucket: str, key: str) -> str:
            return sign(bucket, key) if self.allows(bucket, key, use=Use.VIEW) else ""

        return presign

    def presigned_uri(self, uri: str) -> str:
        """The presigned URL of an s3:// URI, or "" when the user may not view it (any more) or it
        is not an S3 location."""
        if not self.allows_uri(uri, use=Use.VIEW):
            return ""
        return s3.presigned_get_url(*s3.split_uri(uri))


def _console_name() -> str | None:
    bucket = console_bucket()
    return bucket.name if bucket is not None else None


def request_s3(request, *, grants: list[Grant] | None = None) -> UserS3:
    """The signed-in user's UserS3, made once per request (a gallery page presigns fifty URLs), with
    `grants` if the caller has just read them (grants_read; see request_s3_made)."""
    user_s3 = getattr(request, "_user_s3", None)
    if user_s3 is None:
        bucket = request_console_bucket(request)
        user_s3 = request._user_s3 = UserS3(request.user.pk, console=bucket.name if bucket else None, grants=grants)
    return user_s3


def request_s3_made(request) -> bool:
    """Whether this request has its UserS3 (and so its grants) already."""
    return getattr(request, "_user_s3", None) is not None
