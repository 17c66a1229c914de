"""The dataset page after an import, and a dataset whose creation failed, through Django's test client:
a finished import is a one-line summary; a failed dataset offers only what can succeed, and the
views behind the other actions refuse it with a reason."""

import pytest
from django.urls import reverse

from datasets.models import Dataset, Image, ImportJob, ImportReportItem, ManifestExport
from tests.factories import DatasetFactory, ImageFactory, ImportJobFactory, LabelFactory

from ..dom import parse
from ..support import HTML, failed_dataset, png_bytes, post_files

pytestmark = pytest.mark.django_db

NOT_CREATED_UPLOAD = (
    "The dataset could not be created, so images can't be added to it. Retry the import or delete the dataset."
)
NOT_CREATED_MANIFEST = (
    "The dataset could not be created, so it has no manifest. Retry the import or delete the dataset."
)


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.fixture
def imported(user, console_bucket):
    """A dataset whose S3 import finished: 3 images found and imported, 1 object skipped."""
    dataset = DatasetFactory(project__owner=user, name="devices")
    job = ImportJobFactory(dataset=dataset, found=3, skipped=1, message="3 imported, 1 skipped (not images).")
    ImportReportItem.objects.create(job=job, key="devices/notes.txt", reason="Not a .jpg, .jpeg or .png file")
    for i in range(3):
        ImageFactory(dataset=dataset, import_job=job, thumbnail_key=f"users/{user.pk}/thumbnails/{i}.jpg")
    return dataset, job


@pytest.fixture
def failed(user, console_bucket):
    """A dataset whose creation failed: S3 stopped during its import, which can be retried."""
    dataset = failed_dataset(owner=user)
    ImageFactory(dataset=dataset, file_name="first.png")
    LabelFactory(dataset=dataset, name="echo")
    return dataset


# --- a finished import ------------------------------------------------------------------------


def test_a_finished_import_is_one_summary_line_with_a_link_to_the_import_jobs(client_user, imported):
    dataset, _ = imported

    page = parse(html(client_user.get(reverse("datasets:detail", args=[dataset.pk]))))

    summary = page.by_id("import-progress")
    assert summary.tag == "section" and "panel" not in summary.classes
    assert "hx-trigger" not in summary.attrs
    line = summary.find("p").text()
    assert line.startswith("Last import : Succeeded — 3 imported, 1 skipped (not images).")
    assert "3 found, 3 imported, 1 skipped, 0 with errors, 3 thumbnails" in line
    link = summary.find("a")
    assert link.text() == "View import jobs"
    assert link.attrs["href"] == reverse("datasets:import_jobs", args=[dataset.pk])
    skipped = summary.find("details")
    assert skipped.find("summary").text() == "Skipped objects (1)"
    assert "devices/notes.txt" in skipped.text()


def test_the_summary_says_how_many_images_of_the_import_moved_to_the_test_dataset(client_user, imported):
    dataset, job = imported
    ImportJob.objects.filter(pk=job.pk).update(moved_out=1)

    page = parse(html(client_user.get(reverse("datasets:detail", args=[dataset.pk]))))

    assert "1 moved to the test dataset" in page.by_id("import-progress").find("p").text()


def test_the_gallery_comes_before_the_import_jobs_on_the_dataset_page(client_user, imported):
    dataset, _ = imported

    text = html(client_user.get(reverse("datasets:detail", args=[dataset.pk])))

    assert text.index('id="import-progress"') < text.index('id="gallery"') < text.index('id="import-jobs"')


# --- a dataset whose creation failed ---------------------------------------------------------


def test_a_failed_dataset_offers_retry_import_and_delete_dataset_only(client_user, failed):
    page = parse(html(client_user.get(reverse("datasets:detail", args=[failed.pk]))))

    actions = [node.text() for node in page.find(cls="header-actions").find_all("a")]
    assert actions == ["Delete dataset"]
    retry = page.find("form", cls="retry-import")
    assert retry.attrs["action"] == reverse("datasets:import_retry", args=[failed.pk])
    assert retry.find("button").text() == "Retry import"
    assert page.by_id("add-images-dialog") is None
    texts = page.text()
    for offer in ("+ Add images", "Add images from S3", "Download manifest", "Export dataset", "Create test dataset"):
        assert offer not in texts


def test_a_dataset_whose_update_failed_still_offers_its_actions(client_user, failed):
    Dataset.objects.filter(pk=failed.pk).update(status=Dataset.Status.UPDATE_FAILED)

    page = parse(html(client_user.get(reverse("datasets:detail", args=[failed.pk]))))

    actions = [node.text() for node in page.find(cls="header-actions").find_all("a")]
    assert actions == [
        "+ Add images",
        "Add images from S3",
        "Download manifest",
        "Export dataset",
        "Create test dataset",
        "Delete dataset",
    ]


def test_uploading_to_a_failed_dataset_is_refused_with_a_reason(client_user, failed):
    response = post_files(client_user, failed, [("cat.png", png_bytes(200, 100))])

    assert response.status_code == 400
    assert response.json()["message"] == NOT_CREATED_UPLOAD

    response = post_files(client_user, failed, [("cat.png", png_bytes(200, 100))], headers=HTML, follow=True)

    assert response.redirect_chain[-1][0] == reverse("datasets:detail", args=[failed.pk])
    assert parse(html(response)).by_id("messages").text() == NOT_CREATED_UPLOAD
    assert list(Image.objects.filter(dataset=failed).values_list("file_name", flat=True)) == ["first.png"]
    failed.refresh_from_db()
    assert failed.status == Dataset.Status.CREATE_FAILED
    assert not ImportJob.objects.filter(dataset=failed, source=ImportJob.Source.UPLOAD).exists()


def test_preparing_the_manifest_of_a_failed_dataset_is_refused_with_a_reason(client_user, failed):
    url = reverse("datasets:manifest", args=[failed.pk])

    page = parse(html(client_user.get(url)))
    assert NOT_CREATED_MANIFEST in page.by_id("export-state").text()
    assert "Prepare manifest" not in page.text()

    response = client_user.post(url, headers={"HX-Request": "true"})
    assert NOT_CREATED_MANIFEST in html(response)
    response = client_user.post(url, follow=True)
    assert NOT_CREATED_MANIFEST in html(response)
    assert not ManifestExport.objects.exists()


def test_splitting_a_failed_dataset_is_refused_with_a_reason(client_user, failed):
    url = reverse("datasets:split", args=[failed.pk])

    response = client_user.post(url, {"name": "broken-test"})

    assert parse(html(response)).by_id("split-refusal").text() == (
        "The dataset could not be created, so it can't be split."
    )
    assert not Dataset.objects.filter(name="broken-test").exists()


def test_adding_images_from_s3_to_a_failed_dataset_is_refused_with_a_reason(client_user, failed, s3, make_bucket):
    bucket = make_bucket()
    s3.put_object(Bucket=bucket, Key="more/a.png", Body=png_bytes(100, 100))

    response = client_user.post(
        reverse("datasets:add_images", args=[failed.pk]), {"s3_location": f"s3://{bucket}/more/"}
    )

    assert NOT_CREATED_UPLOAD in parse(html(response)).text()
    failed.refresh_from_db()
    assert failed.status == Dataset.Status.CREATE_FAILED
    assert failed.import_jobs.count() == 1


def test_the_status_message_code_shows_apart_from_the_sentence(client_user, failed):
    page = parse(html(client_user.get(reverse("datasets:detail", args=[failed.pk]))))

    assert page.by_id("status-message").text() == "S3 could not be reached."
    assert page.by_id("status-message-code").text() == "SERVICE_ERROR"
