"""The one backoff: how long to wait after the n-th failure in a row.

Exponential from `first`, capped at `cap`; with jitter the delay is drawn from [0, delay] ("full
jitter", so many agents that lost the same server do not return in step). A server's
Retry-After wins, bounded by the cap.
"""

from __future__ import annotations

import random
from typing import Optional


class Backoff:
    def __init__(self, first: float = 1.0, cap: float = 300.0, jitter: bool = False) -> None:
        self.first = first
        self.cap = cap
        self.jitter = jitter
        self.failures = 0

    def next_delay(self, retry_after: Optional[float] = None) -> float:
        """Count one more failure and return the delay before the next attempt."""
        self.failures += 1
        if retry_after is not None:
            return min(max(0.0, retry_after), self.cap)
        delay = min(self.cap, self.first * 2 ** min(self.failures - 1, 64))
        return random.uniform(0, delay) if self.jitter else delay

    def reset(self) -> None:
        """A success: the next failure starts from `first` again."""
        self.failures = 0
