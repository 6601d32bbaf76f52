"""When an input gathers: Telegraf's aligned ticker, with offset and jitter, never piling up."""

from __future__ import annotations

import math
import random
import threading
import time
from typing import Callable, Optional

from agent.system.worker import Supervisor, Worker

DEFAULT_STALL = 60.0  # without a systemd watchdog: agent@.service's WatchdogSec


def first_tick(now: float, interval: float, aligned: bool) -> float:
    """Telegraf's AlignTime(now + interval/100): the next boundary, or now when unaligned."""
    if not aligned:
        return now
    start = now + interval / 100
    return math.ceil(start / interval) * interval


class InputSchedule:
    """Runs gather() on the input's ticks in a supervised worker, until stop() is called.

    A gather that runs past the next tick makes that tick be skipped with a warning: ticks are
    never queued behind a slow gather. wake() asks for a gather right now (SIGUSR1). A gather
    busy for longer than stall_after is reported as stuck (the systemd watchdog stops being
    fed); an unexpected exception restarts the schedule with backoff (agent.system.worker).
    """

    def __init__(self, label: str, gather: Callable[[], None], interval: float,
                 aligned: bool, offset: float = 0.0, jitter: float = 0.0,
                 warn: Optional[Callable[[str], None]] = None,
                 clock: Callable[[], float] = time.time, stall_after: Optional[float] = None,
                 logger=None, supervisor: Optional[Supervisor] = None) -> None:
        self.label = label
        self.gather = gather
        self.interval = interval
        self.aligned = aligned
        self.offset = offset
        self.jitter = jitter
        self.warn = warn or (lambda message: None)
        self.clock = clock
        self._event = threading.Event()
        self._now_requested = False
        self.worker = Worker(f"gather {label}", self._body, stall_after=stall_after,
                             logger=logger, supervisor=supervisor)
        self.skipped = 0

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 1.0) -> None:
        self.worker.stopping.set()
        self._event.set()
        self.worker.stop(timeout)

    def wake(self) -> None:
        self._now_requested = True
        self._event.set()

    def _body(self, worker: Worker) -> None:
        tick = first_tick(self.clock(), self.interval, self.aligned) + self.offset
        while True:
            delay = random.uniform(0, self.jitter) if self.jitter else 0.0
            with worker.waiting():
                self._event.wait(max(0.0, tick + delay - self.clock()))
            self._event.clear()
            if worker.stopping.is_set():
                return
            if self._now_requested:
                self._now_requested = False
            elif self.clock() < tick + delay:
                continue  # spurious wake-up
            else:
                tick += self.interval
            self.gather()
            worker.beat()
            tick = self._after_gather(tick)

    def _after_gather(self, tick: float) -> float:
        now = self.clock()
        if now <= tick:
            return tick
        missed = math.floor((now - tick) / self.interval) + 1
        self.skipped += missed
        self.warn(
            f"Collection took longer than expected; not complete after interval of "
            f"{self.interval:g}s; skipped {missed} scheduled collection(s)"
        )
        return tick + missed * self.interval


def stall_limit(interval: float, watchdog_timeout: float) -> float:
    """How long one gather may run before it counts as stuck: its interval (Telegraf only
    warns about a gather longer than that) or the watchdog timeout, whichever is longer."""
    return max(interval, watchdog_timeout or DEFAULT_STALL)
