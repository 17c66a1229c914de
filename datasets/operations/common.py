"""What the dataset operations share: batch sizes, the queue-down message and a consistent read."""

from __future__ import annotations

from django.db import connection

from ..models import Dataset

ID_BATCH = 1000
EXPORT_BATCH = 2000
QUEUE_DOWN = "The task queue is unreachable, so the work could not start. Try again when it is back."


def lock_for_reading(dataset_id: int) -> bool:
    """Hold the dataset row FOR SHARE until commit; False if it is gone.

    Every change to a dataset's images, labels or boxes updates its row (dataset_changed), so
    while we hold this no change commits and our statements all read the same content.
    """
    if connection.vendor != "postgresql":  # SQLite runs one writer at a time and reads a snapshot
        return Dataset.objects.filter(pk=dataset_id).exists()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {Dataset._meta.db_table} WHERE id = %s FOR SHARE", [dataset_id])
        return cursor.fetchone() is not None
