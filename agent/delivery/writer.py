"""The writer of one network output: a supervised worker that drains its spool, losing nothing.

- sends up to batch_size lines every flush_interval (+ jitter), or as soon as a batch is full;
- retry/auth outcomes (connection errors, timeouts, 429, 5xx, 401/403/404): the same lines are
  tried again after a backoff that a probe ends as soon as the server is back
  (delivery/retry.py); nothing is dropped;
- reject outcomes (other 4xx): the bad lines are isolated (delivery/rejects.py), the good ones
  land, each bad one goes to the dead-letter file with the server's (redacted) reason;
- flush() (SIGTERM, `agent write`) ends any wait with one immediate attempt;
- one writer per spool at a time (Spool.drain_slot): a reload's new writer starts where the
  old one stopped, after its request in flight was answered.
It runs as a Worker (agent/system/worker.py): an unexpected exception is logged, counted and
the writer restarted; it beats while it works or waits, so a stuck writer stops the watchdog.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from operator import attrgetter
from typing import Callable, List, Optional

from agent.delivery.deadletter import DeadLetters
from agent.delivery.policy import AUTH, OK, REJECT, Outcome
from agent.delivery.rejects import settle
from agent.delivery.retry import BEAT, PROBE_INTERVAL, Demand, Retry
from agent.delivery.spool import Batch, Spool
from agent.delivery.transport import Transport
from agent.system.worker import Supervisor, Worker


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
                 retry_max_interval: float = 300.0, *,
                 redact: Callable[[str], str] = str, stall_after: Optional[float] = None,
                 probe_interval: float = PROBE_INTERVAL,
                 supervisor: Optional[Supervisor] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.spool = spool
        self.transport = transport
        self.dead_letters = dead_letters
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.flush_jitter = flush_jitter
        self.log = log
        self.redact = redact
        self.clock = clock
        self.stats = WriteStats()
        self.demand = Demand()
        self.retry = Retry(transport, self.demand, retry_max_interval, probe_interval, clock)
        self.worker = Worker(f"writer {name}", self._body, logger=log, stall_after=stall_after,
                             supervisor=supervisor)
        self._wake = self.demand.wake
        self._cond = threading.Condition()
        self._failing_since: Optional[float] = None

    def start(self) -> None:
        self.worker.start()

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
        room = max(0, self.spool.limit - count)
        return len(self.spool) <= room or self._deliver_down_to(room, timeout)

    def _deliver_down_to(self, lines: int, timeout: float) -> bool:
        """Send without waiting for flush_interval (or a backoff) until at most `lines` are
        left."""
        with self._cond:
            self.demand.deadline = self.clock() + timeout
            self.demand.flushes += 1
            self._wake.set()
            self._cond.wait_for(lambda: len(self.spool) <= lines or self._past_deadline(),
                                timeout)
            self.demand.deadline = None
        return len(self.spool) <= lines

    def stop(self, timeout: float, join: float = 1.0) -> bool:
        """Flush for at most timeout, then stop after the request in flight (waiting up to
        join for it); what is left stays in the spool. True when the spool is empty."""
        empty = self.flush(timeout) if timeout > 0 else not len(self.spool)
        self.worker.stopping.set()
        self._wake.set()
        if not self.worker.stop(join):
            self.log.warning("%s still waits for %s after %.1fs; leaving it behind",
                             self.worker.name, self.transport.label, join)
        if not empty:
            where = "on disk for the next start" if self.spool.durable else "lost (memory buffer)"
            self.log.warning("%d metric(s) not delivered at shutdown: %s", len(self.spool), where)
        return empty

    @property
    def stopped(self) -> bool:
        return not self.worker.alive

    def _flushing(self) -> bool:
        deadline = self.demand.deadline
        return deadline is not None and self.clock() < deadline

    def _past_deadline(self) -> bool:
        deadline = self.demand.deadline  # read once: flush() may reset it meanwhile
        return deadline is not None and self.clock() >= deadline

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # The worker's body.
    def _body(self, worker: Worker) -> None:
        while not self.spool.drain_slot.acquire(timeout=BEAT):
            worker.beat()  # the previous writer of this spool finishes its request
            if worker.stopping.is_set():
                return
        try:
            while not worker.stopping.is_set():
                if not self._flushing():
                    jitter = random.uniform(0, self.flush_jitter) if self.flush_jitter else 0.0
                    self._sleep(worker, self.flush_interval + jitter)
                self._wake.clear()
                if not worker.stopping.is_set():
                    self._drain(worker)
                self.spool.maintain()
                self._notify()
        finally:
            self.spool.drain_slot.release()
            self._notify()

    def _sleep(self, worker: Worker, seconds: float) -> bool:
        """Wait up to seconds, beating; True when woken (a full batch, a flush, stop)."""
        end = self.clock() + seconds
        while not worker.stopping.is_set():
            left = end - self.clock()
            if left <= 0:
                return False
            if self._wake.wait(min(left, BEAT)):
                return True
            worker.beat()
        return True

    def _drain(self, worker: Worker) -> None:
        while len(self.spool) and not worker.stopping.is_set():
            worker.beat()
            batches = self.spool.peek(self.batch_size)
            if not batches:
                return
            stopped = None
            for key, group in itertools.groupby(batches, key=attrgetter("key")):
                stopped = self._deliver(key, list(group))
                if stopped is not None:
                    break
            self._notify()
            if stopped is not None:
                if not self.retry.wait(stopped, worker.stopping, worker.beat):
                    return
            elif len(self.spool) < self.batch_size and not self._flushing():
                return  # a partial batch waits for the next flush_interval

    def _deliver(self, key: str, batches: List[Batch]) -> Optional[Outcome]:
        """Send batches, isolating rejected lines; the answer that stopped it, if any."""
        verdict = settle(lambda body: self._send(key, body), batches)
        for line, answer in verdict.rejected:
            self._dead_letter(line, answer)
        self.stats.metrics_written += verdict.written
        self.spool.remove([batch.id for batch in batches[:verdict.settled]])
        self.spool.maintain()  # a long drain checkpoints as it goes
        return verdict.stopped

    def _send(self, key: str, body: str) -> Outcome:
        self.worker.beat()
        started = time.perf_counter_ns()
        outcome = self.transport.send(key, body)
        self.stats.write_time_ns += time.perf_counter_ns() - started
        if outcome.reason:
            outcome = outcome._replace(reason=self.redact(outcome.reason))
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
        what = f"HTTP {outcome.status}: {outcome.reason}" if outcome.status else outcome.reason
        if self._failing_since is None:
            self._failing_since = self.clock()
            hint = f" (check {self.transport.auth_hint})" if outcome.kind == AUTH else ""
            self.log.error("Cannot write to %s: %s%s; %d metric(s) kept, retrying",
                           self.transport.label, what, hint, len(self.spool))
        else:
            self.log.debug("still failing: %s", what)

    def _recovered(self) -> None:
        if self._failing_since is not None:
            self.log.info("Writing to %s again after %.1fs of failures",
                          self.transport.label, self.clock() - self._failing_since)
            self._failing_since = None
        self.retry.succeeded()
