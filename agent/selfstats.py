"""The agent's own counters: running inputs and outputs register here; inputs.internal reads."""

from __future__ import annotations

import weakref
from typing import Any

RUNNING_INPUTS: weakref.WeakSet[Any] = weakref.WeakSet()
RUNNING_OUTPUTS: weakref.WeakSet[Any] = weakref.WeakSet()


class GatherStats:
    """internal_gather fields for one input."""

    __slots__ = ("errors", "gather_time_ns", "metrics_gathered")

    def __init__(self) -> None:
        self.errors = 0
        self.gather_time_ns = 0
        self.metrics_gathered = 0
