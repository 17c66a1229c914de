"""No user reaches another user's objects.

Every console URL that takes an object id is found by walking the URLconf, so a view added later
is checked without anyone remembering to add it here. Called with the ids of another user's
objects it must answer 404 (or 405 to a method it never accepts), with and without htmx, and
change nothing. The owner must get the same URL, so the check cannot pass by accident.

If a URL takes an id whose kind this file cannot tell, its test fails and says what to add.
"""

from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter

from datasets.models import BoundingBox, Dataset, DatasetExport, DatasetVersion, HealthReport, Image, ImportJob, Label
from projects.models import AccessKey, Project
from tests.factories import (
    BoundingBoxFactory,
    DatasetFactory,
    ImageFactory,
    ImageLabelFactory,
    ImportJobFactory,
    LabelFactory,
    ProjectFactory,
)

SKIPPED_ROUTES = ("admin/", "accounts/")

# The kind of object an id kwarg names: `<kind>_pk` or `<kind>_id` say it; a bare `pk` or `id`
# names the kind of the path segment before it (`labels/<int:pk>/` → label), else the kind of
# its namespace (`datasets:detail` → dataset).
KINDS = {
    "project": Project,
    "dataset": Dataset,
    "image": Image,
    "label": Label,
    "job": ImportJob,
    "import": ImportJob,
    "import-job": ImportJob,
    "box": BoundingBox,
    "access-key": AccessKey,
    "export": DatasetExport,
    "health": HealthReport,
    "version": DatasetVersion,
}
NAMESPACE_KINDS = {"projects": Project, "datasets": Dataset}

# Each kind's ids start in a range of their own, so an id read as the wrong kind finds nothing
# and the owner's check below fails instead of passing on a coincidence.
FIRST_IDS = {
    Project: 910_001,
    Dataset: 920_001,
    Image: 930_001,
    Label: 940_001,
    ImportJob: 950_001,
    BoundingBox: 960_001,
    AccessKey: 970_001,
    DatasetExport: 970_001,
    HealthReport: 970_001,
    DatasetVersion: 980_001,
}
OTHER_USER_OFFSET = 500

# What a careless view would act on: a confirmed delete, a rename, a new import.
POST_DATA = {"confirm": "delete", "name": "intruder", "label": "intruder", "s3_location": "s3://intruder/x/"}
HTMX = {"HX-Request": "true"}


@dataclass(frozen=True)
class IdRoute:
    route: str
    name: str
    namespace: str
    id_kwargs: tuple[str, ...]

    def __str__(self) -> str:
        return self.name or self.route


def _walk(patterns, prefix: str = "", namespace: str = "", converters: dict | None = None):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith(SKIPPED_ROUTES):
            continue
        found = {**(converters or {}), **getattr(pattern.pattern, "converters", {})}
        if isinstance(pattern, URLResolver):
            inner = ":".join(filter(None, [namespace, pattern.namespace]))
            yield from _walk(pattern.url_patterns, route, inner, found)
        elif isinstance(pattern, URLPattern):
            ids = tuple(kwarg for kwarg, converter in found.items() if isinstance(converter, IntConverter))
            if ids:
                name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name or ""
                yield IdRoute(route=route, name=name, namespace=namespace, id_kwargs=ids)


ROUTES = list(_walk(get_resolver().url_patterns))


def _kind_named(word: str):
    """The kind a word names, singular or plural: `label`, `labels`, `boxes`."""
    for candidate in (word, word.removesuffix("s"), word.removesuffix("es")):
        if candidate in KINDS:
            return KINDS[candidate]
    return None


def kind_of(route: IdRoute, kwarg: str):
    if kwarg in ("pk", "id"):
        segments = route.route.split("/")
        position = next(i for i, segment in enumerate(segments) if segment.endswith(f":{kwarg}>"))
        kind = _kind_named(segments[position - 1]) if position else None
        if kind is None:
            kind = NAMESPACE_KINDS.get(route.namespace)
    else:
        word = kwarg.removesuffix("_pk").removesuffix("_id")
        kind = KINDS.get(word) if word != kwarg else None
    if kind is None:
        pytest.fail(
            f"{route.route} ({route}) takes `{kwarg}`, and tests/test_isolation.py cannot tell which kind of object "
            "it names. Map it: add the kind to KINDS (and a row of it to `_objects`), or the namespace to "
            "NAMESPACE_KINDS."
        )
    return kind


def url_for(route: IdRoute, kwargs: dict) -> str:
    if not route.name:
        pytest.fail(f"{route.route} has no name: name it, so it is reversed by name and checked here.")
    return reverse(route.name, kwargs=kwargs)


def _objects(owner, offset: int) -> dict:
    """One linked row of every kind the URLs take, with ids from FIRST_IDS + offset."""

    def pk(model) -> int:
        return FIRST_IDS[model] + offset

    project = ProjectFactory(id=pk(Project), owner=owner)
    dataset = DatasetFactory(id=pk(Dataset), project=project)
    job = ImportJobFactory(id=pk(ImportJob), dataset=dataset)
    image = ImageFactory(id=pk(Image), dataset=dataset, import_job=job, is_labeled=True)
    label = LabelFactory(id=pk(Label), dataset=dataset)
    ImageLabelFactory(image=image, label=label)
    box = BoundingBoxFactory(id=pk(BoundingBox), image=image, label=label)
    key = AccessKey.objects.create(
        id=pk(AccessKey),
        user=owner,
        access_key_id=f"AKIATEST{pk(AccessKey):012d}",
        secret_encrypted="-",
        is_active=False,
    )
    export = DatasetExport.objects.create(id=pk(DatasetExport), dataset=dataset, requested_by=owner, format="COCO")
    report = HealthReport.objects.create(
        id=pk(HealthReport), dataset=dataset, requested_by=owner, status=HealthReport.Status.SUCCEEDED
    )
    version = DatasetVersion.objects.create(id=pk(DatasetVersion), dataset=dataset, name="v1", created_by=owner)
    return {
        Project: project,
        Dataset: dataset,
        ImportJob: job,
        Image: image,
        Label: label,
        BoundingBox: box,
        AccessKey: key,
        DatasetExport: export,
        HealthReport: report,
        DatasetVersion: version,
    }


def snapshot() -> dict:
    """Every row of the console's tables and of the users."""
    models = [
        *apps.get_app_config("projects").get_models(),
        *apps.get_app_config("datasets").get_models(),
        get_user_model(),
    ]
    return {model._meta.label: list(model._default_manager.order_by("pk").values()) for model in models}


def kwarg_sets(route: IdRoute, owner_objects: dict, own_objects: dict) -> list[dict]:
    """The first user's ids; with several ids, also each one of them among the second user's own."""
    owners = {kwarg: owner_objects[kind_of(route, kwarg)].pk for kwarg in route.id_kwargs}
    sets = [owners]
    if len(route.id_kwargs) > 1:
        own = {kwarg: own_objects[kind_of(route, kwarg)].pk for kwarg in route.id_kwargs}
        sets += [{**own, kwarg: owners[kwarg]} for kwarg in route.id_kwargs]
    return sets


@pytest.fixture
def objects(user, other_user, console_bucket):
    return {"owner": _objects(user, 0), "other": _objects(other_user, OTHER_USER_OFFSET)}


def test_the_walk_finds_the_console_urls_that_take_ids():
    names = {route.name for route in ROUTES}

    assert {"projects:detail", "projects:delete", "datasets:create", "datasets:detail"} <= names


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_another_users_ids_are_not_found_and_change_nothing(route, objects, client_user, client_other_user):
    before = snapshot()

    for kwargs in kwarg_sets(route, objects["owner"], objects["other"]):
        url = url_for(route, kwargs)
        statuses = {}
        for method, data in [("get", None), ("post", POST_DATA)]:
            for headers in [{}, HTMX]:
                response = getattr(client_other_user, method)(url, data, headers=headers)
                statuses[f"{method.upper()} {url}{' with HX-Request' if headers else ''}"] = response.status_code
        refused = {request: status for request, status in statuses.items() if status not in (404, 405)}
        assert not refused, f"Another user's ids must answer 404: {refused}"
        assert 404 in statuses.values(), f"{url} refused every method, so ownership was never checked: {statuses}"

    assert snapshot() == before, f"{route} changed the first user's data for another user"


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_the_owner_reaches_the_same_urls(route, objects, client_user):
    url = url_for(route, kwarg_sets(route, objects["owner"], objects["other"])[0])

    response = client_user.get(url)
    if response.status_code == 405:
        response = client_user.post(url, POST_DATA)

    assert response.status_code != 404, (
        f"{url} answers 404 to the owner of its objects: tests/test_isolation.py maps its ids "
        f"{ {kwarg: kind_of(route, kwarg).__name__ for kwarg in route.id_kwargs} } — if that is wrong, fix KINDS."
    )
