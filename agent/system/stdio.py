"""Keep stdout for line protocol only.

claim_stdout() moves the real stdout to a private descriptor for the metric writers and points
descriptor 1 (and sys.stdout) at stderr, so a stray print() or a library's debug output can
never corrupt the line protocol Telegraf reads from us.
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO, Optional

_metrics_stdout: Optional[BinaryIO] = None


def claim_stdout() -> BinaryIO:
    global _metrics_stdout
    if _metrics_stdout is None:
        sys.stdout.flush()
        private = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        _metrics_stdout = os.fdopen(private, "wb", buffering=0)
    return _metrics_stdout


def metrics_stdout() -> BinaryIO:
    """Where metric lines for "stdout" go: the claimed descriptor, else the usual stdout."""
    return _metrics_stdout if _metrics_stdout is not None else sys.stdout.buffer
