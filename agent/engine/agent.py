"""The agent: starts inputs and outputs, gathers on schedule or on demand, fans metrics out."""

from __future__ import annotations

import logging
import threading
from typing import Dict, List, Optional, Protocol, Sequence

from agent.config.model import Config
from agent.engine.running import RunningInput, RunningOutput, hostname
from agent.engine.schedule import InputSchedule, stall_limit
from agent.lineprotocol.metric import Metric
from agent.plugin.base import NotStored, ServiceInput
from agent.system import systemd

log = logging.getLogger("agent.engine.agent")


class Sink(Protocol):
    def connect(self) -> None: ...
    def write(self, metrics: Sequence[Metric]) -> None: ...
    def close(self) -> None: ...


class Agent:
    """One loaded config, running. execd=True: no host tag, no aggregators (Telegraf's own
    apply); outputs are given by the caller. Aggregators keep their open windows in the state
    directory, except when the caller gives the sinks (run --test): then in memory."""

    def __init__(self, config: Config, sinks: Optional[List[Sink]] = None,
                 execd: bool = False) -> None:
        self.config = config
        own_sinks = sinks is not None
        host = None if execd else hostname(config.agent)
        self.inputs = [RunningInput(p, config, host) for p in config.inputs]
        if sinks is None:
            sinks = [RunningOutput(p, config) for p in config.outputs]
        self.sinks = sinks
        self.outputs = [s for s in sinks if isinstance(s, RunningOutput)]  # configured ones
        for running in self.inputs:
            running.plugin.bind(self)  # inputs.internal reports on the agent that runs it
        self.schedules: List[InputSchedule] = []
        self.broken_pipe = threading.Event()
        self._emit_lock = threading.Lock()
        self.aggregation = _aggregation(config, self._write, own_sinks) if (
            config.aggregators and not execd) else None

    def start(self) -> None:
        for sink in self.sinks:
            sink.connect()
        if self.aggregation is not None:
            self.aggregation.start()
        for running in self.inputs:
            try:
                if isinstance(running.plugin, ServiceInput):
                    running.plugin.start(InputAccumulator(self, running))
                else:
                    running.plugin.start()
            except Exception as err:  # noqa: BLE001 - the others still run
                running.log.error("Error starting plugin: %s", err)

    def start_schedules(self) -> None:
        aligned = self.config.agent["round_interval"]
        watchdog = systemd.watchdog_timeout()
        for running in self.inputs:
            schedule = InputSchedule(
                running.label, lambda r=running: self.emit(r.gather()), running.interval,
                aligned, running.offset, running.jitter, warn=running.log.warning,
                stall_after=stall_limit(running.interval, watchdog), logger=running.log,
            )
            schedule.start()
            self.schedules.append(schedule)

    def gather_all(self) -> int:
        """Gather every input once, in order, writing each input's metrics as they come."""
        count = 0
        for running in self.inputs:
            metrics = running.gather()
            self.emit(metrics)
            count += len(metrics)
        return count

    def gather_now(self) -> None:
        for schedule in self.schedules:
            schedule.wake()

    def emit(self, metrics: Sequence[Metric]) -> None:
        if not metrics:
            return
        if self.aggregation is not None:
            metrics, batches = self.aggregation.split(metrics)
            self.aggregation.add(batches)
        self._write(metrics)

    def _write(self, metrics: Sequence[Metric]) -> None:
        """Fan out to every sink (also what aggregators push)."""
        if not metrics:
            return
        with self._emit_lock:
            for sink in self.sinks:
                try:
                    sink.write(metrics)
                except BrokenPipeError:
                    self.broken_pipe.set()

    def store(self, metrics: Sequence[Metric]) -> None:
        """Put metrics in every output, for a sender that waits for the acknowledgement:
        raises NotStored when any could not take them (every output is asked for room
        first, so that a refused request is in none of them)."""
        if not metrics:
            return
        batches: list = []
        if self.aggregation is not None:
            metrics, batches = self.aggregation.split(metrics)
        refused: Optional[NotStored] = None
        with self._emit_lock:
            if metrics:
                self._check_room(len(metrics))
            for sink in self.sinks if metrics else ():
                try:
                    if isinstance(sink, RunningOutput):
                        sink.store(metrics)
                    else:
                        sink.write(metrics)
                except NotStored as err:
                    refused = refused or err
        if refused is not None:
            raise refused  # not aggregated either: the sender sends them again
        if batches:
            self.aggregation.add(batches)

    def _check_room(self, count: int) -> None:
        """Refuse before storing anywhere when an output could not take count more (a partly
        stored request would be stored twice over when the sender retries). count is before
        the outputs' own filters: near full, a filtered output may refuse a little early."""
        for output in self.outputs:
            refusal = output.full(count)
            if refusal is not None:
                raise refusal

    def undelivered(self) -> int:
        """Metrics waiting in the fullest output buffer."""
        return max((output.undelivered() for output in self.outputs), default=0)

    def line_tags(self, running: RunningInput) -> Optional[Dict[str, str]]:
        """What decoration adds to a line of this input, when its lines can be stored as
        given: no aggregator (it needs metrics), every sink a buffered output that takes lines
        as they are."""
        if self.aggregation is not None:
            return None
        if not self.outputs or len(self.outputs) != len(self.sinks):
            return None
        if not all(output.takes_lines() for output in self.outputs):
            return None
        return running.line_tags()

    def store_text(self, text: str, count: int) -> None:
        """store() for count plain lines in one text (line_tags): every output takes them or
        none does."""
        if not count:
            return
        with self._emit_lock:
            self._check_room(count)
            for output in self.outputs:
                output.store_text(text, count)

    def stop(self, timeout: float = 1.0) -> None:
        """Stop schedules and inputs (service inputs hand over their last readings), then close
        outputs; bounded by timeout per step."""
        for schedule in self.schedules:
            schedule.stop(timeout / max(1, len(self.schedules)))
        self.schedules.clear()
        for running in self.inputs:
            _bounded(running.plugin.stop, timeout, running.log)
            if isinstance(running.plugin, ServiceInput):
                self.emit(running.gather())  # what it read since its last gather
        if self.aggregation is not None:
            self.aggregation.stop(timeout)  # open windows saved (or pushed) before outputs close
        for sink in self.sinks:
            _bounded(sink.close, timeout, log)


class InputAccumulator:
    """What a service input hands its metrics to: they are decorated like gathered ones
    (tags, filters, precision) and stored in every output before add_metrics() returns."""

    def __init__(self, agent: Agent, running: RunningInput) -> None:
        self.agent = agent
        self.running = running

    def add_metrics(self, metrics: Sequence[Metric]) -> None:
        self.agent.store(self.running.take(metrics))

    def undelivered(self) -> int:
        return self.agent.undelivered()

    def line_tags(self) -> Optional[Dict[str, str]]:
        return self.agent.line_tags(self.running)

    def add_text(self, text: str, count: int) -> None:
        self.agent.store_text(text, count)
        self.running.take_lines(count)


def _aggregation(config: Config, deliver, own_sinks: bool):
    """Imported only for a config with aggregators (start-up stays lean without)."""
    from agent.engine.aggregation import Aggregation
    from agent.engine.aggstate import state_directory

    return Aggregation(config, deliver, None if own_sinks else state_directory(config))


def _bounded(call, timeout: float, logger) -> None:
    """Run a shutdown step in a daemon thread so a stuck plugin cannot hold up exit."""
    def guarded() -> None:
        try:
            call()
        except Exception as err:  # noqa: BLE001
            logger.warning("Error while stopping: %s", err)

    worker = threading.Thread(target=guarded, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        logger.warning("Still stopping after %.1fs; leaving it behind", timeout)
