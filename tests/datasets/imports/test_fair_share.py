"""The worker's S3 reads shared between users (datasets/imports/fair_share.py), with real threads:
a user who has read less goes first and, while they read, a heavier user is held to a few slots."""

import threading
import time

import pytest

from datasets.imports.fair_share import ACTIVE_SECONDS, FairShare

ALICE, BOB = 1, 2


def served(share: FairShare, user: int, reads: int) -> None:
    for _ in range(reads):
        with share.slot(user):
            pass


class Holder:
    """A thread that takes a slot for `user`, keeps it until released, and records when it got it."""

    def __init__(self, share: FairShare, user: int, order: list | None = None):
        self.user, self.order = user, order
        self.got, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, args=(share,), daemon=True)
        self.thread.start()

    def _run(self, share):
        with share.slot(self.user):
            if self.order is not None:
                self.order.append(self.user)
            self.got.set()
            self.release.wait(10)

    def done(self):
        self.release.set()
        self.thread.join(10)


def test_alone_a_user_takes_every_slot():
    share = FairShare(4, 1)
    served(share, ALICE, 50)
    holders = [Holder(share, ALICE) for _ in range(4)]
    assert all(h.got.wait(2) for h in holders)
    for h in holders:
        h.done()


def test_a_lighter_users_waiting_read_goes_before_a_heavier_users():
    share = FairShare(1, 1)
    served(share, ALICE, 100)
    order: list[int] = []
    first = Holder(share, ALICE)
    assert first.got.wait(2)
    alice_waits = Holder(share, ALICE, order)
    time.sleep(0.1)  # alice asked first
    bob_waits = Holder(share, BOB, order)
    time.sleep(0.1)
    first.done()
    assert bob_waits.got.wait(2)
    assert order == [BOB]
    bob_waits.done()
    assert alice_waits.got.wait(2)
    assert order == [BOB, ALICE]
    alice_waits.done()


def test_while_a_lighter_user_reads_a_heavier_one_is_held_to_its_shared_slots_then_freed():
    share = FairShare(8, 2)
    served(share, ALICE, 100)
    bob = Holder(share, BOB)
    assert bob.got.wait(2)
    alice = [Holder(share, ALICE) for _ in range(5)]
    time.sleep(0.3)
    assert sum(h.got.is_set() for h in alice) == 2
    bob.done()  # bob stops reading: after ACTIVE_SECONDS alice has every free slot again
    deadline = time.monotonic() + ACTIVE_SECONDS + 2
    while sum(h.got.is_set() for h in alice) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sum(h.got.is_set() for h in alice) == 5
    for h in alice:
        h.done()


def test_a_users_weight_decays_so_an_old_import_does_not_count_forever():
    now = [0.0]
    share = FairShare(2, 1, decay_seconds=10, clock=lambda: now[0])
    served(share, ALICE, 100)
    assert share.served(ALICE) == pytest.approx(100)
    now[0] = 60.0
    assert share.served(ALICE) < 1


def test_storing_waits_for_a_lighter_users_reads_at_most_as_long_as_asked():
    share = FairShare(4, 1)
    served(share, ALICE, 100)
    t0 = time.monotonic()
    share.wait_for_lighter(ALICE, at_most=5)
    assert time.monotonic() - t0 < 0.1  # nobody lighter is reading
    bob = Holder(share, BOB)
    assert bob.got.wait(2)
    t0 = time.monotonic()
    share.wait_for_lighter(ALICE, at_most=0.5)
    assert 0.45 <= time.monotonic() - t0 < 2
    threading.Timer(0.2, bob.done).start()
    t0 = time.monotonic()
    share.wait_for_lighter(ALICE, at_most=5)
    assert time.monotonic() - t0 < 0.2 + ACTIVE_SECONDS + 0.5
    share.wait_for_lighter(BOB, at_most=5)  # alice is heavier: bob never waits for her


def test_a_listings_pages_come_in_order_each_fetched_in_a_slot():
    share = FairShare(1, 1)
    seen = []

    def pages():
        for n in range(3):
            seen.append(share.free)  # the slot is taken while the page is fetched
            yield [n]

    assert list(share.pages(ALICE, pages())) == [[0], [1], [2]]
    assert seen == [0, 0, 0] and share.free == 1


def test_a_user_starting_an_import_step_holds_a_heavier_one_back_before_reading_then_lets_go():
    now = [0.0]
    share = FairShare(8, 2, clock=lambda: now[0])
    served(share, ALICE, 100)
    share.touch(BOB)  # bob's step has begun (its database work), no read yet
    alice = [Holder(share, ALICE) for _ in range(4)]
    time.sleep(0.3)
    assert sum(h.got.is_set() for h in alice) == 2
    share.wait_for_lighter(BOB, at_most=5)  # bob never waits for the heavier alice
    now[0] = ACTIVE_SECONDS + 0.01  # bob's step began long enough ago and he read nothing
    deadline = time.monotonic() + 2
    while sum(h.got.is_set() for h in alice) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sum(h.got.is_set() for h in alice) == 4
    for h in alice:
        h.done()
