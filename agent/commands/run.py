"""`agent run`: the standalone daemon loop (signals, reload, systemd notifications)."""

from __future__ import annotations

import logging
import signal
from typing import Callable

from agent.config.errors import ConfigError, SourceError
from agent.config.model import Config
from agent.engine.agent import Agent
from agent.engine.signals import SignalQueue
from agent.system import log as logsetup
from agent.system import systemd
from agent.system.watchdog import Watchdog
from agent.system.worker import SUPERVISOR, WorkerFailed

log = logging.getLogger("agent")
FATAL = -2  # pseudo signal number: a supervised worker gave up


def run_once(config: Config, test: bool = False) -> int:
    agent = Agent(config, sinks=[_test_sink()] if test else None)
    agent.start()
    try:
        count = agent.gather_all()
    finally:
        agent.stop()
    log.debug("gathered %d metric(s)", count)
    return 0


def _test_sink():
    from agent.outputs.file import FileOutput

    return FileOutput(files=["stdout"])


def serve(config: Config, reload_config: Callable[[], Config]) -> int:
    """Run until SIGTERM/SIGINT. SIGHUP reloads (a bad new config keeps the old one running);
    SIGUSR1 gathers now. WATCHDOG=1 only while every supervised worker is healthy; a worker
    that cannot recover stops the agent and raises WorkerFailed (a non-zero exit)."""
    events = SignalQueue((signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1))
    SUPERVISOR.on_fatal = lambda reason: events.post(FATAL)
    agent = _start(config)
    systemd.notify("READY=1")
    watchdog = Watchdog(SUPERVISOR, systemd.watchdog_interval())
    while not SUPERVISOR.fatal.is_set():
        watchdog.tick()
        signum = events.wait(watchdog.timeout())
        if signum in (signal.SIGTERM, signal.SIGINT):
            break
        elif signum == signal.SIGUSR1:
            log.info("SIGUSR1: gathering now")
            agent.gather_now()
        elif signum == signal.SIGHUP:
            agent = _reload(agent, reload_config)
    systemd.notify("STOPPING=1")
    log.info("Stopping")
    agent.stop()
    if SUPERVISOR.fatal.is_set():
        raise WorkerFailed(SUPERVISOR.fatal_reason)
    return 0


def _start(config: Config) -> Agent:
    agent = Agent(config)
    agent.start()
    agent.start_schedules()
    names = " ".join(sorted({r.label for r in agent.inputs}))
    log.info("Loaded inputs: %s; outputs: %s", names, " ".join(s.label for s in agent.sinks))
    return agent


def _reload(agent: Agent, reload_config: Callable[[], Config]) -> Agent:
    systemd.reloading()
    try:
        config = reload_config()
    except (ConfigError, SourceError) as err:
        for line in str(err).splitlines():
            log.error("Reload failed, keeping the running config: %s", line)
        systemd.notify("READY=1")
        return agent
    log.info("Reloading config from %s", config.source)
    agent.stop()
    logsetup.set_level(config.agent["debug"], config.agent["quiet"])
    new_agent = _start(config)
    systemd.notify("READY=1")
    return new_agent
