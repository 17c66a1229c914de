"""Spare CPU reaches the kernel's session groups: a process started on spare CPU in a session of its
own gives that session's group the lowest weight, and leaves a session it shares alone."""

import subprocess
import sys

from django.conf import settings

from customlabels.cpu_priority import spare_cpu_prefix

PROBE = (
    "from customlabels.cpu_priority import spare_cpu_session; "
    "lowered = spare_cpu_session(); "
    "print(lowered, open('/proc/self/autogroup').read().split()[-1])"
)


def probe(*, spare: bool, own_session: bool) -> tuple[str, str]:
    command = [*(spare_cpu_prefix() if spare else []), sys.executable, "-c", PROBE]
    result = subprocess.run(
        command, cwd=settings.BASE_DIR, capture_output=True, text=True, check=True, start_new_session=own_session
    )
    lowered, nice = result.stdout.split()
    return lowered, nice


def own_autogroup_nice() -> str:
    with open("/proc/self/autogroup") as group:
        return group.read().split()[-1]


def test_a_process_on_spare_cpu_leading_its_session_lowers_its_group():
    assert probe(spare=True, own_session=True) == ("True", "19")


def test_a_process_on_spare_cpu_in_a_shared_session_leaves_the_group_alone():
    before = own_autogroup_nice()

    assert probe(spare=True, own_session=False) == ("False", before)
    assert own_autogroup_nice() == before


def test_a_process_at_normal_priority_keeps_its_group_weight():
    assert probe(spare=False, own_session=True) == ("False", "0")
