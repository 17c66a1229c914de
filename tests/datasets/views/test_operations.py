"""The pages of "Create test dataset", "Download manifest" and the import jobs list with its CSV report,
through Django's test client (with and without htmx), moto over HTTP and, where a task runs, the real worker."""

import csv
import io
from urllib.request import urlopen

import pytest
from django.urls import reverse

from datasets import operations
from datasets.formats import ground_truth
from datasets.models import Dataset, ImportJob, ImportReportItem, ManifestExport
from tests.factories import DatasetFactory, ImageFactory, ImportJobFactory

from ..dom import control_for, parse
from ..support import build_images, content, pets, wait_until

HTMX = {"HX-Request": "true"}


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- the dataset page's actions ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_training_dataset_offers_download_manifest_and_create_test_dataset_and_a_test_dataset_only_the_first(
    client_user, user, console_bucket
):
    train = DatasetFactory(project__owner=user)
    test = DatasetFactory(project=train.project, dataset_type=Dataset.Type.TEST)

    links = {
        a.text(): a.attrs["href"]
        for a in parse(html(client_user.get(reverse("datasets:detail", args=[train.pk])))).find_all("a")
    }
    assert links["Download manifest"] == reverse("datasets:manifest", args=[train.pk])
    assert links["Create test dataset"] == reverse("datasets:split", args=[train.pk])

    links = {
        a.text(): a.attrs["href"]
        for a in parse(html(client_user.get(reverse("datasets:detail", args=[test.pk])))).find_all("a")
    }
    assert "Download manifest" in links and "Create test dataset" not in links


# --- "Create test dataset" ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_split_page_explains_the_split_and_creates_the_test_dataset(client_user, user, console_bucket):
    train = DatasetFactory(project__owner=user, name="pets")
    pets(train)
    url = reverse("datasets:split", args=[train.pk])

    page = parse(html(client_user.get(url)))
    assert (
        "Split your training dataset. You can use 20% of your training dataset to create a test dataset." in page.text()
    )
    assert control_for(page, "Test dataset name").attrs["value"] == "pets-test"
    assert [b.text() for b in page.find_all("button")][-1] == "Create test dataset"

    response = client_user.post(url, {"name": "pets-test"})

    test = Dataset.objects.get(name="pets-test")
    assert response.status_code == 302 and response.url == reverse("datasets:detail", args=[test.pk])
    assert (test.dataset_type, test.status, test.project_id) == ("TEST", "CREATE_IN_PROGRESS", train.project_id)
    train.refresh_from_db()
    assert train.status == Dataset.Status.UPDATE_IN_PROGRESS
    assert test.import_jobs.get().source == ImportJob.Source.SPLIT


@pytest.mark.django_db
def test_a_refused_split_says_why_on_the_split_page_and_creates_nothing(client_user, user, console_bucket):
    train = DatasetFactory(project__owner=user, name="pets")
    build_images(train, [{"key": "a.jpg", "labels": ["cat"]}, {"key": "b.jpg", "labels": ["cat", "lynx"]}])
    url = reverse("datasets:split", args=[train.pk])

    response = client_user.post(url, {"name": "pets-test"})

    alert = parse(html(response)).by_id("split-refusal")
    assert alert.text().startswith(
        "ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE: The manifest file doesn't have enough labeled images "
        "to distribute the dataset."
    )
    assert "lynx" in alert.text()
    assert not Dataset.objects.filter(name="pets-test").exists()
    assert "ERROR_INSUFFICIENT_IMAGES_PER_LABEL_FOR_DISTRIBUTE" in html(client_user.get(url))


@pytest.mark.django_db
def test_a_test_dataset_has_no_create_test_dataset_button(client_user, user, console_bucket):
    test = DatasetFactory(project__owner=user, name="pets-test", dataset_type=Dataset.Type.TEST)
    page = parse(html(client_user.get(reverse("datasets:split", args=[test.pk]))))
    assert "Only a training dataset can be split" in page.by_id("split-refusal").text()
    assert "Create test dataset" not in [b.text() for b in page.find_all("button")]


@pytest.mark.django_db
def test_a_bad_or_taken_test_dataset_name_is_shown_at_the_field(client_user, user, console_bucket):
    train = DatasetFactory(project__owner=user, name="pets")
    pets(train)
    DatasetFactory(project=train.project, name="taken")
    url = reverse("datasets:split", args=[train.pk])

    for name, words in [("taken", "already exists"), ("pets test", "letters, digits"), ("", "required")]:
        page = parse(html(client_user.post(url, {"name": name})))
        field = control_for(page, "Test dataset name").parent
        assert any(words in p.text() for p in field.find_all("p", cls="error")), (name, field.text())
    assert not Dataset.objects.filter(dataset_type=Dataset.Type.TEST).exists()


# --- "Download manifest" ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_manifest_is_prepared_then_downloaded_from_a_presigned_link(client_user, user, s3, console_bucket):
    dataset = DatasetFactory(project__owner=user, name="pets")
    pets(dataset)
    url = reverse("datasets:manifest", args=[dataset.pk])
    page = parse(html(client_user.get(url)))
    assert "Prepare manifest" in [b.text() for b in page.find_all("button")]
    assert client_user.get(reverse("datasets:manifest_download", args=[dataset.pk])).url == url

    response = client_user.post(url)
    assert response.status_code == 302 and response.url == url
    export = ManifestExport.objects.get(dataset=dataset)
    state = parse(html(client_user.get(url, headers=HTMX))).by_id("export-state")
    assert state.attrs["hx-trigger"] == "every 2s" and "Queued" in state.text()

    operations.manifest_export_write(export_id=export.pk)  # the worker's step

    state = parse(html(client_user.get(url, headers=HTMX))).by_id("export-state")
    assert "hx-trigger" not in state.attrs
    assert "Succeeded — 50 images" in state.text()
    link = state.by_id("download-manifest")
    assert link.text() == "Download manifest"
    presigned = client_user.get(link.attrs["href"])
    assert presigned.status_code == 302
    with urlopen(presigned.url, timeout=10) as download:
        body = download.read()
        disposition = download.headers["Content-Disposition"]
    assert body == s3.get_object(Bucket=console_bucket.name, Key=ManifestExport.objects.get().key)["Body"].read()
    assert disposition.startswith("attachment; filename=") and disposition.endswith('-pets.manifest"')
    refs = {ground_truth.parse_line(line).source_ref for line in body.decode().splitlines()}
    assert refs == set(content(dataset))


@pytest.mark.django_db
def test_a_manifest_of_a_changed_dataset_can_be_prepared_again(client_user, user, s3, console_bucket):
    dataset = DatasetFactory(project__owner=user)
    pets(dataset)
    export = operations.manifest_export_start(dataset=dataset, user=user)
    operations.manifest_export_write(export_id=export.pk)
    url = reverse("datasets:manifest", args=[dataset.pk])
    assert "Prepare manifest" not in html(client_user.get(url))

    ImageFactory(dataset=dataset)
    Dataset.objects.filter(pk=dataset.pk).update(stats_version=export.stats_version + 1)

    page = parse(html(client_user.get(url)))
    assert "The dataset changed after this manifest was prepared." in page.text()
    assert page.by_id("download-manifest") is not None
    state = parse(html(client_user.post(url, headers=HTMX))).by_id("export-state")
    assert state.attrs["hx-trigger"] == "every 2s"
    assert ManifestExport.objects.filter(dataset=dataset).count() == 2


@pytest.mark.django_db
def test_a_dataset_being_imported_says_its_manifest_must_wait(client_user, user, console_bucket):
    dataset = DatasetFactory(project__owner=user, status=Dataset.Status.CREATE_IN_PROGRESS)
    url = reverse("datasets:manifest", args=[dataset.pk])
    assert "Prepare manifest" not in html(client_user.get(url))
    response = client_user.post(url, follow=True)
    assert "Wait until it finishes, then download its manifest." in html(response)
    assert not ManifestExport.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_prepares_the_manifest_while_the_page_polls(
    celery_worker_proc, client_user, user, s3, console_bucket
):
    dataset = DatasetFactory(project__owner=user, name="pets")
    pets(dataset)
    url = reverse("datasets:manifest", args=[dataset.pk])

    client_user.post(url, headers=HTMX)

    def ready():
        state = parse(html(client_user.get(url, headers=HTMX))).by_id("export-state")
        return state if state.by_id("download-manifest") else None

    state = wait_until(ready, timeout=60, what="the manifest to be prepared")
    assert "Succeeded — 50 images" in state.text()
    with urlopen(client_user.get(state.by_id("download-manifest").attrs["href"]).url, timeout=10) as download:
        assert len(download.read().decode().splitlines()) == 50


# --- import jobs and their reports ------------------------------------------------------------------


def report_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.django_db
def test_the_dataset_page_lists_its_import_jobs_newest_first_with_their_counts(client_user, user, console_bucket):
    dataset = DatasetFactory(project__owner=user, name="pets")
    s3_job = ImportJobFactory(dataset=dataset, found=4, skipped=1)
    ImageFactory.create_batch(3, dataset=dataset, import_job=s3_job)
    ImageFactory(dataset=dataset, import_job=s3_job, error_code="ERROR_INVALID_IMAGE", error_message="Too small.")
    copy_job = ImportJobFactory(
        dataset=dataset, source=ImportJob.Source.COPY, parameters={"source_dataset": 1, "source_name": "cats"}, found=2
    )
    ImageFactory.create_batch(2, dataset=dataset, import_job=copy_job)
    import_jobs = reverse("datasets:import_jobs", args=[dataset.pk])

    lazy = parse(html(client_user.get(reverse("datasets:detail", args=[dataset.pk])))).by_id("import-jobs")
    assert lazy.attrs["hx-get"] == import_jobs and lazy.attrs["hx-trigger"] == "load"
    assert lazy.find("a").attrs["href"] == import_jobs  # without JavaScript, a page of its own

    table = parse(html(client_user.get(import_jobs, headers=HTMX))).by_id("import-jobs").find("table")
    headers = [th.text() for th in table.find_all("th")]
    assert headers == [
        "Source",
        "Status",
        "Started",
        "Finished",
        "Found",
        "Imported",
        "Skipped",
        "With errors",
        "Report",
    ]
    rows = [[td.text() for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]
    assert rows[0][0] == "Copy an existing Amazon Rekognition Custom Labels dataset cats"
    assert rows[1][0].startswith("Import images from S3 bucket s3://source-bucket/images/")
    assert [row[4:9] for row in rows] == [
        ["2", "2", "0", "0", "Download report (CSV)"],
        ["4", "4", "1", "1", "Download report (CSV)"],
    ]
    assert [a.attrs["href"] for a in table.find_all("a")] == [
        reverse("datasets:import_report", args=[job.pk]) for job in (copy_job, s3_job)
    ]
    assert parse(html(client_user.get(import_jobs))).by_id("import-jobs") is not None


@pytest.mark.django_db
def test_the_report_lists_skipped_objects_then_images_with_errors_safe_for_spreadsheets(
    client_user, user, console_bucket
):
    dataset = DatasetFactory(project__owner=user)
    job = ImportJobFactory(dataset=dataset)
    ImportReportItem.objects.create(job=job, key="images/notes.txt", reason="Not a .jpg, .jpeg or .png file")
    ImportReportItem.objects.create(job=job, key="=HYPERLINK(1).txt", code="", reason="Not a .jpg, .jpeg or .png file")
    ImportReportItem.objects.create(job=job, key="line 7", code="ERROR_INVALID_JSON_LINE", reason="-1 + 2")
    ImageFactory(dataset=dataset, import_job=job)
    bad = ImageFactory(
        dataset=dataset,
        import_job=job,
        error_code="ERROR_INVALID_IMAGE",
        error_message="The image is invalid: truncated.",
    )

    rows = report_rows(client_user.get(reverse("datasets:import_report", args=[job.pk])))

    assert rows == [
        ["item", "code", "reason"],
        ["images/notes.txt", "", "Not a .jpg, .jpeg or .png file"],
        ["'=HYPERLINK(1).txt", "", "Not a .jpg, .jpeg or .png file"],
        ["line 7", "ERROR_INVALID_JSON_LINE", "'-1 + 2"],
        [bad.source_ref, "ERROR_INVALID_IMAGE", "The image is invalid: truncated."],
    ]


@pytest.mark.django_db
def test_another_users_import_report_is_not_found(client_user, client_other_user, user, console_bucket):
    job = ImportJobFactory(dataset=DatasetFactory(project__owner=user))
    url = reverse("datasets:import_report", args=[job.pk])
    assert client_other_user.get(url).status_code == 404
    assert client_user.get(url).status_code == 200
    assert client_other_user.get(reverse("datasets:import_jobs", args=[job.dataset_id])).status_code == 404


@pytest.mark.django_db
def test_the_import_jobs_name_a_manifests_file_break_s3_paths_between_folders_and_count_moved_images(
    client_user, user, console_bucket
):
    dataset = DatasetFactory(project__owner=user, name="pets")
    ImportJobFactory(dataset=dataset, found=30, moved_out=6, parameters={"bucket": "b", "prefix": "a/long-folder/"})
    ImportJobFactory(
        dataset=dataset,
        source=ImportJob.Source.MANIFEST,
        parameters={"bucket": "gt-bucket", "key": "jobs/out.manifest"},
    )
    page = html(client_user.get(reverse("datasets:import_jobs", args=[dataset.pk])))

    rows = parse(page).by_id("import-jobs").find("tbody").find_all("tr")
    sources = [row.find("code").text() for row in rows]
    assert sources == ["s3://gt-bucket/jobs/out.manifest", "s3://b/a/long-folder/"]
    assert "s3://<wbr>b/<wbr>a/<wbr>long-folder/<wbr>" in page  # wraps after a "/", never inside "long-folder"
    assert [row.find("div", cls="help").text() for row in rows[1].find_all("td")[5:6]] == [
        "6 moved to the test dataset"
    ]
