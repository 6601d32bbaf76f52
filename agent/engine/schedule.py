"""When an input gathers: Telegraf's aligned ticker, with offset and jitter, never piling up."""

from __future__ import annotations

import math
import random
import threading
import time
from typing import Callable, Optional


def first_tick(now: float, interval: float, aligned: bool) -> float:
    """Telegraf's AlignTime(now + interval/100): the next boundary, or now when unaligned."""
    if not aligned:
        return now
    start = now + interval / 100
    return math.ceil(start / interval) * interval


class InputSchedule:
    """Runs gather() in its own thread on the input's ticks, until stop() is called.

    A gather that runs past the next tick makes that tick be skipped with a warning: ticks are
    never queued behind a slow gather. wake() asks for a gather right now (SIGUSR1).
    """

    def __init__(self, label: str, gather: Callable[[], None], interval: float,
                 aligned: bool, offset: float = 0.0, jitter: float = 0.0,
                 warn: Optional[Callable[[str], None]] = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.label = label
        self.gather = gather
        self.interval = interval
        self.aligned = aligned
        self.offset = offset
        self.jitter = jitter
        self.warn = warn or (lambda message: None)
        self.clock = clock
        self._event = threading.Event()
        self._stopping = False
        self._now_requested = False
        self._thread = threading.Thread(target=self._run, name=f"gather {label}", daemon=True)
        self.skipped = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stopping = True
        self._event.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._now_requested = True
        self._event.set()

    def _run(self) -> None:
        tick = first_tick(self.clock(), self.interval, self.aligned) + self.offset
        while True:
            delay = random.uniform(0, self.jitter) if self.jitter else 0.0
            self._event.wait(max(0.0, tick + delay - self.clock()))
            self._event.clear()
            if self._stopping:
                return
            if self._now_requested:
                self._now_requested = False
            elif self.clock() < tick + delay:
                continue  # spurious wake-up
            else:
                tick += self.interval
            self.gather()
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
