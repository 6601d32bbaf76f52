"""`agent run`: the standalone daemon loop (signals, reload, systemd notifications)."""

from __future__ import annotations

import logging
import signal
from typing import Callable

from agent.config.errors import ConfigError, SourceError
from agent.config.model import Config
from agent.engine.agent import Agent
from agent.engine.signals import SignalQueue
from agent.plugin.base import BufferedOutput
from agent.system import log as logsetup
from agent.system import systemd
from agent.system.watchdog import Watchdog
from agent.system.worker import SUPERVISOR, WorkerFailed

log = logging.getLogger("agent")
# sysexits.h EX_TEMPFAIL: `run --once` gathered metrics that were neither delivered nor kept
# on disk (a later try may work); the log says how many, per output.
EX_TEMPFAIL = 75
FATAL = -2  # pseudo signal number: a supervised worker gave up


def run_once(config: Config, test: bool = False) -> int:
    """Gather once, deliver, stop. 0 only when every metric was delivered or is durably in a
    disk buffer for the next start; EX_TEMPFAIL otherwise."""
    agent = Agent(config, sinks=[_test_sink()] if test else None)
    agent.start()
    try:
        count = agent.gather_all()
    finally:
        agent.stop()
    log.debug("gathered %d metric(s)", count)
    return EX_TEMPFAIL if _report_undelivered(agent, count) else 0


def _report_undelivered(agent: Agent, gathered: int) -> int:
    """Log, per output, the metrics neither delivered nor on disk; how many in all."""
    total = 0
    for output in agent.outputs:
        plugin = output.plugin
        lost = output.metrics_failed
        held = plugin.undelivered() if isinstance(plugin, BufferedOutput) else 0
        if held and plugin.durable:
            log.warning("%s: %d metric(s) not delivered yet, kept in the disk buffer for the "
                        "next start", output.label, held)
        elif held:
            lost += held
        if lost:
            log.error("%s: %d of %d gathered metric(s) not delivered and not kept (memory "
                      "buffer or a failed write): exit %d", output.label, lost, gathered,
                      EX_TEMPFAIL)
        total += lost
    if agent.broken_pipe.is_set():
        log.error("stdout was closed before every metric was written: exit %d", EX_TEMPFAIL)
        total += 1
    return total


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
