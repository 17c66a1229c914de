import pytest
from django.contrib import admin
from django.urls import reverse

from tests.factories import BoundingBoxFactory, ImageLabelFactory, ImportJobFactory

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


@pytest.fixture
def rows(console_bucket):
    """A row of every kind, so each changelist renders its columns."""
    label = ImageLabelFactory()
    BoundingBoxFactory(image=label.image, label=label.label)
    ImportJobFactory(dataset=label.image.dataset)


def test_the_admin_sends_users_who_are_not_staff_to_the_admin_sign_in(client_user):
    for url in [reverse("admin:index"), _changelist(REGISTERED[0][0])]:
        response = client_user.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"{reverse('admin:login')}?next="), url


@pytest.mark.parametrize("model, model_admin", REGISTERED, ids=[model._meta.label for model, _ in REGISTERED])
def test_staff_can_open_and_search_every_admin_changelist(admin_client, rows, model, model_admin):
    url = _changelist(model)

    assert admin_client.get(url).status_code == 200
    if model_admin.search_fields:
        assert admin_client.get(url, {"q": "label"}).status_code == 200
