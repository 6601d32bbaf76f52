"""Supervised background threads: no worker dies silently.

A Worker runs `body(worker)` in a daemon thread; the body loops until `worker.stopping` is set
(a body may set it itself when its work is done, e.g. at end of input). An unexpected exception
(or a body that returns while not asked to stop) is logged once with the worker's name, the
error and where it was raised, counted, and the body starts again after a backoff. A worker
that keeps failing without a healthy stretch in between gives up: the supervisor's fatal
handler is called (the command then exits non-zero, see WorkerFailed, so that systemd restarts
the process). A thread killed by something that is not an Exception cannot be restarted: the
supervisor gives up at once.

Progress: a body calls beat() whenever it makes progress, and waits by design inside
`with worker.waiting():` (or worker.sleep()). A worker with `stall_after` set that has been
busy for longer than that without a beat is stuck: the supervisor reports it as unhealthy,
and the systemd watchdog stops being fed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional

from agent.system.backoff import Backoff

log = logging.getLogger("agent.worker")
MAX_MESSAGE = 500  # characters of an error message in a log line (stderr lines stay short)


class WorkerFailed(Exception):
    """A worker could not recover: the process must end non-zero (agent/cli.py maps it)."""


class Supervisor:
    """The workers of one process: their health for the watchdog, their failures for
    inputs.internal, and what to do when one cannot recover."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.workers: List[Worker] = []
        self.failures = 0  # unexpected exceptions of every worker since start
        self.restarts = 0  # restarts after those
        self.fatal = threading.Event()
        self.fatal_reason = ""
        self._lock = threading.Lock()
        self.on_fatal: Callable[[str], None] = lambda reason: None

    def add(self, worker: Worker) -> None:
        with self._lock:
            self.workers = [w for w in self.workers if not w.finished] + [worker]

    def current(self) -> List[Worker]:
        """The workers not finished by a stop (the running and the broken ones)."""
        with self._lock:
            return [w for w in self.workers if not w.finished]

    def unhealthy(self) -> List[str]:
        """Why the process is not healthy: one entry per dead or stuck worker."""
        now = self.clock()
        return [problem for w in self.current() if (problem := w.problem(now))]

    def stats(self) -> List[Dict[str, object]]:
        """Per worker: name, errors, restarts, healthy (inputs.internal's internal_worker)."""
        now = self.clock()
        return [{"worker": w.name, "errors": w.failures, "restarts": w.restarts,
                 "healthy": int(not w.problem(now))} for w in self.current()]

    def failed(self, restarted: bool) -> None:
        with self._lock:
            self.failures += 1
            self.restarts += restarted

    def give_up(self, reason: str) -> None:
        if not self.fatal.is_set():
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
        self.restarts = 0
        self.finished = False  # ended because it was asked to stop
        self.gave_up = False
        self._last_beat = self.clock()
        self._waits = 0  # > 0 while the body waits by design (no beat expected meanwhile)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Worker:
        self.supervisor.add(self)
        self._thread.start()
        return self

    def beat(self) -> None:
        self._last_beat = self.clock()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Wrap a wait by design (for input, for the next tick): not a stall, however long."""
        self._waits += 1
        try:
            yield
        finally:
            self._waits -= 1
            self.beat()

    def sleep(self, seconds: float) -> bool:
        """Wait up to seconds, ending early when asked to stop; True when stopping."""
        with self.waiting():
            return self.stopping.wait(seconds)

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
        stalled = now - self._last_beat
        if self.stall_after is not None and not self._waits and stalled > self.stall_after:
            return f"{self.name}: no progress for {stalled:.0f}s"
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
                    break
        except BaseException as err:  # noqa: BLE001 - not an Exception: this thread cannot go on
            self.gave_up = True
            self.log.error("%s killed by %s; giving up", self.name, type(err).__name__)
            self.supervisor.give_up(f"{self.name}: killed by {type(err).__name__}")
            return
        self.finished = self.stopping.is_set() and not self.gave_up

    def _run_body(self) -> str:
        try:
            self.beat()
            self.body(self)
        except Exception as err:  # noqa: BLE001 - the point of a supervisor
            self.log.debug("%s: traceback", self.name, exc_info=True)
            return describe(err)
        return "stopped unexpectedly"

    def _restart_after(self, error: str) -> bool:
        self.failures += 1
        if self.backoff.failures >= self.max_failures:
            self.supervisor.failed(restarted=False)
            self.gave_up = True
            self.log.error("%s failed %d times in a row (last: %s); giving up", self.name,
                           self.backoff.failures + 1, error)
            self.supervisor.give_up(f"{self.name}: {error}")
            return False
        self.supervisor.failed(restarted=True)
        self.restarts += 1
        delay = self.backoff.next_delay()
        self.log.error("%s failed: %s; restarting in %.1fs", self.name, error, delay)
        return not self.sleep(delay)


def describe(err: BaseException) -> str:
    """One line: the error and the innermost place it was raised (file:line in function)."""
    message = " ".join(str(err).split())
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "..."
    text = type(err).__name__ + (f": {message}" if message else "")
    import traceback  # only when something failed: not on every start

    frames = traceback.extract_tb(err.__traceback__)
    if frames:
        frame = frames[-1]
        where = frame.filename.rsplit("/", 2)[-2:]
        text += f" (at {'/'.join(where)}:{frame.lineno} in {frame.name})"
    return text
