"""The polls every watcher of an import sends every two seconds (the dataset's progress panel, the
project's datasets table) read counters and cached counts: none counts the dataset's images."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from datasets.models import Dataset, Image, ImportJob
from tests.factories import DatasetFactory, ImportJobFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("console_bucket")]

IMAGES = 2_000


def image_counts(queries) -> list[str]:
    """The COUNTs over the images table (or joined to it) among the queries."""
    sqls = [query["sql"] for query in queries]
    return [sql for sql in sqls if "COUNT(" in sql.upper() and '"datasets_image"' in sql]


def images(dataset: Dataset, job: ImportJob, **fields) -> None:
    Image.objects.bulk_create(
        Image(dataset=dataset, import_job=job, source_ref=f"s3://b/{n}.png", file_name=f"{n}.png", **fields)
        for n in range(IMAGES)
    )


@pytest.fixture
def importing(project):
    """A dataset whose import has inserted 2,000 images and runs on."""
    dataset = DatasetFactory(project=project, status=Dataset.Status.CREATE_IN_PROGRESS, status_message_code="")
    job = ImportJobFactory(
        dataset=dataset, status=ImportJob.Status.IN_PROGRESS, found=3_000, inserted=IMAGES, chunks_total=3
    )
    images(dataset, job, needs_thumbnail=True)
    return dataset


def poll(client, url: str):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response, queries


def test_the_progress_poll_of_a_running_import_counts_no_image(client_user, importing):
    response, queries = poll(client_user, reverse("datasets:progress", args=[importing.pk]) + "?phase=import")

    assert image_counts(queries) == []
    assert 'data-count="imported">2,000<' in response.content.decode()


def test_the_progress_poll_while_thumbnails_are_made_counts_only_the_pending_ones(client_user, importing):
    Dataset.objects.filter(pk=importing.pk).update(status=Dataset.Status.CREATE_COMPLETE)
    ImportJob.objects.filter(dataset=importing).update(status=ImportJob.Status.SUCCEEDED)
    half = list(Image.objects.filter(dataset=importing).values_list("pk", flat=True)[: IMAGES // 2])
    Image.objects.filter(pk__in=half).update(needs_thumbnail=False, thumbnail_key="thumbnails/x.jpg")
    url = reverse("datasets:progress", args=[importing.pk]) + "?phase=thumbnails"
    poll(client_user, url)  # the first poll of this version counts the job's images once

    response, queries = poll(client_user, url)

    assert image_counts(queries)  # the pending images, which the partial index holds
    # Rows chosen by needs_thumbnail (not counted FILTER-ed out of all the job's rows).
    assert all('"needs_thumbnail"' in sql.split('FROM "datasets_image"', 1)[1] for sql in image_counts(queries))
    assert 'data-count="thumbnails">1,000<' in response.content.decode()


def test_the_project_page_poll_counts_no_image_once_the_counts_are_cached(client_user, project, importing):
    url = reverse("projects:detail", args=[project.pk])
    client_user.get(url)

    with CaptureQueriesContext(connection) as queries:
        response = client_user.get(url, headers={"HX-Request": "true", "HX-Target": "datasets"})

    assert response.status_code == 200
    assert image_counts(queries) == []
    assert f"<td>{IMAGES}</td>" in response.content.decode()


def test_a_finished_import_summary_counts_its_images_errors_and_thumbnails(client_user, importing):
    """The summary's three counts, each now asked of its own index: images with an error and those
    whose thumbnail failed never get one; another import's images into the same dataset are not counted."""
    Dataset.objects.filter(pk=importing.pk).update(status=Dataset.Status.CREATE_COMPLETE)
    ImportJob.objects.filter(dataset=importing).update(status=ImportJob.Status.SUCCEEDED)
    ids = list(Image.objects.filter(dataset=importing).order_by("pk").values_list("pk", flat=True))
    Image.objects.filter(pk__in=ids[:1_500]).update(needs_thumbnail=False, thumbnail_key="thumbnails/x.jpg")
    Image.objects.filter(pk__in=ids[1_500:1_530]).update(needs_thumbnail=False, error_code="ERROR_INVALID_IMAGE")
    Image.objects.filter(pk__in=ids[1_530:1_540]).update(needs_thumbnail=False)  # their thumbnails failed
    earlier = ImportJobFactory(dataset=importing, status=ImportJob.Status.SUCCEEDED)
    ImportJob.objects.filter(pk=earlier.pk).update(created_at=timezone.now() - timedelta(days=1))
    Image.objects.bulk_create(
        Image(
            dataset=importing, import_job=earlier, source_ref=f"s3://b/e{n}.png", file_name=f"e{n}.png", error_code="X"
        )
        for n in range(7)
    )

    response, _ = poll(client_user, reverse("datasets:progress", args=[importing.pk]) + "?phase=thumbnails")

    html = response.content.decode()
    assert 'data-count="imported">2,000<' in html
    assert 'data-count="errors">30<' in html
    # 2,000 less the 40 that never get one and the 460 still pending.
    assert 'data-count="thumbnails">1,500<' in html
