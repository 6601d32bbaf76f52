"""The agent's own counters, kept by each running input (inputs.internal reads them)."""

from __future__ import annotations


class GatherStats:
    """internal_gather fields for one input."""

    __slots__ = ("errors", "gather_time_ns", "metrics_gathered")

    def __init__(self) -> None:
        self.errors = 0
        self.gather_time_ns = 0
        self.metrics_gathered = 0
