"""The polls every watcher of an import sends every two seconds (the dataset's progress panel, the
project's datasets table) read counters and cached counts: none counts the dataset's images.

What the database read is taken from PostgreSQL's own counters of the test's transaction
(pg_stat_get_xact_numscans: sequential scans of the images table, scans of each of its indexes), not
from the text of the queries: a count written into a query but not run for a running import is no read.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from datasets.models import Dataset, Image, ImportJob
from tests.factories import DatasetFactory, ImportJobFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("console_bucket")]

IMAGES = 2_000


def image_scans() -> dict[str, int]:
    """{the images table or one of its indexes: scans of it so far in this transaction}."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_stat_get_xact_numscans(c.oid) FROM pg_class c WHERE c.oid = %s::regclass "
            "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = %s::regclass)",
            [Image._meta.db_table] * 2,
        )
        return dict(cursor.fetchall())


def scanned(before: dict[str, int]) -> dict[str, int]:
    """What of the images table was scanned since `before`, and how often."""
    return {name: n - before[name] for name, n in image_scans().items() if n != before[name]}


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
    """The poll's response and what it scanned of the images table."""
    before = image_scans()
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response, scanned(before)


def test_the_progress_poll_of_a_running_import_counts_no_image(client_user, importing):
    response, images_read = poll(client_user, reverse("datasets:progress", args=[importing.pk]) + "?phase=import")

    assert images_read == {}
    assert 'data-count="imported">2,000<' in response.content.decode()


def test_the_progress_poll_while_thumbnails_are_made_counts_only_the_pending_ones(client_user, importing):
    Dataset.objects.filter(pk=importing.pk).update(status=Dataset.Status.CREATE_COMPLETE)
    ImportJob.objects.filter(dataset=importing).update(status=ImportJob.Status.SUCCEEDED)
    half = list(Image.objects.filter(dataset=importing).values_list("pk", flat=True)[: IMAGES // 2])
    Image.objects.filter(pk__in=half).update(needs_thumbnail=False, thumbnail_key="thumbnails/x.jpg")
    url = reverse("datasets:progress", args=[importing.pk]) + "?phase=thumbnails"
    poll(client_user, url)  # the first poll of this version counts the job's images once

    response, images_read = poll(client_user, url)

    # Only the pending images, which the partial index holds (not all the job's rows, FILTER-ed).
    assert images_read == {"image_thumbnail_pending": 1}
    assert 'data-count="thumbnails">1,000<' in response.content.decode()


def test_the_project_page_poll_counts_no_image_once_the_counts_are_cached(client_user, project, importing):
    url = reverse("projects:detail", args=[project.pk])
    client_user.get(url)

    before = image_scans()
    response = client_user.get(url, headers={"HX-Request": "true", "HX-Target": "datasets"})

    assert response.status_code == 200
    assert scanned(before) == {}
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
