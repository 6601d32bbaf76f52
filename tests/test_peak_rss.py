"""tests/peak_rss.py measures a command's own peak RSS, however big this pytest process has been
(the full suite failed the 1 M-row memory test with 242-264 MiB: pytest's peak, not the agent's)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.peak_rss import MiB, run_measured

BALLAST = 256 * MiB


def test_a_child_spawned_straight_from_a_big_process_seems_as_big():
    """The kernel behaviour the launcher is there for (if this fails, it is no longer needed)."""
    ballast = b"x" * BALLAST  # every page written: resident
    child = subprocess.Popen([sys.executable, "-S", "-c", "pass"])
    _, _, usage = os.wait4(child.pid, 0)
    del ballast
    assert usage.ru_maxrss * 1024 >= BALLAST


def test_the_measured_peak_leaves_out_this_process_memory():
    ballast = b"x" * BALLAST
    run = run_measured([sys.executable, "-S", "-c", "pass"])
    del ballast
    assert run.code == 0
    assert run.peak_rss < 40 * MiB, f"{run.peak_rss // MiB} MiB for `python -c pass`"


def test_the_measured_peak_counts_the_command_memory():
    run = run_measured([sys.executable, "-S", "-c", f"import sys; b = b'x' * {BALLAST}; "
                        "sys.exit(3)"])
    assert run.code == 3
    assert BALLAST <= run.peak_rss < BALLAST + 40 * MiB
