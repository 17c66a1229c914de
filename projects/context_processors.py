from django.conf import settings

from .selectors import request_console_bucket


def console(request):
    """The region and console bucket name shown in every page's footer."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"console_region": settings.AWS_DEFAULT_REGION, "console_bucket": request_console_bucket(request)}
