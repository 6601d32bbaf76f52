"""How long a writer waits before it tries a failed batch again.

An exponential backoff with full jitter (agent/system/backoff.py; 1 s doubling, capped by
retry_max_interval; a server's Retry-After wins). The wait ends early:
- on a new flush() (SIGTERM, `agent write` waiting for room): one immediate attempt; during a
  flush the wait is cut to its deadline;
- while the server is away (no answer at all, or a gateway's 502/503/504 without Retry-After),
  when a probe (about one a second) finds it back: recovery takes seconds whatever the outage
  length. A probe that ended a wait in vain must see the server away once before it is trusted
  again, since a server may answer probes and still not take writes.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from agent.delivery.policy import Outcome
from agent.delivery.transport import Transport
from agent.system.backoff import Backoff

PROBE_INTERVAL = 1.0
BEAT = 1.0  # the longest wait between two beats of the writer's worker


class Demand:
    """What asks a writer to hurry: new lines or stop (`wake`), and flush() calls (`flushes`,
    each with the `deadline` until which the writer ignores flush_interval)."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.deadline: Optional[float] = None
        self.flushes = 0


class Retry:
    def __init__(self, transport: Transport, demand: Demand, cap: float,
                 probe_interval: float = PROBE_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.transport = transport
        self.demand = demand
        self.backoff = Backoff(first=1.0, cap=cap, jitter=True)
        self.probe_interval = probe_interval
        self.clock = clock
        self._probe_ended_wait = False

    def succeeded(self) -> None:
        self.backoff.reset()
        self._probe_ended_wait = False

    def wait(self, outcome: Outcome, stopping: threading.Event, beat: Callable[[], None]) -> bool:
        """Wait after a failure; True: try again now, False: stopping."""
        demand = self.demand
        delay = self.backoff.next_delay(outcome.retry_after)
        deadline, asked = demand.deadline, demand.flushes
        if deadline is not None:
            delay = min(delay, max(0.0, deadline - self.clock()))
        end = self.clock() + delay
        back = back_when(outcome)
        need_away, self._probe_ended_wait = self._probe_ended_wait, False
        next_probe = self.clock() + self.probe_interval
        while not stopping.is_set():
            now = self.clock()
            if now >= end or demand.flushes != asked:
                return True
            step = min(end - now, BEAT, next_probe - now if back else BEAT)
            if demand.wake.wait(max(0.0, step)):
                demand.wake.clear()  # new lines (they go with the retry), a flush, or stop
                continue
            beat()
            if back is not None and self.clock() >= next_probe:
                is_back = back(self.transport.probe())
                next_probe = self.clock() + self.probe_interval
                if is_back and not need_away:
                    self._probe_ended_wait = True
                    return True
                need_away = need_away and is_back
        return False


def back_when(outcome: Outcome) -> Optional[Callable[[int], bool]]:
    """How a probe's status tells that the server is back; None: no probing (the server
    answered itself, or said when to come back)."""
    if outcome.status == 0:
        return lambda status: status != 0
    if outcome.status in (502, 503, 504) and outcome.retry_after is None:
        return lambda status: 200 <= status < 300
    return None
