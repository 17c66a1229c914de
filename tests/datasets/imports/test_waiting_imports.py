"""A user runs at most IMPORTS_PER_USER imports at once; a further one waits, is shown waiting, and
starts when one of theirs ends, or when the stalled-import check finds its slot free.

The steps run in this process (the tasks they queue are never sent: the test's transaction never
commits), with the limit lowered to one.
"""

from datetime import timedelta

import pytest
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from customlabels.s3 import parse_location
from datasets.imports import jobs, recovery, s3_folder
from datasets.models import Dataset, ImportJob
from tests.factories import DatasetFactory, ProjectFactory

from ..dom import parse
from ..support import ALEXA_IMAGES

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("console_bucket")]

WAITING_TEXT = "Waiting for your other imports to finish"


@pytest.fixture(autouse=True)
def one_import_per_user():
    with override_settings(IMPORTS_PER_USER=1):
        yield


def create(project, bucket: str, name: str) -> ImportJob:
    location = parse_location(f"s3://{bucket}/alexa-devices/")
    dataset = s3_folder.dataset_create_from_s3(project=project, name=name, location=location, auto_label=True)
    return dataset.import_jobs.get()


def run_to_the_end(job: ImportJob) -> None:
    s3_folder.import_list(job_id=job.pk)
    while chunk := job.chunks.filter(queued=True, done=False).order_by("seq").first():
        s3_folder.import_chunk(chunk_id=chunk.pk)
    assert s3_folder.import_finish_if_done(job_id=job.pk) is True


def status(job: ImportJob) -> str:
    job.refresh_from_db()
    return job.status


def test_a_second_import_of_the_same_user_waits_and_starts_when_the_first_finishes(project, source_bucket):
    first = create(project, source_bucket, "first")
    second = create(project, source_bucket, "second")
    assert (first.status, second.status) == (ImportJob.Status.QUEUED, ImportJob.Status.WAITING)
    assert second.dataset.status == Dataset.Status.CREATE_IN_PROGRESS

    run_to_the_end(first)

    assert status(second) == ImportJob.Status.QUEUED
    assert second.heartbeat_at is not None  # the stall check counts from its start, not its creation
    run_to_the_end(second)
    second.dataset.refresh_from_db()
    assert second.dataset.status == Dataset.Status.CREATE_COMPLETE
    assert second.dataset.images.count() == len(ALEXA_IMAGES)


def test_a_waiting_import_starts_when_the_running_one_fails(project, source_bucket):
    first = create(project, source_bucket, "first")
    second = create(project, source_bucket, "second")

    jobs.job_fail(job_id=first.pk, message="S3 could not be reached.")

    assert status(second) == ImportJob.Status.QUEUED


def test_waiting_imports_start_in_the_order_they_were_made(project, source_bucket):
    first = create(project, source_bucket, "first")
    second, third = create(project, source_bucket, "second"), create(project, source_bucket, "third")

    jobs.job_fail(job_id=first.pk, message="Stopped.")

    assert (status(second), status(third)) == (ImportJob.Status.QUEUED, ImportJob.Status.WAITING)


def test_another_users_import_does_not_wait(project, source_bucket, other_user):
    create(project, source_bucket, "first")

    theirs = create(ProjectFactory(owner=other_user), source_bucket, "theirs")

    assert theirs.status == ImportJob.Status.QUEUED


def test_the_stalled_import_check_starts_a_waiting_import_whose_slot_is_free(project, source_bucket):
    first = create(project, source_bucket, "first")
    second = create(project, source_bucket, "second")
    # The first ended through a path that started nothing, or its worker died for good.
    ImportJob.objects.filter(pk=first.pk).update(status=ImportJob.Status.SUCCEEDED)

    recovery.imports_resume()

    assert status(second) == ImportJob.Status.QUEUED


def test_a_waiting_import_is_never_failed_as_stalled(project, source_bucket):
    create(project, source_bucket, "first")
    second = create(project, source_bucket, "second")
    ImportJob.objects.filter(pk=second.pk).update(created_at=timezone.now() - timedelta(days=1))

    assert second.pk not in recovery.imports_stalled_fail()
    assert status(second) == ImportJob.Status.WAITING


def test_the_progress_panel_and_the_import_jobs_list_show_a_waiting_import(client_user, project, source_bucket):
    create(project, source_bucket, "first")
    second = create(project, source_bucket, "second")

    panel = parse(client_user.get(reverse("datasets:progress", args=[second.dataset_id])).content.decode())
    listing = parse(client_user.get(reverse("datasets:import_jobs", args=[second.dataset_id])).content.decode())

    assert WAITING_TEXT in panel.text()
    assert WAITING_TEXT in listing.text()


def test_watching_a_waiting_import_whose_slot_is_free_starts_it(client_user, project, source_bucket):
    first = create(project, source_bucket, "first")
    second = create(project, source_bucket, "second")
    ImportJob.objects.filter(pk=first.pk).update(status=ImportJob.Status.FAILED)

    panel = parse(client_user.get(reverse("datasets:progress", args=[second.dataset_id])).content.decode())

    assert status(second) == ImportJob.Status.QUEUED
    assert WAITING_TEXT not in panel.text()


def test_an_upload_holds_no_slot(project, source_bucket):
    DatasetFactory(project=project).import_jobs.create(source=ImportJob.Source.UPLOAD, status="IN_PROGRESS")

    assert create(project, source_bucket, "first").status == ImportJob.Status.QUEUED
