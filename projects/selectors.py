from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from .models import AccessKey, ConsoleBucket, Project, S3AccessGrant


def project_list(*, user) -> QuerySet[Project]:
    return Project.objects.filter(owner=user).annotate(dataset_count=Count("datasets")).order_by("-created_at", "-id")


def project_get(*, user, pk: int) -> Project:
    """The user's project, or 404 — never another user's."""
    return get_object_or_404(Project, owner=user, pk=pk)


def console_bucket() -> ConsoleBucket | None:
    """This region's console bucket, once it has been created in S3; None until then."""
    return ConsoleBucket.objects.filter(region=settings.AWS_DEFAULT_REGION, created_at__isnull=False).first()


_UNREAD = object()


CONSOLE_BUCKET_CACHE_SECONDS = 60


def request_console_bucket(request) -> ConsoleBucket | None:
    """console_bucket(), read once per request: the set-up check, the footer and the gallery's
    thumbnails all need it.

    Every page needs it, and once created the bucket's row does not change (only an administrator
    could edit it in the admin), so the web process keeps it for CONSOLE_BUCKET_CACHE_SECONDS
    instead of asking the database on every request. Until it exists it is read every time, so
    First Time Set Up takes effect at once.
    """
    bucket = getattr(request, "_console_bucket", _UNREAD)
    if bucket is _UNREAD:
        key = f"console-bucket:{settings.AWS_DEFAULT_REGION}"
        bucket = cache.get(key)
        if bucket is None:
            bucket = console_bucket()
            if bucket is not None:
                cache.set(key, bucket, timeout=CONSOLE_BUCKET_CACHE_SECONDS)
        request._console_bucket = bucket
    return bucket


def s3_access_grants(*, user) -> QuerySet[S3AccessGrant]:
    """The grants the user holds, their own and their groups'."""
    return (
        S3AccessGrant.objects.filter(Q(user=user) | Q(group__user=user))
        .select_related("group")
        .distinct()
        .order_by("bucket", "prefix", "id")
    )


def access_keys(*, user) -> QuerySet[AccessKey]:
    return AccessKey.objects.filter(user=user).order_by("created_at", "id")


def access_key_get(*, user, pk: int) -> AccessKey:
    """The user's access key, or 404 — never another user's."""
    return get_object_or_404(AccessKey, user=user, pk=pk)
