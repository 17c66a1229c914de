"""The templates' `{% url %}` remembers its reversals: the same answers as Django's, under every script
prefix and URLconf, escaped as Django escapes them, and Django's errors for a name that does not reverse."""

import sys
import types

import pytest
from django.http import HttpResponse
from django.template import engines
from django.test import override_settings
from django.urls import NoReverseMatch, path, reverse, set_script_prefix

from customlabels.template_urls import RememberedURLNode


def render(source: str, **context) -> str:
    return engines["django"].from_string(source).render(context)


@pytest.fixture
def other_urlconf():
    module = types.ModuleType("template_urls_other_conf")
    module.urlpatterns = [
        path("elsewhere/<int:pk>/", lambda request, pk: HttpResponse(), name="detail"),
        path("files/<path:key>", lambda request, key: HttpResponse(), name="file"),
    ]
    sys.modules[module.__name__] = module
    yield module.__name__
    del sys.modules[module.__name__]


def test_the_url_tag_is_the_remembering_one_and_answers_as_django_does():
    template = engines["django"].from_string("{% url 'datasets:detail' pk %}")

    assert isinstance(template.template.nodelist[0], RememberedURLNode)
    assert [template.render({"pk": pk}) for pk in (7, 8, 7)] == [
        reverse("datasets:detail", args=[pk]) for pk in (7, 8, 7)
    ]


def test_a_script_prefix_reaches_a_url_reversed_before_it():
    plain = render("{% url 'datasets:detail' 5 %}")
    try:
        set_script_prefix("/console/")
        prefixed = render("{% url 'datasets:detail' 5 %}")
    finally:
        set_script_prefix("/")

    assert prefixed == "/console" + plain
    assert render("{% url 'datasets:detail' 5 %}") == plain


def test_another_urlconf_gets_its_own_urls(other_urlconf):
    with pytest.raises(NoReverseMatch):
        render("{% url 'detail' 3 %}")

    with override_settings(ROOT_URLCONF=other_urlconf):
        assert render("{% url 'detail' 3 %}") == "/elsewhere/3/"

    with pytest.raises(NoReverseMatch):
        render("{% url 'detail' 3 %}")


def test_the_other_forms_and_the_errors_are_djangos():
    url = reverse("datasets:detail", args=[4])

    assert render("{% url 'datasets:detail' pk=4 %}") == url
    assert render("{% url 'datasets:detail' 4 as link %}[{{ link }}]") == f"[{url}]"
    assert render("{% url 'no-such-view' 4 as link %}[{{ link }}]") == "[]"
    with pytest.raises(NoReverseMatch):
        render("{% url 'no-such-view' 4 %}")


def test_a_url_is_escaped_unless_autoescape_is_off(other_urlconf):
    with override_settings(ROOT_URLCONF=other_urlconf):
        escaped = render("{% url 'file' key %}", key="a&b<c")
        raw = render("{% autoescape off %}{% url 'file' key %}{% endautoescape %}", key="a&b<c")

    assert (escaped, raw) == ("/files/a&amp;b%3Cc", "/files/a&b%3Cc")
