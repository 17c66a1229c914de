"""Passwords, AWS keys and presigned URLs never reach a log: the web process's (captured at DEBUG,
as with LOG_LEVEL=DEBUG) nor the real worker's log file, over a sign-in, an import and browsing."""

import logging

import pytest
from django.test import Client
from django.urls import reverse

from datasets.models import Dataset, Image
from tests.conftest import AWS_ENV
from tests.datasets.support import seed_alexa_devices, wait_until
from tests.factories import PASSWORD, ProjectFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SIGNATURE_MARKS = ("X-Amz-Signature", "X-Amz-Credential", "Signature=", "AWSAccessKeyId=")


def test_a_sign_in_an_import_and_browsing_log_no_password_key_or_presigned_url(
    celery_worker_proc, console_bucket, user, s3, make_bucket, caplog
):
    caplog.set_level(logging.DEBUG)
    bucket = make_bucket("source")
    seed_alexa_devices(s3, bucket)
    worker_log_start = celery_worker_proc.log_path.stat().st_size

    client = Client()
    client.post(reverse("login"), {"username": user.username, "password": "wrong-" + PASSWORD})
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    project = ProjectFactory(owner=user)
    form = {
        "name": "devices",
        "image_location": "s3",
        "s3_location": f"s3://{bucket}/alexa-devices/",
        "auto_label": "on",
    }
    client.post(reverse("datasets:create", args=[project.pk]), form)
    dataset = Dataset.objects.get(project=project)

    def imported():
        dataset.refresh_from_db()
        return (
            dataset.status == Dataset.Status.CREATE_COMPLETE
            and not dataset.images.filter(needs_thumbnail=True).exists()
        )

    wait_until(imported, timeout=60, what="the import and its thumbnails")
    gallery = client.get(reverse("datasets:detail", args=[dataset.pk])).content.decode()
    image = Image.objects.filter(dataset=dataset, error_code="").first()
    detail = client.get(reverse("datasets:image_detail", args=[image.pk])).content.decode()
    assert "X-Amz-Signature" in gallery and "X-Amz-Signature" in detail  # the pages do carry presigned URLs

    with celery_worker_proc.log_path.open(errors="replace") as log:
        log.seek(worker_log_start)
        worker_log = log.read()
    web_log = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    for where, text in (("web", web_log), ("worker", worker_log)):
        assert PASSWORD not in text, f"the password is in the {where} log"
        assert AWS_ENV["AWS_SECRET_ACCESS_KEY"] not in text, f"the AWS secret key is in the {where} log"
        for mark in SIGNATURE_MARKS:
            assert mark not in text, f"a presigned URL ({mark}) is in the {where} log"
    assert "Task datasets.tasks.import_chunk_task" in worker_log  # the worker's log was read, and has content
