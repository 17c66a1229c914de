import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from datasets.models import Dataset
from projects.models import ConsoleBucket, Project
from projects.views import PROJECTS_PER_PAGE
from tests.factories import PASSWORD, DatasetFactory, ProjectFactory

HTMX = {"HX-Request": "true"}
SETUP_URL = reverse("projects:first_time_setup")


class _TableParser(HTMLParser):
    """The text of each cell of each body row of the page's table."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_body = self._in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append([])
        elif self._in_body and tag == "td":
            self._in_cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag == "td":
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.rows[-1][-1] += data.strip()


def table_rows(response) -> list[list[str]]:
    parser = _TableParser()
    parser.feed(response.content.decode())
    return parser.rows


def field_errors(response, field_id: str) -> list[str]:
    """The error messages shown inside the form field whose input has this id."""
    html = response.content.decode()
    for block in re.findall(r'<div class="field[^"]*">(.*?)</div>', html, re.S):
        if f'id="{field_id}"' in block:
            return re.findall(r'<p class="error" role="alert">(.*?)</p>', block, re.S)
    raise AssertionError(f"No field with an input of id {field_id} on the page")


def console_pages(project) -> list[str]:
    return [
        reverse("projects:list"),
        reverse("projects:create"),
        reverse("projects:detail", kwargs={"pk": project.pk}),
        reverse("projects:delete", kwargs={"pk": project.pk}),
    ]


# --- Sign in, sign out ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url_name, kwargs",
    [
        ("projects:list", {}),
        ("projects:first_time_setup", {}),
        ("projects:create", {}),
        ("projects:detail", {"pk": 1}),
        ("projects:delete", {"pk": 1}),
    ],
)
def test_console_pages_send_anonymous_visitors_to_sign_in(client, db, url_name, kwargs):
    url = reverse(url_name, kwargs=kwargs)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_signing_in_opens_the_projects_page(client, user, console_bucket):
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("projects:list")


@pytest.mark.parametrize(
    ("username", "password", "field", "error"),
    [
        ("ali\x00ce", PASSWORD, "id_username", "Null characters are not allowed."),
        ("alice", "pass\x00word", "id_password", "Null characters are not allowed."),
    ],
    ids=["NUL in the user name", "NUL in the password"],
)
def test_signing_in_with_a_nul_byte_says_why_at_the_field_and_keeps_the_form(
    client, user, console_bucket, username, password, field, error
):
    response = client.post("/accounts/login/", {"username": username, "password": password})

    assert response.status_code == 200
    assert error in field_errors(response, field)
    assert 'id="id_password"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_signing_in_with_a_wrong_password_says_so(client, user, console_bucket):
    response = client.post("/accounts/login/", {"username": user.username, "password": "wrong"})

    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.content.decode()


def test_signing_out_ends_the_session(client_user, console_bucket):
    assert b"Sign out" in client_user.get(reverse("projects:list")).content

    response = client_user.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client_user.get(reverse("projects:list"))["Location"].startswith("/accounts/login/")


# --- First Time Set Up ----------------------------------------------------------------------


def test_every_console_page_leads_to_first_time_set_up_until_the_console_bucket_exists(client_user, user):
    project = ProjectFactory(owner=user)

    for url in console_pages(project):
        response = client_user.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == SETUP_URL, url


def test_htmx_requests_are_sent_to_first_time_set_up_with_hx_redirect(client_user, user):
    project = ProjectFactory(owner=user)

    for url in console_pages(project):
        response = client_user.get(url, headers=HTMX)
        assert response.status_code == 200, url
        assert response["HX-Redirect"] == SETUP_URL, url


def test_forms_posted_before_the_console_bucket_exists_change_nothing(client_user, user):
    project = ProjectFactory(owner=user)

    client_user.post(reverse("projects:create"), {"name": "too-early"})
    client_user.post(reverse("projects:delete", kwargs={"pk": project.pk}), {"confirm": "delete"})

    assert list(Project.objects.values_list("name", flat=True)) == [project.name]


def test_first_time_set_up_shows_the_bucket_name_it_will_create(client_user):
    response = client_user.get(SETUP_URL)

    bucket = ConsoleBucket.objects.get()
    assert response.status_code == 200
    assert re.fullmatch(r"custom-labels-console-us-east-1-\d{10}", bucket.name)
    assert f'value="{bucket.name}"' in response.content.decode()
    assert b"Create S3 bucket" in response.content


def test_create_s3_bucket_creates_the_console_bucket_and_opens_projects(client_user, s3):
    response = client_user.post(SETUP_URL, follow=True)

    bucket = ConsoleBucket.objects.get()
    assert response.redirect_chain == [(reverse("projects:list"), 302)]
    assert f"The console bucket {bucket.name} was created." in response.content.decode()
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [bucket.name]


def test_first_time_set_up_says_plainly_when_s3_cannot_be_reached(client_user, unreachable_s3):
    response = client_user.post(SETUP_URL)

    assert response.status_code == 200
    assert (
        "The console bucket could not be created: S3 could not be reached. "
        "Check that the S3 endpoint is running and try again."
    ) in response.content.decode()
    assert client_user.get(reverse("projects:list"))["Location"] == SETUP_URL


def test_first_time_set_up_leads_to_projects_once_the_bucket_exists(client_user, console_bucket):
    response = client_user.get(SETUP_URL)

    assert response.status_code == 302
    assert response["Location"] == reverse("projects:list")


# --- Projects list --------------------------------------------------------------------------


def test_projects_are_listed_newest_first_with_their_dataset_count(client_user, user, console_bucket):
    now = timezone.now()
    made_first_but_newest = ProjectFactory(owner=user, name="newest")
    oldest = ProjectFactory(owner=user, name="oldest")
    middle = ProjectFactory(owner=user, name="middle")
    for project, age in [(made_first_but_newest, 0), (middle, 1), (oldest, 2)]:
        Project.objects.filter(pk=project.pk).update(created_at=now - timedelta(days=age))
    DatasetFactory(project=middle, dataset_type=Dataset.Type.TRAIN)
    DatasetFactory(project=middle, dataset_type=Dataset.Type.TEST)
    DatasetFactory(project=oldest)

    rows = table_rows(client_user.get(reverse("projects:list")))

    assert [(row[0], row[2]) for row in rows] == [("newest", "0"), ("middle", "2"), ("oldest", "1")]


def test_projects_list_shows_only_the_users_own_projects(client_user, user, other_user, console_bucket):
    ProjectFactory(owner=user, name="mine")
    ProjectFactory(owner=other_user, name="theirs")

    rows = table_rows(client_user.get(reverse("projects:list")))

    assert [row[0] for row in rows] == ["mine"]


def test_projects_list_without_projects_invites_to_create_one(client_user, console_bucket):
    response = client_user.get(reverse("projects:list"))

    assert b"No projects" in response.content
    assert f'href="{reverse("projects:create")}"'.encode() in response.content


def test_projects_list_is_paginated(client_user, user, console_bucket):
    for _ in range(PROJECTS_PER_PAGE + 1):
        ProjectFactory(owner=user)
    oldest = Project.objects.order_by("created_at", "id").first()

    first = client_user.get(reverse("projects:list"))
    second = client_user.get(reverse("projects:list"), {"page": 2})

    assert len(table_rows(first)) == PROJECTS_PER_PAGE
    assert b"Page 1 of 2" in first.content
    assert b'href="?page=2" rel="next"' in first.content
    assert [row[0] for row in table_rows(second)] == [oldest.name]
    assert b"Page 2 of 2" in second.content


# --- Create project -------------------------------------------------------------------------


def test_create_project_opens_the_project_page_with_a_success_message(client_user, user, console_bucket):
    response = client_user.post(reverse("projects:create"), {"name": "my_project.v-1"}, follow=True)

    project = Project.objects.get(owner=user)
    assert response.redirect_chain == [(reverse("projects:detail", kwargs={"pk": project.pk}), 302)]
    assert "Project my_project.v-1 was created." in response.content.decode()


@pytest.mark.parametrize(
    "name, error",
    [
        (
            "my project",
            "Use 1–255 characters: letters, digits, underscores (_), periods (.) and hyphens (-). No spaces.",
        ),
        ("", "This field is required."),
        ("x" * 256, "Ensure this value has at most 255 characters (it has 256)."),
    ],
    ids=["space", "empty", "256 chars"],
)
def test_create_project_shows_a_broken_name_rule_at_the_name_field(client_user, console_bucket, name, error):
    response = client_user.post(reverse("projects:create"), {"name": name})

    assert response.status_code == 200
    assert error in field_errors(response, "id_name")
    assert not Project.objects.exists()


def test_create_project_posted_as_json_says_the_name_is_required_and_creates_nothing(client_user, console_bucket):
    response = client_user.post(reverse("projects:create"), {"name": "from-json"}, content_type="application/json")

    assert response.status_code == 200
    assert field_errors(response, "id_name") == ["This field is required."]
    assert not Project.objects.exists()


def test_delete_project_posted_as_json_says_what_to_type_and_deletes_nothing(client_user, user, console_bucket):
    project = ProjectFactory(owner=user)

    response = client_user.post(
        reverse("projects:delete", args=[project.pk]), {"confirm": "delete"}, content_type="application/json"
    )

    assert response.status_code == 200
    assert field_errors(response, "id_confirm") == ["This field is required."]
    assert Project.objects.filter(pk=project.pk).exists()


def test_create_project_shows_a_duplicate_name_at_the_name_field(client_user, user, console_bucket):
    ProjectFactory(owner=user, name="taken")

    response = client_user.post(reverse("projects:create"), {"name": "taken"})

    assert field_errors(response, "id_name") == ["A project named “taken” already exists."]
    assert Project.objects.count() == 1


def test_a_name_another_user_has_taken_is_free(client_user, user, other_user, console_bucket):
    ProjectFactory(owner=other_user, name="taken")

    response = client_user.post(reverse("projects:create"), {"name": "taken"})

    assert response.status_code == 302
    assert Project.objects.filter(owner=user, name="taken").exists()


# --- Project page ---------------------------------------------------------------------------


def test_project_page_shows_the_project_arn(client_user, user, console_bucket):
    project = ProjectFactory(owner=user, name="my_project.v-1")

    response = client_user.get(reverse("projects:detail", kwargs={"pk": project.pk}))

    arns = re.findall(r"arn:aws:rekognition:us-east-1:\d{12}:project/my_project\.v-1/\d+", response.content.decode())
    assert arns == [project.arn]


def test_project_page_lists_its_datasets_with_status_and_image_count(client_user, user, console_bucket):
    project = ProjectFactory(owner=user)
    dataset = DatasetFactory(project=project, name="train-set")

    rows = table_rows(client_user.get(reverse("projects:detail", kwargs={"pk": project.pk})))

    assert [[row[0], *row[2:4]] for row in rows] == [["train-set", dataset.status, "0"]]
    assert rows[0][1].startswith("Training dataset")  # the project's first dataset is its training dataset


def test_another_users_project_page_is_not_found(client_user, other_user, console_bucket):
    project = ProjectFactory(owner=other_user)

    assert client_user.get(reverse("projects:detail", kwargs={"pk": project.pk})).status_code == 404


# --- Delete project -------------------------------------------------------------------------


def test_delete_project_page_names_the_datasets_deleted_with_it(client_user, user, console_bucket):
    project = ProjectFactory(owner=user, name="doomed")
    DatasetFactory(project=project, dataset_type=Dataset.Type.TRAIN)
    DatasetFactory(project=project, dataset_type=Dataset.Type.TEST)

    response = client_user.get(reverse("projects:delete", kwargs={"pk": project.pk}))

    content = response.content.decode()
    assert "Delete the project <strong>doomed</strong>?" in content
    assert "Its 2 datasets and their images, labels and bounding boxes are deleted with it." in content


@pytest.mark.parametrize(
    "confirm, error",
    [("", "This field is required."), ("Delete", "Type delete to confirm."), ("yes", "Type delete to confirm.")],
)
def test_delete_project_needs_the_word_delete(client_user, user, console_bucket, confirm, error):
    project = ProjectFactory(owner=user)

    response = client_user.post(reverse("projects:delete", kwargs={"pk": project.pk}), {"confirm": confirm})

    assert response.status_code == 200
    assert field_errors(response, "id_confirm") == [error]
    assert Project.objects.filter(pk=project.pk).exists()


def test_typing_delete_deletes_the_project_and_its_datasets(client_user, user, console_bucket):
    project = ProjectFactory(owner=user, name="doomed")
    DatasetFactory(project=project)

    response = client_user.post(
        reverse("projects:delete", kwargs={"pk": project.pk}), {"confirm": "delete"}, follow=True
    )

    assert response.redirect_chain == [(reverse("projects:list"), 302)]
    assert "Project doomed was deleted." in response.content.decode()
    assert table_rows(response) == []
    assert not Project.objects.exists()
    assert not Dataset.objects.exists()


def test_delete_project_explains_why_it_waits_for_a_dataset_in_progress(client_user, user, console_bucket):
    project = ProjectFactory(owner=user)
    DatasetFactory(project=project, status=Dataset.Status.CREATE_IN_PROGRESS)

    response = client_user.post(reverse("projects:delete", kwargs={"pk": project.pk}), {"confirm": "delete"})

    assert response.status_code == 200
    assert b"This project has a dataset that is being created or updated. Wait until it finishes." in response.content
    assert Project.objects.filter(pk=project.pk).exists()
