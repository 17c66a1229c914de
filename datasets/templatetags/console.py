"""Template filters of the console's pages."""

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def path_breaks(value: str) -> SafeString:
    """The text escaped, with a line-break opportunity after each "/" (the last of "//"), so a long S3 URI wraps
    between folders instead of in the middle of a name."""
    return mark_safe(re.sub(r"/(?!/)", "/<wbr>", escape(value)))  # noqa: S308 - escaped above
