"""Spare CPU reaches the kernel's session groups: a process started on spare CPU in a session of its
own gives that session's group the lowest weight, and leaves a session it shares alone.

A process that never left the session it was born in may sit in the kernel's default group, whose
`/proc/self/autogroup` reads empty (CI's harness runs the suite so); the comparisons below are on the
whole text of that file, so a shared session is checked the same way there."""

import json
import subprocess
import sys

from django.conf import settings

from customlabels.cpu_priority import spare_cpu_prefix

PROBE = (
    "import json; "
    "from customlabels.cpu_priority import spare_cpu_session; "
    "lowered = spare_cpu_session(); "
    "print(json.dumps([lowered, open('/proc/self/autogroup').read()]))"
)


def probe(*, spare: bool, own_session: bool) -> tuple[bool, str]:
    command = [*(spare_cpu_prefix() if spare else []), sys.executable, "-c", PROBE]
    result = subprocess.run(
        command, cwd=settings.BASE_DIR, capture_output=True, text=True, check=True, start_new_session=own_session
    )
    lowered, group = json.loads(result.stdout)
    return lowered, group


def group_nice(group: str) -> str:
    """The nice of a group line such as '/autogroup-85 nice 0'."""
    name, word, nice = group.split()
    assert (name.startswith("/autogroup-"), word) == (True, "nice")
    return nice


def own_autogroup() -> str:
    with open("/proc/self/autogroup") as group:
        return group.read()


def test_a_process_on_spare_cpu_leading_its_session_lowers_its_group():
    lowered, group = probe(spare=True, own_session=True)

    assert (lowered, group_nice(group)) == (True, "19")


def test_a_process_on_spare_cpu_in_a_shared_session_leaves_the_group_alone():
    before = own_autogroup()

    assert probe(spare=True, own_session=False) == (False, before)
    assert own_autogroup() == before


def test_a_process_at_normal_priority_keeps_its_group_weight():
    lowered, group = probe(spare=False, own_session=True)

    assert (lowered, group_nice(group)) == (False, "0")
