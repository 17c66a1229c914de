"""The gallery's cards: the one loop of the dataset page, fifty cards on every page and every htmx swap.

The markup is written here with format strings rather than as template tags in dataset_detail.html:
the template engine spent a fifth of the page's server time on it (resolving a dozen variables and
escaping them, card by card), this a few hundredths. Every value is escaped as the template would
escape it: with html.escape, which Django's own escape calls, without its wrapping of every value for
lazy strings (none here: names, messages and URLs are plain strings). The view (views.gallery._cards_prepare) gives each card its URLs and thumbnail.
"""

from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_CARD = """
        <li class="card{selected}" data-image-id="{id}" tabindex="-1">
          <a class="thumb" href="{href}">
            {thumb}
          </a>
          <div class="name">{name}</div>
          <div class="labels">{labels}</div>{badge}
        </li>"""

_LABELING_CARD = """
        <li class="card{selected}" data-image-id="{id}" tabindex="0">
          <div class="thumb">{thumb}</div>
          <div class="checkbox select"><input type="checkbox" class="select-image" name="image" value="{id}" id="sel-{id}" {checked}><label for="sel-{id}">Select <span class="sr-only">{name}</span></label></div>
          <div class="name"><a href="{href}">{name}</a></div>
          <div class="labels">{labels}</div>{badge}
        </li>"""

_CHIP = '<span class="label-chip"><span class="label-name">{}</span></span>'
_REMOVABLE_CHIP = (
    '<span class="label-chip"><span class="label-name">{label}</span><button type="button" class="chip-remove" '
    'hx-post="{url}" hx-target="#gallery" hx-swap="outerHTML" aria-label="Remove label {label} from {name}">×</button></span>'
)


@register.simple_tag
def gallery_cards(images, labeling_mode: bool) -> SafeString:
    """The <li> of each card of the page, in labeling mode with a checkbox and removable label chips."""
    return mark_safe("".join(_card(image, labeling_mode) for image in images))  # noqa: S308 - every value escaped


def _card(image, labeling_mode: bool) -> str:
    e = escape
    name = e(image.file_name)
    if image.thumbnail_url:
        thumb = f'<img src="{e(image.thumbnail_url)}" alt="{name}" loading="lazy">'
    else:
        reason = "No access" if image.no_access else "No preview" if image.error_code else "Thumbnail pending…"
        thumb = f'<span class="placeholder">{reason}</span>'
    if labeling_mode:
        labels = "".join(_REMOVABLE_CHIP.format(label=e(label), url=e(url), name=name) for label, url in image.chips)
    else:
        labels = "".join(_CHIP.format(e(label)) for label, _ in image.chips)
    if not image.chips and not image.is_labeled:
        labels = '<span class="unlabeled">Unlabeled</span>'
    if image.box_count:
        labels += f'<span class="box-count">{image.box_count} bounding box{"" if image.box_count == 1 else "es"}</span>'
    badge = (
        f'\n          <span class="badge" title="{e(image.error_message)}">Error: {e(image.error_code)}</span>'
        if image.error_code
        else ""
    )
    return (_LABELING_CARD if labeling_mode else _CARD).format(
        selected=" selected" if image.selected else "",
        id=int(image.id),
        href=e(image.href),
        thumb=thumb,
        name=name,
        labels=labels,
        badge=badge,
        checked="checked" if image.selected else "",
    )
