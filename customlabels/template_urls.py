"""`{% url %}` with each reversal remembered by the process, a template builtin (settings.TEMPLATES).

A gallery page names forty-odd URLs (its forms, links and htmx targets), and Django reverses each one
afresh: 40 µs a time, two milliseconds a page, for answers that depend only on the URLconf, the script
prefix and the tag's arguments. Those are the key here. Only the plain form is remembered (a view
name with ints and strings as positional arguments); `as var`, keyword arguments and other values go
through Django's own tag unchanged.
"""

from functools import lru_cache

from django import template
from django.conf import settings
from django.template import defaulttags
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape

register = template.Library()


@lru_cache(maxsize=4096)
def _reverse(urlconf: str, prefix: str, view_name: str, args: tuple, current_app: str | None) -> tuple[str, str]:
    """The URL, and as an autoescaping template shows it."""
    url = reverse(view_name, urlconf=urlconf, args=args, current_app=current_app)
    return url, conditional_escape(url)


def _current_app(context) -> str | None:
    # As Django's URLNode: the request's current_app, else its resolved namespace.
    request = getattr(context, "request", None)
    if hasattr(request, "current_app"):
        return request.current_app
    match = getattr(request, "resolver_match", None)
    return match.namespace if match is not None else None


class RememberedURLNode(defaulttags.URLNode):
    def render(self, context):
        if self.asvar or self.kwargs:
            return super().render(context)
        args = tuple(arg.resolve(context) for arg in self.args)
        view_name = self.view_name.resolve(context)
        if not isinstance(view_name, str) or not all(isinstance(arg, (int, str)) for arg in args):
            return super().render(context)
        urlconf = get_urlconf() or settings.ROOT_URLCONF
        url, escaped = _reverse(urlconf, get_script_prefix(), view_name, args, _current_app(context))
        return escaped if context.autoescape else url


@register.tag
def url(parser, token):
    node = defaulttags.url(parser, token)
    return RememberedURLNode(node.view_name, node.args, node.kwargs, node.asvar)
