"""Which worker ran which task, from Celery's own task events (workers started with `-E`).

A TaskLedger listens on the broker's event exchange in a thread of the test process and records, for
every task of one name, the nodenames that received, started and finished it. No product code is
involved: the record comes from the workers as any monitoring tool (Flower, `celery events`) sees it.
"""

from __future__ import annotations

import ast
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

PROBE = "scaleout-ledger-probe"


@dataclass
class TaskRun:
    args: tuple
    received: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)


class TaskLedger:
    def __init__(self, app, task_name: str):
        self.app, self.task_name = app, task_name
        self._runs: dict[str, TaskRun] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._connection = None
        self._receiver = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 15) -> None:
        """Listen, and return once the broker delivers events to us (probed with one of our own)."""
        self._connection = self.app.connection_for_read()
        self._receiver = self.app.events.Receiver(self._connection, handlers={"*": self._on_event})
        self._thread = threading.Thread(
            target=self._receiver.capture, kwargs={"limit": None, "timeout": None, "wakeup": False}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        with self.app.connection_for_write() as connection:
            dispatcher = self.app.events.Dispatcher(connection, enabled=True)
            while not self._ready.wait(0.3):
                if time.monotonic() > deadline:
                    raise AssertionError(f"The test saw none of its own Celery events within {timeout:.0f} s.")
                dispatcher.send(PROBE)
            dispatcher.close()

    def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True
        if self._thread is not None:
            self._thread.join(5)
        if self._connection is not None:
            self._connection.release()

    def _on_event(self, event: dict) -> None:
        kind = event.get("type", "")
        if kind == PROBE:
            self._ready.set()
            return
        uuid, host = event.get("uuid"), event.get("hostname")
        with self._lock:
            if kind == "task-received" and event.get("name") == self.task_name:
                run = self._runs.setdefault(uuid, TaskRun(args=ast.literal_eval(event["args"])))
                run.received.append(host)
            elif kind == "task-started" and uuid in self._runs:
                self._runs[uuid].started.append(host)
            elif kind == "task-succeeded" and uuid in self._runs:
                self._runs[uuid].succeeded.append(host)

    def runs(self) -> list[TaskRun]:
        with self._lock:
            return [
                TaskRun(args=r.args, received=[*r.received], started=[*r.started], succeeded=[*r.succeeded])
                for r in self._runs.values()
            ]

    def succeeded_by_host(self) -> dict[str, list[tuple]]:
        """{nodename: [args of each task it finished]}."""
        out: dict[str, list[tuple]] = defaultdict(list)
        for run in self.runs():
            for host in run.succeeded:
                out[host].append(run.args)
        return dict(out)

    def unfinished_on(self, host: str) -> list[tuple]:
        """Args of the tasks `host` started and nobody has finished yet."""
        return [run.args for run in self.runs() if host in run.started and not run.succeeded]
