from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from .models import ConsoleBucket, Project, S3AccessGrant


def project_list(*, user) -> QuerySet[Project]:
    return Project.objects.filter(owner=user).annotate(dataset_count=Count("datasets")).order_by("-created_at", "-id")


def project_get(*, user, pk: int) -> Project:
    """The user's project, or 404 — never another user's."""
    return get_object_or_404(Project, owner=user, pk=pk)


def console_bucket() -> ConsoleBucket | None:
    """This region's console bucket, once it has been created in S3; None until then."""
    return ConsoleBucket.objects.filter(region=settings.AWS_DEFAULT_REGION, created_at__isnull=False).first()


_UNREAD = object()


def request_console_bucket(request) -> ConsoleBucket | None:
    """console_bucket(), read once per request: the set-up check, the footer and the gallery's
    thumbnails all need it."""
    bucket = getattr(request, "_console_bucket", _UNREAD)
    if bucket is _UNREAD:
        bucket = request._console_bucket = console_bucket()
    return bucket


def s3_access_grants(*, user) -> QuerySet[S3AccessGrant]:
    """The grants the user holds, their own and their groups'."""
    return (
        S3AccessGrant.objects.filter(Q(user=user) | Q(group__user=user))
        .select_related("group")
        .distinct()
        .order_by("bucket", "prefix", "id")
    )
