"""The writer thread of one network output: drains its spool in batches, never loses a line.

- sends up to batch_size lines every flush_interval (+ jitter), or as soon as a batch is full;
- retry/auth outcomes (connection errors, timeouts, 429, 5xx, 401/403/404): the same lines are
  tried again after an exponential, jittered backoff (Retry-After honoured); nothing is dropped;
- reject outcomes (other 4xx): the batch is split in halves until the bad lines are isolated;
  the good ones land, each bad one goes to the dead-letter file with the server's reason.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from operator import attrgetter
from typing import Callable, List, Optional, Protocol

from agent.delivery.deadletter import DeadLetters
from agent.delivery.policy import AUTH, OK, REJECT, Backoff, Outcome
from agent.delivery.spool import Batch, Spool


class Transport(Protocol):
    label: str

    def send(self, key: str, body: str) -> Outcome: ...

    def close(self) -> None: ...


class WriteStats:
    """Counters for inputs.internal's internal_write."""

    def __init__(self) -> None:
        self.metrics_added = 0
        self.metrics_written = 0
        self.errors = 0
        self.write_time_ns = 0


class Writer:
    def __init__(self, name: str, spool: Spool, transport: Transport,
                 dead_letters: DeadLetters, batch_size: int, flush_interval: float,
                 flush_jitter: float, log: logging.Logger | logging.LoggerAdapter,
                 retry_max_interval: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.spool = spool
        self.transport = transport
        self.dead_letters = dead_letters
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.flush_jitter = flush_jitter
        self.log = log
        self.clock = clock
        self.stats = WriteStats()
        self.backoff = Backoff(cap=retry_max_interval)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._deadline: Optional[float] = None  # flush until then, ignoring the interval
        self._failing_since: Optional[float] = None
        self._retry_after: Optional[float] = None
        self._thread = threading.Thread(target=self._run, name=f"write {name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def added(self, count: int) -> None:
        """Called after lines went into the spool: wake up when a full batch is waiting."""
        self.stats.metrics_added += count
        if len(self.spool) >= self.batch_size:
            self._wake.set()

    def flush(self, timeout: float) -> bool:
        """Deliver everything now, for at most timeout seconds; True when the spool is empty."""
        return self._deliver_down_to(0, timeout)

    def wait_for_room(self, count: int, timeout: float) -> bool:
        """Deliver until count more lines fit in the spool, for at most timeout seconds."""
        return self._deliver_down_to(max(0, self.spool.limit - count), timeout)

    def _deliver_down_to(self, lines: int, timeout: float) -> bool:
        """Send without waiting for flush_interval until at most `lines` are left."""
        with self._cond:
            self._deadline = self.clock() + timeout
            self._wake.set()
            self._cond.wait_for(lambda: len(self.spool) <= lines or self._past_deadline(),
                                timeout)
            self._deadline = None
        return len(self.spool) <= lines

    def stop(self, timeout: float) -> bool:
        """Flush for at most timeout, then stop; what is left stays in the spool."""
        empty = self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(1.0)
        if not empty:
            where = "on disk for the next start" if self.spool.durable else "lost (memory buffer)"
            self.log.warning("%d metric(s) not delivered at shutdown: %s", len(self.spool), where)
        return empty

    def _flushing(self) -> bool:
        deadline = self._deadline
        return deadline is not None and self.clock() < deadline

    def _past_deadline(self) -> bool:
        deadline = self._deadline  # read once: flush() may reset it meanwhile
        return deadline is not None and self.clock() >= deadline

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._flushing():
                jitter = random.uniform(0, self.flush_jitter) if self.flush_jitter else 0.0
                self._wake.wait(self.flush_interval + jitter)
            self._wake.clear()
            if not self._stop.is_set():
                self._drain()
            with self._cond:
                self._cond.notify_all()

    def _drain(self) -> None:
        while len(self.spool) and not self._stop.is_set():
            batches = self.spool.peek(self.batch_size)
            for key, group in itertools.groupby(batches, key=attrgetter("key")):
                if not self._deliver(key, list(group)):
                    self._wait_backoff()
                    return
            with self._cond:
                self._cond.notify_all()
            if len(self.spool) < self.batch_size and not self._flushing():
                return  # a partial batch waits for the next flush_interval

    def _deliver(self, key: str, batches: List[Batch]) -> bool:
        """Send batches; on reject, bisect. False: stop and retry these batches later."""
        outcome = self._send(key, "".join(batch.text for batch in batches))
        if outcome.kind == OK:
            self.spool.remove([batch.id for batch in batches])
            self.stats.metrics_written += sum(batch.count for batch in batches)
            return True
        if outcome.kind != REJECT:
            return False
        if len(batches) > 1:
            middle = len(batches) // 2
            return self._deliver(key, batches[:middle]) and self._deliver(key, batches[middle:])
        (batch,) = batches
        if not self._deliver_lines(key, batch.lines(), outcome):
            return False  # lines that landed are sent again later: at least once
        self.spool.remove([batch.id])
        return True

    def _deliver_lines(self, key: str, lines: List[str], outcome: Outcome) -> bool:
        """Find the rejected lines of one batch (outcome: the answer to all of them)."""
        if len(lines) == 1:
            self._dead_letter(lines[0], outcome)
            return True
        for half in (lines[:len(lines) // 2], lines[len(lines) // 2:]):
            answer = self._send(key, "".join(half))
            if answer.kind == OK:
                self.stats.metrics_written += len(half)
            elif answer.kind != REJECT or not self._deliver_lines(key, half, answer):
                return False
        return True

    def _send(self, key: str, body: str) -> Outcome:
        started = time.perf_counter_ns()
        outcome = self.transport.send(key, body)
        self.stats.write_time_ns += time.perf_counter_ns() - started
        if outcome.kind == OK:
            self._recovered()
        else:
            self.stats.errors += 1
            if outcome.kind != REJECT:
                self._failed(outcome)
        return outcome

    def _dead_letter(self, line: str, outcome: Outcome) -> None:
        reason = f"HTTP {outcome.status}: {outcome.reason}"
        self.dead_letters.add(self.name, reason, line)
        self.log.error("Rejected by %s and moved to the dead-letter file: %s (%s)",
                       self.transport.label, line.strip()[:200], reason)

    def _failed(self, outcome: Outcome) -> None:
        self._retry_after = outcome.retry_after
        what = f"HTTP {outcome.status}: {outcome.reason}" if outcome.status else outcome.reason
        if self._failing_since is None:
            self._failing_since = self.clock()
            hint = " (check the token, organization and bucket)" if outcome.kind == AUTH else ""
            self.log.error("Cannot write to %s: %s%s; %d metric(s) kept, retrying",
                           self.transport.label, what, hint, len(self.spool))
        else:
            self.log.debug("still failing: %s", what)

    def _recovered(self) -> None:
        if self._failing_since is not None:
            self.log.info("Writing to %s again after %.1fs of failures",
                          self.transport.label, self.clock() - self._failing_since)
            self._failing_since = None
        self.backoff.reset()

    def _wait_backoff(self) -> None:
        delay = self.backoff.next_delay(self._retry_after)
        deadline = self._deadline
        if deadline is not None:
            delay = min(delay, max(0.0, deadline - self.clock()))
        self._stop.wait(delay)
