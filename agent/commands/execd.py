"""`agent execd`: a child of Telegraf's inputs.execd.

Stdout carries only line protocol (uint as `u`, ns timestamps), flushed per gather. A gather is
triggered by a line on stdin (STDIN), by a signal (SIGHUP/SIGUSR1/SIGUSR2) or by our own
schedule (none). Stdin closing, SIGTERM or SIGINT end the process with exit code 0.

Gathers run in a supervised worker, never on the main thread: the main thread only waits for
events, so stdin EOF or SIGTERM ends the process within a second even while a gather is stuck
(its inputs are stopped, e.g. a running query cancelled). Triggers that arrive during a gather
are coalesced into one more gather after it (Telegraf sends one per interval): a flood of
newlines costs neither memory nor a queue of gathers to wait behind at exit.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Optional, Sequence

from agent.config.model import Config
from agent.engine.agent import Agent
from agent.engine.signals import SignalQueue
from agent.lineprotocol.metric import Metric
from agent.outputs.file import FileOutput
from agent.system.worker import SUPERVISOR, Worker, WorkerFailed

log = logging.getLogger("agent")
SIGNAL_MODES = ("none", "STDIN", "SIGHUP", "SIGUSR1", "SIGUSR2")
_EOF = -1  # pseudo signal number: stdin closed
_FATAL = -2  # pseudo signal number: a supervised worker gave up
# stdin EOF or SIGTERM -> exit within about a second: a gather already asked for may finish
# within FINISH_TIMEOUT, then inputs and stdout are stopped within STOP_TIMEOUT per step.
FINISH_TIMEOUT = 0.4
STOP_TIMEOUT = 0.5
READ_SIZE = 65536


class Trigger:
    """Gather requests, coalesced: any number of requests while one is pending is one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending = False
        self._closed = False

    def request(self) -> None:
        with self._cond:
            self._pending = True
            self._cond.notify_all()

    def close(self) -> None:
        """No more requests: take() serves the pending one, if any, then says stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take(self) -> bool:
        """Wait for a request: True to gather, False once closed with nothing pending."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending or self._closed)
            pending, self._pending = self._pending, False
            return pending


class StdoutSink:
    """Line protocol to stdout (uint as `u`). Once closed nothing more is written: a gather
    still finishing after stop must not be writing to stdout while the interpreter exits."""

    def __init__(self) -> None:
        self._output = FileOutput(files=["stdout"], influx_uint_support=True)
        self._lock = threading.Lock()
        self._closed = False

    def connect(self) -> None:
        self._output.connect()

    def write(self, metrics: Sequence[Metric]) -> None:
        with self._lock:
            if not self._closed:
                self._output.write(metrics)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._output.close()


def run_execd(config: Config, mode: str, stdin_fd: int = 0) -> int:
    stop_signals = (signal.SIGTERM, signal.SIGINT)
    trigger_signal = getattr(signal, mode, None) if mode.startswith("SIG") else None
    events = SignalQueue(stop_signals + ((trigger_signal,) if trigger_signal else ()))
    SUPERVISOR.on_fatal = lambda reason: events.post(_FATAL)
    ignored = config.ignored_outputs + len(config.outputs)
    if ignored:
        log.debug("execd mode writes to stdout only; ignoring %d output(s)", ignored)
    agent = Agent(config, sinks=[StdoutSink()], execd=True)
    agent.start()
    trigger = Trigger()
    gatherer = Worker("execd gather", lambda worker: _gather_on_request(agent, trigger, worker))
    gatherer.start()
    Worker("stdin", lambda worker: _read_stdin(stdin_fd, events, trigger, worker,
                                              gather_on_line=(mode == "STDIN"))).start()
    if mode == "none":
        agent.start_schedules()
    try:
        _loop(agent, events, trigger, trigger_signal)
    finally:
        trigger.close()  # a gather asked for before the end (printf '\n' | agent execd) is done
        gatherer.stop(FINISH_TIMEOUT)
        agent.stop(timeout=STOP_TIMEOUT)  # a gather still running is interrupted
    if SUPERVISOR.fatal.is_set():
        raise WorkerFailed(SUPERVISOR.fatal_reason)
    return 0


def _loop(agent: Agent, events: SignalQueue, trigger: Trigger,
          trigger_signal: Optional[int]) -> None:
    while not agent.broken_pipe.is_set():
        signum = events.wait(STOP_TIMEOUT)
        if signum is None:
            continue
        if signum == trigger_signal:
            trigger.request()
        else:
            return  # SIGTERM, SIGINT, stdin EOF or a worker that gave up


def _gather_on_request(agent: Agent, trigger: Trigger, worker: Worker) -> None:
    while True:
        with worker.waiting():
            if not trigger.take():
                break
        agent.gather_all()
        worker.beat()
    worker.stopping.set()  # done: not a failure to restart


def _read_stdin(fd: int, events: SignalQueue, trigger: Trigger, worker: Worker,
                gather_on_line: bool) -> None:
    """Read stdin: newlines request a gather (all those of one read count as one); EOF means
    stop. Raw os.read on the descriptor: a thread blocked inside a buffered reader would abort
    the interpreter at exit (it holds the reader's lock)."""
    while True:
        with worker.waiting():
            try:
                chunk = os.read(fd, READ_SIZE)
            except OSError as err:  # the pipe is gone: Telegraf has stopped
                log.debug("reading stdin failed: %s; stopping", err)
                chunk = b""
        if not chunk:
            break
        if gather_on_line and b"\n" in chunk:
            trigger.request()
    log.debug("stdin closed; stopping")
    worker.stopping.set()  # done: not a failure to restart
    events.post(_EOF)
