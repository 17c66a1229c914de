"""CSRF on every POST, and presigned URLs: short-lived, and only for images the user may see."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter

from tests.datasets.dom import parse
from tests.test_isolation import SKIPPED_ROUTES, IdRoute, _objects, kind_of, url_for

pytestmark = pytest.mark.django_db


def _every_route(patterns, prefix: str = "", namespace: str = ""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if not route.startswith(SKIPPED_ROUTES):
                yield from _every_route(
                    pattern.url_patterns, route, ":".join(filter(None, [namespace, pattern.namespace]))
                )
        elif isinstance(pattern, URLPattern) and pattern.name and not route.startswith("admin/"):
            converters = getattr(pattern.pattern, "converters", {})
            ids = tuple(k for k, c in converters.items() if isinstance(c, IntConverter))
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            yield IdRoute(route=route, name=name, namespace=namespace, id_kwargs=ids)


ROUTES = list(_every_route(get_resolver().url_patterns))


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_a_post_without_the_csrf_token_is_refused(route, user, console_bucket):
    objects = _objects(user, 0)
    url = url_for(route, {kwarg: objects[kind_of(route, kwarg)].pk for kwarg in route.id_kwargs})
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(url, {"name": "x", "confirm": "delete"}, headers={"HX-Request": "true"})

    assert response.status_code in (403, 405), f"{url} accepted a POST without a CSRF token"


def test_the_walk_covers_the_labeling_and_box_endpoints():
    names = {route.name for route in ROUTES}
    assert {"datasets:assign", "datasets:undo", "datasets:box_change", "projects:create"} <= names


def test_presigned_urls_last_minutes_and_only_reach_the_users_own_images(
    client_user, client_other_user, user, console_bucket
):
    objects = _objects(user, 0)
    image = objects[kind_of(IdRoute("images/<int:pk>/", "datasets:image_detail", "datasets", ("pk",)), "pk")]
    image.thumbnail_key = f"users/{user.pk}/thumbnails/{image.dataset_id}/{image.pk}.jpg"
    image.save()

    detail = parse(client_user.get(f"/datasets/images/{image.pk}/").content.decode())
    gallery = parse(client_user.get(f"/datasets/{image.dataset_id}/").content.decode())
    urls = [
        img.attrs["src"]
        for img in detail.find_all("img") + gallery.find_all("img")
        if "X-Amz-" in img.attrs.get("src", "")
    ]
    assert len(urls) >= 2
    for url in urls:
        query = parse_qs(urlsplit(url).query)
        assert 60 <= int(query["X-Amz-Expires"][0]) <= 900, url

    assert client_other_user.get(f"/datasets/images/{image.pk}/").status_code == 404
    other_gallery = client_other_user.get(f"/datasets/{image.dataset_id}/")
    assert other_gallery.status_code == 404
    assert "X-Amz-" not in other_gallery.content.decode()
