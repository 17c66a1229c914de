"""What the dataset operations share: queueing after commit and a consistent read."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connection, transaction

from ..models import Dataset

log = logging.getLogger(__name__)

ID_BATCH = 1000
EXPORT_BATCH = 2000
QUEUE_DOWN = "The task queue is unreachable, so the work could not start. Try again when it is back."


def send_after_commit(task, arg: int, *, on_error: Callable[[], None], queue: str | None = None) -> None:
    """Queue a task once the transaction commits; if the broker is down, `on_error` records it visibly."""

    def send():
        try:
            task.apply_async((arg,), queue=queue)
        except Exception:  # kombu raises several classes for an unreachable broker
            log.exception("Could not queue %s", task.name)
            on_error()

    transaction.on_commit(send)


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
