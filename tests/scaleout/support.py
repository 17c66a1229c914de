"""What the scale-out tests submit and check: a folder import through the console, and what the user
then sees (every image exactly once) beside which worker ran which chunk."""

from __future__ import annotations

import math

from django.urls import reverse

from customlabels import s3
from datasets.models import Dataset, Image, ImportJob
from tests.datasets.support import wait_until

LABELS = ("cat", "dog", "bird")


def key_of(i: int) -> str:
    return f"photos/{LABELS[i % len(LABELS)]}/img-{i:05d}.jpg"


def submit(client, project, bucket: str) -> Dataset:
    """Create dataset with the S3 folder photos/ and automatic labeling, as the form does."""
    form = {"name": "photos", "image_location": "s3", "s3_location": f"s3://{bucket}/photos/", "auto_label": "on"}
    response = client.post(reverse("datasets:create", args=[project.pk]), form)
    assert response.status_code == 302, response.content.decode()
    return Dataset.objects.get(project=project, name="photos")


def job_of(dataset: Dataset) -> ImportJob:
    return dataset.import_jobs.get()


def wait_complete(dataset: Dataset, *, timeout: float = 150) -> None:
    def complete():
        dataset.refresh_from_db()
        assert dataset.status != Dataset.Status.CREATE_FAILED, dataset.status_message
        return dataset.status == Dataset.Status.CREATE_COMPLETE

    wait_until(complete, timeout=timeout, what="the import to complete")


def wait_mid_import(dataset: Dataset, ledger, nodename: str) -> None:
    """Until every key is listed (all chunks queued) and the worker `nodename` is inside a chunk."""
    wait_until(
        lambda: job_of(dataset).listing_done and ledger.unfinished_on(nodename),
        timeout=60,
        what=f"the listing to finish and {nodename} to be inside a chunk",
    )


def assert_exactly_the_folder(dataset: Dataset, bucket: str, n: int) -> None:
    """The n images of the folder, each once, labeled by their folder, and the job done with every chunk."""
    refs = list(Image.objects.filter(dataset=dataset).values_list("source_ref", flat=True))
    assert len(refs) == n
    assert set(refs) == {f"s3://{bucket}/{key_of(i)}" for i in range(n)}
    per_label = {name: Image.objects.filter(dataset=dataset, labels__name=name).count() for name in LABELS}
    assert per_label == {name: len(range(k, n, len(LABELS))) for k, name in enumerate(LABELS)}
    assert not Image.objects.filter(dataset=dataset).exclude(error_code="").exists()
    job = job_of(dataset)
    chunks = math.ceil(n / s3.LIST_PAGE_SIZE)
    assert (job.status, job.found, job.chunks_done, job.chunks_total) == (ImportJob.Status.SUCCEEDED, n, chunks, chunks)


def chunks_finished(ledger, dataset: Dataset) -> dict[str, list[int]]:
    """{nodename: ids of the chunks it finished}, once every chunk of the dataset's import has been
    finished by some worker (the last chunk's event can arrive just after the dataset is complete)."""
    chunk_ids = set(job_of(dataset).chunks.values_list("id", flat=True))

    def all_in():
        by_host = {host: [args[0] for args in runs] for host, runs in ledger.succeeded_by_host().items()}
        return by_host if {c for ids in by_host.values() for c in ids} == chunk_ids else None

    return wait_until(all_in, timeout=15, what="a task event for every chunk")
