"""`agent execd`: a child of Telegraf's inputs.execd.

Stdout carries only line protocol (uint as `u`, ns timestamps), flushed per gather. A gather is
triggered by a line on stdin (STDIN), by a signal (SIGHUP/SIGUSR1/SIGUSR2) or by our own
schedule (none). Stdin closing, SIGTERM or SIGINT end the process with exit code 0.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Optional

from agent.config.model import Config
from agent.engine.agent import Agent
from agent.engine.signals import SignalQueue
from agent.outputs.file import FileOutput

log = logging.getLogger("agent")
SIGNAL_MODES = ("none", "STDIN", "SIGHUP", "SIGUSR1", "SIGUSR2")
_GATHER = -1  # pseudo signal number: a newline arrived on stdin


def run_execd(config: Config, mode: str, stdin_fd: int = 0) -> int:
    stop_signals = (signal.SIGTERM, signal.SIGINT)
    trigger = getattr(signal, mode, None) if mode.startswith("SIG") else None
    events = SignalQueue(stop_signals + ((trigger,) if trigger else ()))
    ignored = config.ignored_outputs + len(config.outputs)
    if ignored:
        log.debug("execd mode writes to stdout only; ignoring %d output(s)", ignored)
    agent = Agent(config, sinks=[FileOutput(files=["stdout"], influx_uint_support=True)],
                  execd=True)
    agent.start()
    _watch_stdin(stdin_fd, events, gather_on_line=(mode == "STDIN"))
    if mode == "none":
        agent.start_schedules()
    try:
        _loop(agent, events, trigger)
    finally:
        agent.stop(timeout=0.5)
    return 0


def _loop(agent: Agent, events: SignalQueue, trigger: Optional[int]) -> None:
    while not agent.broken_pipe.is_set():
        signum = events.wait(0.5)
        if signum is None:
            continue
        if signum in (_GATHER, trigger):
            agent.gather_all()
        else:
            return


def _watch_stdin(fd: int, events: SignalQueue, gather_on_line: bool) -> None:
    """Read stdin in the background: each newline may trigger a gather; EOF means stop.

    Raw os.read on the descriptor: a thread blocked inside a buffered reader would abort the
    interpreter at exit (it holds the reader's lock).
    """

    def read() -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            for _ in range(chunk.count(b"\n") if gather_on_line else 0):
                events.post(_GATHER)
        log.debug("stdin closed; stopping")
        events.post(signal.SIGTERM)

    threading.Thread(target=read, name="stdin", daemon=True).start()
