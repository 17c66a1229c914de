"""Check dataset: a worker reads a dataset's rows (and its project's other dataset's, for the
training/test checks), runs the pure rules of health_rules, and keeps the report with the images
each check is about; the report page and "Download summary" read it back.

health_check_start      the user's request: a report queued, or the kept one when nothing changed
health_report_run       the worker's job: hashes still missing, then the checks (idempotent)
project_pair            which of a project's datasets are the training and the test dataset
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from customlabels import s3_names
from customlabels.celery import send_after_commit
from projects.s3_access import UserS3

from . import rules, selectors
from .errors import DatasetError
from .health_rules import Check, Row, dataset_checks, pair_checks
from .health_similar import near_groups
from .health_summary import manifest_statistics, manifest_summary
from .models import BoundingBox, Dataset, HealthFinding, HealthReport, Image, ImageLabel, Label
from .operations.common import QUEUE_DOWN
from .operations.thumbnails import ImageUnusable, thumbnail_make

RUNNING = (HealthReport.Status.QUEUED, HealthReport.Status.IN_PROGRESS)
HASH_BATCH = 64
FINDINGS_BATCH = 5000
NEAR_ALL = "_near_all"  # the near groups before exact copies are left out, for the next check to build on
# A report remembers which images it saw without a hash, so the next check compares them once they
# have one; with more than this, the next check compares every image again instead.
UNHASHED_KEPT = 10_000


def project_pair(*, dataset: Dataset) -> tuple[Dataset | None, Dataset | None]:
    """(training dataset, test dataset) of the dataset's project, either None when it has none.

    The one place the check says which datasets train and test a project: the project's TRAIN and
    TEST datasets (Dataset.is_project_dataset, at most one of each, as the API and the project page
    set them).
    """
    pair = {d.dataset_type: d for d in Dataset.objects.filter(project_id=dataset.project_id, is_project_dataset=True)}
    return pair.get(Dataset.Type.TRAIN), pair.get(Dataset.Type.TEST)


def _other(dataset: Dataset) -> Dataset | None:
    train, test = project_pair(dataset=dataset)
    pair = {getattr(train, "pk", None), getattr(test, "pk", None)}
    if dataset.pk not in pair or None in pair:
        return None
    other = test if dataset.pk == train.pk else train
    return None if other.is_in_progress or other.never_created else other


def _basis(dataset: Dataset) -> dict:
    """What a report reads: every dataset's stats_version (a change to one makes the report old)."""
    other = _other(dataset)
    datasets = [dataset] if other is None else [dataset, other]
    return {str(d.pk): d.stats_version for d in datasets}


def health_report_current(*, report: HealthReport | None, dataset: Dataset) -> bool:
    """Whether the report still describes the dataset (and its project's other one) as they are now."""
    return (
        report is not None
        and report.status == HealthReport.Status.SUCCEEDED
        and report.unhashed == 0
        and report.basis.get("datasets") == _basis(dataset)
    )


@transaction.atomic
def health_check_start(*, dataset: Dataset, user) -> HealthReport:
    """Check the dataset: the kept report when neither it nor its project's other dataset changed
    since (and every image was hashed), the check already running, or a new report queued for a
    worker (after commit). Raises DatasetError while the dataset is being created or changed."""
    locked = Dataset.objects.select_for_update().select_related("project").get(pk=dataset.pk)
    if locked.project.owner_id != user.pk:
        raise DatasetError("Choose one of your datasets.")
    if locked.is_in_progress:
        raise DatasetError("The dataset is being created or updated. Wait until it finishes, then check it.")
    if locked.never_created:
        raise DatasetError("The dataset could not be created, so there is nothing to check.")
    latest = selectors.health_report_latest(dataset=locked)
    if health_report_current(report=latest, dataset=locked):
        return latest
    stalled_before = timezone.now() - timedelta(seconds=settings.IMPORT_STALL_SECONDS)
    if latest is not None and latest.status in RUNNING and latest.created_at >= stalled_before:
        return latest
    report = HealthReport.objects.create(dataset=locked, requested_by=user)
    send_after_commit(
        "datasets.tasks.health_report_task",
        report.pk,
        on_error=lambda: health_report_fail(report_id=report.pk, message=QUEUE_DOWN),
    )
    return report


def project_check_start(*, dataset: Dataset, user) -> list[HealthReport]:
    """Check the project's training and test datasets (each report holds the checks across both)."""
    train, test = project_pair(dataset=dataset)
    targets = [d for d in (train, test) if d is not None] or [dataset]
    return [health_check_start(dataset=d, user=user) for d in targets]


def health_report_fail(*, report_id: int, message: str) -> None:
    HealthReport.objects.filter(pk=report_id).exclude(status=HealthReport.Status.SUCCEEDED).update(
        status=HealthReport.Status.FAILED, message=message, finished_at=timezone.now()
    )


def images_phash_fill(*, dataset: Dataset) -> int:
    """Give a perceptual hash to the dataset's images that have a thumbnail from before hashes were
    made with it: each image is read as its owner may (projects.s3_access) and decoded as for its
    thumbnail. An image that can no longer be read or decoded stays without one. Returns how many
    it hashed. Raises S3Unreachable to be retried."""
    todo = list(
        Image.objects.filter(dataset=dataset, phash="", needs_thumbnail=False)
        .exclude(thumbnail_key="")
        .values_list("id", "source_ref")
    )
    if not todo:
        return 0
    reader = UserS3(dataset.project.owner_id, console=selectors.console_bucket_name())

    def hashed(item: tuple[int, str]) -> tuple[int, str]:
        pk, ref = item
        bucket, key = s3_names.split_uri(ref)
        try:
            data, size, _ = reader.read_range_sized(bucket, key, rules.MAX_IMAGE_BYTES + 1)
            return pk, thumbnail_make(data, size=size)[1]
        except (ImageUnusable, s3_names.S3AccessRefused, s3_names.S3ObjectNotFound, s3_names.S3AccessDenied):
            return pk, ""

    done = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for start in range(0, len(todo), HASH_BATCH):
            for pk, phash in pool.map(hashed, todo[start : start + HASH_BATCH]):
                if phash:
                    done += Image.objects.filter(pk=pk, phash="").update(phash=phash)
    return done


def dataset_rows(*, dataset_id: int) -> tuple[list[Row], list[str]]:
    """The dataset's images as the rules' rows in id order (the manifest's line order), and its label list.

    Three plain queries (images, image-level labels, boxes), each one pass over an index range.
    """
    label_names = dict(Label.objects.filter(dataset_id=dataset_id).values_list("id", "name"))
    image, image_label, box = (m._meta.db_table for m in (Image, ImageLabel, BoundingBox))
    labels: dict[int, list[str]] = defaultdict(list)
    boxes: dict[int, list[tuple]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT il.image_id, il.label_id FROM {image_label} il JOIN {image} i ON i.id = il.image_id "
            "WHERE i.dataset_id = %s",
            [dataset_id],
        )
        for image_id, label_id in cursor.fetchall():
            labels[image_id].append(label_names[label_id])
        cursor.execute(
            f'SELECT b.image_id, b.label_id, b."left", b.top, b.width, b.height FROM {box} b '
            f"JOIN {image} i ON i.id = b.image_id WHERE i.dataset_id = %s ORDER BY b.id",
            [dataset_id],
        )
        for image_id, label_id, *rest in cursor.fetchall():
            boxes[image_id].append((label_names[label_id], *rest))
        cursor.execute(
            "SELECT id, source_ref, width, height, format, size, etag, phash, "
            "CASE WHEN error_code LIKE 'WARNING%%' THEN '' ELSE error_code END "
            f"FROM {image} WHERE dataset_id = %s ORDER BY id",
            [dataset_id],
        )
        rows = [
            Row(*row, labels=tuple(labels.get(row[0], ())), boxes=tuple(boxes.get(row[0], ())))
            for row in cursor.fetchall()
        ]
    return rows, sorted(label_names.values())


def _near(dataset: Dataset, rows: list[Row]) -> tuple[list[list[int]], int]:
    """The near groups, built on the last report's when every image it saw was hashed (images are
    only added with higher ids and a hash never changes); and the highest image id seen."""
    upto = rows[-1].id if rows else 0
    items = [(row.id, row.phash) for row in rows if row.phash]
    previous = (
        HealthReport.objects.filter(dataset=dataset, status=HealthReport.Status.SUCCEEDED)
        .exclude(basis__upto=None)
        .order_by("-id")
        .first()
    )
    if previous is None or previous.basis.get("unhashed_ids") is None:
        return near_groups(items), upto
    grouped: dict[int, list[int]] = defaultdict(list)
    for group, image_id in previous.findings.filter(check_code=NEAR_ALL).values_list("group", "image_id"):
        grouped[group].append(image_id)
    known = list(grouped.values())
    upto_before, without = previous.basis["upto"], previous.basis["unhashed_ids"]
    return near_groups(items, known=known, known_upto=upto_before, known_without=without), upto


def health_report_run(*, report_id: int) -> HealthReport:
    """Run the report's checks and keep them: first the hashes its images lack, then every rule on
    the dataset's rows (and, for a project's training or test dataset, across both), then the
    report, its summary and its findings in one transaction. Idempotent: a finished report is
    returned as it is. Raises S3Unreachable (worth a retry) while hashing."""
    report = HealthReport.objects.select_related("dataset__project").get(pk=report_id)
    if report.is_finished:
        return report
    HealthReport.objects.filter(pk=report.pk).update(status=HealthReport.Status.IN_PROGRESS)
    started = time.perf_counter()
    dataset = report.dataset
    other = _other(dataset)
    images_phash_fill(dataset=dataset)
    basis = _basis(Dataset.objects.get(pk=dataset.pk))
    rows, label_list = dataset_rows(dataset_id=dataset.pk)
    near_all, upto = _near(dataset, rows)
    checks = dataset_checks(rows, label_list=label_list, near=near_all)
    statistics = manifest_statistics(rows)
    training = dataset.dataset_type != Dataset.Type.TEST
    overlap = None
    parts = {"training": statistics if training else None, "testing": None if training else statistics}
    if other is not None:
        other_rows, _ = dataset_rows(dataset_id=other.pk)
        project_checks = pair_checks(rows, other_rows, training=training)
        checks += project_checks
        overlap = project_checks[0]
        parts["testing" if training else "training"] = manifest_statistics(other_rows)
    summary = manifest_summary(training=parts["training"], testing=parts["testing"], overlap=overlap)
    unhashed_ids = [row.id for row in rows if not row.phash]
    kept = {"datasets": basis, "upto": upto}
    if len(unhashed_ids) <= UNHASHED_KEPT:
        kept["unhashed_ids"] = unhashed_ids
    _keep(report, checks, near_all, summary=summary, basis=kept, started=started)
    report.refresh_from_db()
    return report


@transaction.atomic
def _keep(report: HealthReport, checks: list[Check], near_all, *, summary, basis, started) -> None:
    findings = [
        HealthFinding(report_id=report.pk, check_code=check.code, image_id=pk)
        for check in checks
        if not check.groups
        for pk in check.image_ids
    ]
    findings += [
        HealthFinding(report_id=report.pk, check_code=check.code, image_id=pk, group=n)
        for check in checks
        for n, group in enumerate(check.groups, start=1)
        for pk in group
    ]
    findings += [
        HealthFinding(report_id=report.pk, check_code=NEAR_ALL, image_id=pk, group=n)
        for n, group in enumerate(near_all, start=1)
        for pk in group
    ]
    HealthFinding.objects.filter(report_id=report.pk).delete()
    HealthFinding.objects.bulk_create(findings, batch_size=FINDINGS_BATCH)
    HealthReport.objects.filter(pk=report.pk).update(
        status=HealthReport.Status.SUCCEEDED,
        checks=[check.as_json() for check in checks],
        summary=summary,
        basis=basis,
        # Images whose thumbnail (and so hash) is still to come: until they have one, the report is not final.
        unhashed=Image.objects.filter(dataset_id=report.dataset_id, needs_thumbnail=True, phash="").count(),
        seconds=round(time.perf_counter() - started, 3),
        message="",
        finished_at=timezone.now(),
    )


def health_summary_json(*, report: HealthReport) -> str:
    """The report's manifest summary as manifest_summary.json is written (§5.7)."""
    return json.dumps(report.summary, indent=4)


def health_overview(*, dataset: Dataset) -> list[dict]:
    """What a version keeps of the health check: the latest report's checks when it describes the
    dataset as it is, else nothing (the version page says the dataset was not checked)."""
    latest = selectors.health_report_latest(dataset=dataset)
    if not health_report_current(report=latest, dataset=dataset):
        return []
    return [{k: check[k] for k in ("code", "title", "level", "count")} for check in latest.checks]
