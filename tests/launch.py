"""Run a command and write its wall time and rusage (from wait4) to a file:

    python -S -I tests/launch.py RESULT_FILE COMMAND [ARG...]

Why a launcher: Linux's ru_maxrss of a child counts the memory of the process that forked it
(the mm it had before exec: with vfork, as subprocess does, the parent's own high-water mark).
Forked from a big benchmark runner or from pytest late in the suite, even `python -c pass`
would "peak" at that process's size. This launcher is a bare interpreter (no site, a few built-in
modules), so the floor it adds is a few MB, below anything measured with it.
RESULT_FILE gets one line: exit_code wall_seconds user_seconds system_seconds maxrss_kb
"""

import os
import sys
import time


def main() -> None:
    result, argv = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w") as handle:
        handle.write(f"{code} {wall} {usage.ru_utime} {usage.ru_stime} {usage.ru_maxrss}\n")
    sys.exit(0)


main()
