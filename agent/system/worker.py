"""Supervised background threads: no worker dies silently.

A Worker runs `body(worker)` in a daemon thread; the body loops until `worker.stopping` is set.
An unexpected exception (or a body that returns while not asked to stop) is logged once with
the worker's name and the error, counted, and the body starts again after a backoff. A worker
that keeps failing without a healthy stretch in between gives up: the supervisor's fatal
handler is called (the daemon then exits non-zero so that systemd restarts it).

Progress: a body calls beat() whenever it makes progress or waits by design. A worker with
`stall_after` set that has not beaten for that long is stuck: the supervisor reports it as
unhealthy, and the systemd watchdog stops being fed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, List, Optional

from agent.system.backoff import Backoff

log = logging.getLogger("agent.worker")


class Supervisor:
    """The workers of one process: their health for the watchdog, their failures for
    inputs.internal, and what to do when one cannot recover."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.workers: List[Worker] = []
        self.restarts = 0
        self.fatal = threading.Event()
        self.fatal_reason = ""
        self._lock = threading.Lock()
        self.on_fatal: Callable[[str], None] = lambda reason: None

    def add(self, worker: Worker) -> None:
        with self._lock:
            self.workers = [w for w in self.workers if not w.finished] + [worker]

    def unhealthy(self) -> List[str]:
        """Why the process is not healthy: one entry per dead or stuck worker."""
        now = self.clock()
        with self._lock:
            workers = list(self.workers)
        return [problem for w in workers if (problem := w.problem(now))]

    def give_up(self, reason: str) -> None:
        self.fatal_reason = reason
        self.fatal.set()
        self.on_fatal(reason)


SUPERVISOR = Supervisor()


class Worker:
    def __init__(self, name: str, body: Callable[[Worker], None], *,
                 logger: Optional[logging.Logger | logging.LoggerAdapter] = None,
                 stall_after: Optional[float] = None, max_failures: int = 5,
                 healthy_after: float = 60.0, backoff: Optional[Backoff] = None,
                 supervisor: Optional[Supervisor] = None) -> None:
        self.name = name
        self.body = body
        self.log = logger or log
        self.stall_after = stall_after
        self.max_failures = max_failures
        self.healthy_after = healthy_after
        self.backoff = backoff or Backoff(first=1.0, cap=30.0)
        self.supervisor = supervisor or SUPERVISOR
        self.clock = self.supervisor.clock
        self.stopping = threading.Event()
        self.failures = 0  # unexpected exceptions since start (inputs.internal counts them)
        self.finished = False
        self.gave_up = False
        self._last_beat = self.clock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Worker:
        self.supervisor.add(self)
        self._thread.start()
        return self

    def beat(self) -> None:
        self._last_beat = self.clock()

    def stop(self, timeout: float = 1.0) -> bool:
        """Ask the body to stop and wait up to timeout; True when the thread has ended."""
        self.stopping.set()
        if threading.current_thread() is not self._thread and self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def problem(self, now: float) -> str:
        """"" when healthy; else what is wrong."""
        if self.finished or self.stopping.is_set():
            return ""
        if self.gave_up or not self._thread.is_alive():
            return f"{self.name}: not running"
        if self.stall_after is not None and now - self._last_beat > self.stall_after:
            return f"{self.name}: no progress for {now - self._last_beat:.0f}s"
        return ""

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                started = self.clock()
                error = self._run_body()
                if self.stopping.is_set():
                    break
                if self.clock() - started >= self.healthy_after:
                    self.backoff.reset()
                if not self._restart_after(error):
                    return
        finally:
            self.finished = not self.gave_up

    def _run_body(self) -> str:
        try:
            self.beat()
            self.body(self)
        except Exception as err:  # noqa: BLE001 - the point of a supervisor
            self.log.debug("%s: traceback", self.name, exc_info=True)
            return f"{type(err).__name__}: {err}"
        return "stopped unexpectedly"

    def _restart_after(self, error: str) -> bool:
        self.failures += 1
        self.supervisor.restarts += 1
        if self.backoff.failures >= self.max_failures:
            self.gave_up = True
            self.log.error("%s failed %d times in a row (last: %s); giving up", self.name,
                           self.backoff.failures + 1, error)
            self.supervisor.give_up(f"{self.name}: {error}")
            return False
        delay = self.backoff.next_delay()
        self.log.error("%s failed: %s; restarting in %.1fs", self.name, error, delay)
        self.stopping.wait(delay)
        return not self.stopping.is_set()
