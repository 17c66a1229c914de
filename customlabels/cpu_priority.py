"""The command prefix that runs a process on spare CPU only: the thumbnails worker, which must give the
import and the web server the CPU the moment they want it (Linux's SCHED_IDLE through util-linux's
`chrt`; `nice -n 19` where there is no chrt). The Procfile's `thumbnails:` line says the same."""

import shutil


def spare_cpu_prefix() -> list[str]:
    if shutil.which("chrt"):
        return ["chrt", "--idle", "0"]
    return ["nice", "-n", "19"]
