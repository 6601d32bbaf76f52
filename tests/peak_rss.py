"""A command's own peak RSS as the kernel counts it (wait4's ru_maxrss), without pytest's in it.

Linux puts into a child's ru_maxrss the memory of the process it was forked from: at exec, the
high-water mark of the mm it leaves (with vfork, which subprocess uses, the parent's own). Late
in the suite pytest has peaked at 240+ MiB, so any child spawned straight from it "peaks" there
too. The command runs under tests/launch.py instead, a bare interpreter of a few MiB, which
forks it and reports its rusage.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

LAUNCHER = Path(__file__).with_name("launch.py")
MiB = 1024 * 1024


@dataclass
class MeasuredRun:
    code: int  # the command's exit code
    peak_rss: int  # bytes: the command's ru_maxrss (and its reaped children's)


def run_measured(cmd: Sequence[str], timeout: float = 120.0, **popen: Any) -> MeasuredRun:
    """Run cmd to completion under the launcher; a command still running after `timeout`
    seconds is killed with the launcher (their own process group) and fails the test."""
    with tempfile.TemporaryDirectory(prefix="peak-rss-") as tmp:
        result = Path(tmp) / "rusage"
        launcher = subprocess.Popen([sys.executable, "-S", "-I", str(LAUNCHER), str(result),
                                     *cmd], start_new_session=True, **popen)
        try:
            launcher.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
            raise AssertionError(f"{cmd[0]} ... still running after {timeout:g}s: killed") from None
        if launcher.returncode != 0 or not result.exists():
            raise AssertionError(f"tests/launch.py failed (exit code {launcher.returncode})")
        code, _wall, _user, _system, maxrss_kb = result.read_text().split()
    return MeasuredRun(int(code), int(maxrss_kb) * 1024)
