from django.conf import settings

from .models import ConsoleBucket


def console(request):
    """The region and console bucket name shown in every page's footer."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    bucket = ConsoleBucket.objects.filter(region=settings.AWS_DEFAULT_REGION, created_at__isnull=False).first()
    return {"console_region": settings.AWS_DEFAULT_REGION, "console_bucket": bucket}
