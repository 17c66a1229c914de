import logging
import os
import sys
from collections.abc import Callable

from celery import Celery, signals
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "customlabels.settings")

app = Celery("customlabels")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger(__name__)


@signals.worker_init.connect
def _switch_interval(**kwargs) -> None:
    """The interpreter's thread switch interval for the worker (settings.WORKER_SWITCH_INTERVAL),
    set before the pool starts so prefork children inherit it."""
    from django.conf import settings

    sys.setswitchinterval(settings.WORKER_SWITCH_INTERVAL)


@signals.worker_init.connect
def _spare_cpu_session(**kwargs) -> None:
    """A worker started on spare CPU (the thumbnails worker) yields to other sessions too, before
    its pool's children are forked (customlabels.cpu_priority)."""
    from .cpu_priority import spare_cpu_session

    if spare_cpu_session():
        log.info("On spare CPU: this worker's session group has the lowest CPU weight")


def send_after_commit(task_name: str, *args, on_error: Callable[[], None] | None = None):
    """Queue the task named `task_name` once the current transaction commits, so a worker never
    looks for rows that are not there yet. If the broker is unreachable, `on_error` records that
    where the user sees it; without one the error propagates.

    By name, so the modules that queue work need not import the tasks that call them back.
    """

    def send():
        try:
            app.signature(task_name, args=args).apply_async()
        except Exception:  # kombu raises several classes for an unreachable broker
            log.exception("Could not queue %s", task_name)
            if on_error is None:
                raise
            on_error()

    transaction.on_commit(send)
