"""The import worker's S3 reads shared fairly between users: at most IMPORT_HEADER_THREADS at once in
a worker process and, while a user who has been served less lately (least attained service) is
reading too, at most IMPORT_READS_WHEN_SHARED for each user served more. So another user's
100-image import reads almost as if alone while a 20,000-image one goes on at a trickle, and two
large imports take turns.

Per process: each worker process (each host) shares its own reads; that is where one import's
threads would otherwise crowd out another's, on the CPU as at the S3 server."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.conf import settings

T = TypeVar("T")

# How quickly a user's past reads stop counting against them: a user idle for a minute is new again.
DECAY_SECONDS = 10.0
# A user counts as reading this long after their last read ended: the gap between one chunk's reads
# and the next, or between a listing page and the chunk it makes (a task's trip through the broker
# on a busy machine), is not an exit.
ACTIVE_SECONDS = 1.0
# The most a chunk's store waits for a lighter user's reads (store_turn).
STORE_WAIT_SECONDS = 2.0
# Waiters look again this often, for a lighter user who stopped reading without a read ending.
RECHECK_SECONDS = 0.05


class FairShare:
    """A counting semaphore of `slots` that holds heavier users to `shared` slots each while a
    lighter user reads; users are weighed by their decayed count of reads."""

    def __init__(self, slots: int, shared: int, *, decay_seconds: float = DECAY_SECONDS, clock=time.monotonic):
        self.free = max(1, slots)
        self.shared = max(1, shared)
        self.decay_seconds = decay_seconds
        self.clock = clock
        self._cond = threading.Condition()
        self._served: dict[int, tuple[float, float]] = {}  # user → (decayed count, when)
        self._reading: dict[int, int] = {}  # user → reads in progress or waiting
        self._last: dict[int, float] = {}  # user → when their last read ended
        self._held: dict[int, int] = {}  # user → slots held
        self._waiting: dict[int, int] = {}  # user → reads waiting for a slot

    def served(self, user_id: int) -> float:
        """The user's reads, each weighing less as it ages."""
        count, at = self._served.get(user_id, (0.0, 0.0))
        return count * math.exp(-(self.clock() - at) / self.decay_seconds)

    def _lighter_reading(self, user_id: int) -> bool:
        mine, now = self.served(user_id), self.clock()
        return any(
            other != user_id
            and self.served(other) < mine
            and (self._reading.get(other, 0) or now - self._last.get(other, -math.inf) < ACTIVE_SECONDS)
            for other in set(self._reading) | set(self._last)
        )

    @contextmanager
    def slot(self, user_id: int) -> Iterator[None]:
        """Hold one slot for one read made for `user_id`, waiting for one the user may take."""
        with self._cond:
            self._reading[user_id] = self._reading.get(user_id, 0) + 1
            self._waiting[user_id] = self._waiting.get(user_id, 0) + 1
            while not self._may_take(user_id):
                self._cond.wait(RECHECK_SECONDS)
            self._waiting[user_id] -= 1
            if not self._waiting[user_id]:
                del self._waiting[user_id]
            self.free -= 1
            self._held[user_id] = self._held.get(user_id, 0) + 1
        try:
            yield
        finally:
            with self._cond:
                self.free += 1
                self._held[user_id] -= 1
                if not self._held[user_id]:
                    del self._held[user_id]
                self._reading[user_id] -= 1
                if not self._reading[user_id]:
                    del self._reading[user_id]
                now = self.clock()
                self._served[user_id] = (self.served(user_id) + 1, now)
                self._last[user_id] = now
                self._forget_idle(now)
                self._cond.notify_all()

    def _may_take(self, user_id: int) -> bool:
        if self.free <= 0:
            return False
        mine = self.served(user_id)
        if any(other != user_id and self.served(other) < mine for other in self._waiting):
            return False  # a free slot goes to the lightest user waiting for one
        return self._held.get(user_id, 0) < self.shared or not self._lighter_reading(user_id)

    def touch(self, user_id: int) -> None:
        """The user starts a step of an import: they count as reading from now (for ACTIVE_SECONDS, or
        until their reads end), before their first read, so heavier users hold back while the step's
        database work runs too, not only once it reads."""
        with self._cond:
            self._last[user_id] = self.clock()

    def wait_for_lighter(self, user_id: int, *, at_most: float) -> None:
        """Before a heavy step that takes no slot (storing a chunk of 1,000 images): wait, at most
        `at_most` seconds, while a lighter user reads."""
        deadline = self.clock() + at_most
        with self._cond:
            while self._lighter_reading(user_id) and self.clock() < deadline:
                self._cond.wait(RECHECK_SECONDS)

    def pages(self, user_id: int, pages: Iterable[T], *, wait_at_most: float = 2.0) -> Iterator[T]:
        """A listing's pages, each fetched in a slot of `user_id` once no lighter user reads (or
        `wait_at_most` seconds have passed): a page of a large folder is the S3 server's heaviest
        request, and the small import's own listing and reads wait behind it there."""
        it = iter(pages)
        while True:
            self.wait_for_lighter(user_id, at_most=wait_at_most)
            with self.slot(user_id):
                page = next(it, _END)
            if page is _END:
                return
            yield page

    def _forget_idle(self, now: float) -> None:
        """Drop users long idle, so the tables stay as small as the active users."""
        if len(self._last) > 64:
            for user_id in [u for u, at in self._last.items() if now - at > 6 * self.decay_seconds]:
                if user_id not in self._reading:
                    self._last.pop(user_id, None)
                    self._served.pop(user_id, None)


_END = object()
_shares: dict[tuple[int, int], FairShare] = {}
_shares_lock = threading.Lock()


def store_turn(user_id: int) -> None:
    """Before a chunk stores its images (1,000 rows, its heaviest step after its reads): wait, at most
    STORE_WAIT_SECONDS, while a lighter user reads in this process."""
    reads().wait_for_lighter(user_id, at_most=STORE_WAIT_SECONDS)


def reads() -> FairShare:
    """This process's FairShare of S3 reads (IMPORT_HEADER_THREADS, IMPORT_READS_WHEN_SHARED)."""
    key = (settings.IMPORT_HEADER_THREADS, settings.IMPORT_READS_WHEN_SHARED)
    with _shares_lock:
        if key not in _shares:
            _shares[key] = FairShare(*key)
        return _shares[key]
