"""Spare CPU only: the thumbnails worker must give the import and the web server the CPU the moment
they want it (Linux's SCHED_IDLE through util-linux's `chrt`; `nice -n 19` where there is no chrt).
The Procfile's `thumbnails:` line says the same.

A policy alone is not enough where the kernel groups processes by session (autogroup, on by default
in desktop and server kernels alike): CPU is shared between the groups first and by policy or nice
only within one, so a SCHED_IDLE worker in a session of its own (as honcho, systemd, `make run` and
the tests start each process) took as much CPU as the web server beside it. `spare_cpu_session`
lowers the session's group too, once the worker knows it is on spare CPU.
"""

import os
import shutil
from pathlib import Path

AUTOGROUP = Path("/proc/self/autogroup")
# The lowest weight a group can have (nice 19: 15 against 1,024 for nice 0).
AUTOGROUP_NICE = 19


def spare_cpu_prefix() -> list[str]:
    if shutil.which("chrt"):
        return ["chrt", "--idle", "0"]
    return ["nice", "-n", "19"]


def on_spare_cpu() -> bool:
    """Whether this process was started on spare CPU (by spare_cpu_prefix or by hand)."""
    try:
        return os.sched_getscheduler(0) == os.SCHED_IDLE or os.getpriority(os.PRIO_PROCESS, 0) >= 19
    except (AttributeError, OSError):  # not Linux
        return False


def spare_cpu_session() -> bool:
    """Give this process's autogroup the lowest weight when the process is on spare CPU and leads
    its session, so the group holds nothing but this process and its children: a worker started in
    someone else's session (a shell's) leaves that session's group alone. True if it was lowered."""
    if not on_spare_cpu() or os.getsid(0) != os.getpid():
        return False
    try:
        AUTOGROUP.write_text(str(AUTOGROUP_NICE))
    except OSError:  # no autogroup (a kernel without it, or cgroups in charge), or not permitted
        return False
    return True
