"""UpdateDatasetEntries: Ground Truth lines sent in the API request, upserted by source-ref.

The request reads every line as a manifest import reads a file (ground_truth_file.ManifestValidator,
the same S3 access rule for every source-ref) and refuses the whole change, leaving the dataset as it
was, when a line can't be read or a file rule breaks. Otherwise, in one transaction, the dataset
becomes UPDATE_IN_PROGRESS and its import job (source ENTRIES) is stored with the entries as chunks;
on the pipeline of jobs.py a worker then reads each chunk's image headers and, per entry, inserts the
image or replaces an existing image's labels, boxes and problems (entries_chunk), and completes the
dataset UPDATE_COMPLETE (entries_finish_if_done). New labels join the dataset's label list.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from customlabels import s3_names
from customlabels.text import counted, was_were
from projects import s3_access
from projects.s3_access import UserS3

from .. import rules, services
from ..errors import DatasetError
from ..formats import ground_truth, ground_truth_file
from ..models import BoundingBox, Dataset, Image, ImageLabel, ImportChunk, ImportJob
from . import fair_share, jobs
from .headers import headers_read
from .manifest import CHUNK_SIZE, MESSAGE_INVALID_IMAGE
from .manifest_entries import image_of, item_of

# Image fields an entry sets again on an image the dataset holds (its thumbnail stays: same source-ref).
UPDATED_FIELDS = ["format", "width", "height", "size", "etag", "problems", "error_code", "error_message", "is_labeled"]


def entries_read(*, data: bytes, reader: UserS3) -> tuple[list[dict], str]:
    """The entries of the lines in `data` as chunk items, and their bucket. Raises DatasetError naming
    the first line that can't be read (not JSON, no source-ref, a repeated source-ref, ...) or the
    file rule that breaks; s3_names.S3AccessRefused for a source-ref the user may not read."""
    validator = ground_truth_file.ManifestValidator(size_bytes=len(data))
    items = []
    for line_no, raw in enumerate(data.splitlines(), start=1):
        result = validator.feed(raw.decode("utf-8", "surrogateescape"))
        if validator.error is not None:
            break
        if isinstance(result, ground_truth.Dropped):
            raise DatasetError(f"Line {line_no} of GroundTruth can't be used: {result.message} ({result.reason_code})")
        if isinstance(result, ground_truth.ManifestEntry):
            item = item_of(line_no, result)
            bucket, key = s3_names.split_uri(item["ref"])
            if not reader.allows(bucket, key):
                raise s3_names.S3AccessRefused(f"{s3_access.refused_message(bucket, key)} It is on line {line_no}.")
            items.append(item)
    verdict = validator.finish()
    if verdict.error is not None:
        raise DatasetError(f"{verdict.error.message} ({verdict.error.code})")
    return items, verdict.bucket


@transaction.atomic
def dataset_entries_update(*, dataset: Dataset, user, data: bytes) -> ImportJob:
    """Check the lines (entries_read), then mark the dataset UPDATE_IN_PROGRESS and store its import
    job with the entries, a worker upserting them after commit. Atomic: a refusal changes nothing.
    Raises DatasetError (also while the dataset is being created or updated, or would hold more than
    IMAGES_PER_DATASET images) or s3_names.S3AccessRefused."""
    items, bucket = entries_read(data=data, reader=UserS3(user.pk))
    dataset = services.dataset_update_begin(
        dataset=dataset, message=f"Updating {counted(len(items), 'entry', 'entries')} (UpdateDatasetEntries)."
    )
    refs = [item["ref"] for item in items]
    present = 0
    for start in range(0, len(refs), CHUNK_SIZE):
        present += Image.objects.filter(dataset=dataset, source_ref__in=refs[start : start + CHUNK_SIZE]).count()
    if Image.objects.filter(dataset=dataset).count() + len(items) - present > settings.IMAGES_PER_DATASET:
        raise DatasetError(rules.too_many_images_message(settings.IMAGES_PER_DATASET))
    job = jobs.job_start(dataset=dataset, source=ImportJob.Source.ENTRIES, parameters={"image_bucket": bucket})
    chunks = [items[start : start + CHUNK_SIZE] for start in range(0, len(items), CHUNK_SIZE)]
    ImportChunk.objects.bulk_create([ImportChunk(job=job, seq=n, items=c) for n, c in enumerate(chunks, start=1)])
    ImportJob.objects.filter(pk=job.pk).update(
        found=len(items), already_present=present, new_images=len(items) - present, chunks_total=len(chunks)
    )
    return job


def entries_start(*, job_id: int) -> bool:
    """The job's first step in a worker: its entries are stored, so queue its chunks. Idempotent;
    returns whether this call finished the job (it has no chunk left)."""
    job = ImportJob.objects.get(pk=job_id)
    if job.is_finished or job.listing_done:
        return False
    jobs.job_started(job=job)
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(listing_done=True, heartbeat_at=timezone.now())
        jobs.chunks_queue(job_id=job.pk)
    return entries_finish_if_done(job_id=job.pk)


def entries_chunk(*, chunk_id: int) -> list[int]:
    """Read a chunk's image headers and upsert its entries by source-ref in one transaction: a new
    image is inserted; an image the dataset holds gets the entry's header fields, problems, labels and
    boxes in place of its own. Idempotent: a done chunk is skipped. Returns the ids of the images it
    inserted that need a thumbnail. Raises S3Unreachable to be retried."""
    chunk = jobs.chunk_pending(chunk_id=chunk_id)
    if chunk is None:
        return []
    job = chunk.job
    reader = jobs.job_s3(job=job)
    headers = headers_read(
        reader,
        job.parameters["image_bucket"],
        chunk.items,
        sized=False,
        s3_error=lambda e: f"{MESSAGE_INVALID_IMAGE} {e}",
    )
    images = {item["ref"]: (item, *image_of(item, header)) for item, header in zip(chunk.items, headers, strict=True)}
    fair_share.store_turn(reader.user_id)
    with transaction.atomic():
        locked = ImportChunk.objects.select_for_update().get(pk=chunk.pk)
        if locked.done:
            return []
        dataset_id = job.dataset_id
        names = sorted({n for item, _, boxes in images.values() for n in [*item["labels"], *(b[0] for b in boxes)]})
        label_ids = jobs.labels_ensure(dataset_id=dataset_id, names=names)
        existing = dict(
            Image.objects.filter(dataset_id=dataset_id, source_ref__in=list(images)).values_list("source_ref", "id")
        )
        ImageLabel.objects.filter(image_id__in=list(existing.values())).delete()
        BoundingBox.objects.filter(image_id__in=list(existing.values())).delete()
        Image.objects.bulk_update(
            [Image(pk=pk, **{name: images[ref][1][name] for name in UPDATED_FIELDS}) for ref, pk in existing.items()],
            UPDATED_FIELDS,
            batch_size=500,
        )
        Image.objects.bulk_create(
            [
                Image(
                    dataset_id=dataset_id,
                    source_ref=ref,
                    file_name=rules.file_name_of(item["key"])[:1024],
                    import_job=job,
                    **fields,
                )
                for ref, (item, fields, _) in images.items()
                if ref not in existing
            ],
            batch_size=500,
        )
        created = list(
            Image.objects.filter(dataset_id=dataset_id, import_job=job, source_ref__in=list(images))
            .exclude(pk__in=list(existing.values()))
            .values_list("id", "source_ref", "needs_thumbnail")
        )
        ids = {**existing, **{ref: pk for pk, ref, _ in created}}
        ImageLabel.objects.bulk_create(
            [
                ImageLabel(image_id=ids[ref], label_id=label_ids[n])
                for ref, (item, _, _) in images.items()
                for n in item["labels"]
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
        BoundingBox.objects.bulk_create(
            [
                BoundingBox(image_id=ids[ref], label_id=label_ids[n], left=left, top=top, width=w, height=h)
                for ref, (_, _, boxes) in images.items()
                for n, left, top, w, h in boxes
            ],
            batch_size=1000,
        )
        # Counts carried over would miss what the replaced entries lost: with any, they are recounted.
        jobs.chunk_done(chunk=locked, job=job, image_ids=[pk for pk, _, _ in created], carry=not existing)
    return [pk for pk, _, needs_thumbnail in created if needs_thumbnail]


def entries_finish_if_done(*, job_id: int) -> bool:
    """Once every chunk is done, complete the job and its dataset (UPDATE_COMPLETE). Idempotent;
    returns whether this call completed it."""
    with transaction.atomic():
        job = jobs.job_finishable(job_id=job_id)
        if job is None:
            return False
        updated = job.found - job.new_images
        jobs.job_succeed(
            job=job,
            message=f"{counted(job.new_images, 'entry', 'entries')} added, {updated:,} updated.",
            created="The dataset was successfully created.",
            added=f"{counted(job.found, 'entry', 'entries')} {was_were(job.found)} added or updated.",
        )
    return True
