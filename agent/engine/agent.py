"""The agent: starts inputs and outputs, gathers on schedule or on demand, fans metrics out."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable, Dict, List, Optional, Protocol, Sequence, Set, Tuple

from agent.config.model import Config
from agent.engine.errors import InputStartFailed
from agent.engine.running import RunningInput, RunningOutput, hostname
from agent.engine.schedule import InputSchedule, stall_limit
from agent.lineprotocol.metric import Metric
from agent.plugin.base import BufferedOutput, NotStored, ServiceInput
from agent.system import systemd

log = logging.getLogger("agent.engine.agent")
CLOSE_GRACE = 2.0  # after the flush: writers finish their request, spools close


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
        self.connect_outputs()
        self.start_inputs()

    def connect_outputs(self) -> None:
        """Open every output (spools, clients). On a failure the ones already open are closed
        again and the error raised: a reload then keeps the running agent."""
        connected = []
        try:
            for sink in self.sinks:
                sink.connect()
                connected.append(sink)
        except BaseException:
            for sink in connected:
                _bounded(sink.close, 5.0, log)
            raise

    def start_inputs(self) -> None:
        """Start aggregation (restoring saved windows: after a reload the old agent has saved
        them by now) and the inputs."""
        if self.aggregation is not None:
            self.aggregation.start()
        for running in self.inputs:
            try:
                if isinstance(running.plugin, ServiceInput):
                    running.plugin.start(InputAccumulator(self, running))
                else:
                    running.plugin.start()
            except ImportError:
                self.stop()
                raise  # a missing extra: the command line names it
            except Exception as err:  # noqa: BLE001 - as Telegraf: an input that cannot start
                self.stop()  # stops the agent; systemd (or Telegraf's execd) starts it again
                raise InputStartFailed(f"starting input {running.label}: {err}") from err

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

    def stop(self, timeout: Optional[float] = None, reload: bool = False) -> None:
        """Stop within timeout (default [agent] shutdown_timeout), everything in parallel:
        schedules and inputs first (for at most half the time; a stuck one is named and left
        behind), then outputs deliver until the deadline and report what is left (kept on disk,
        or lost with the memory buffer). For a reload, outputs do not flush: the new agent's
        outputs take over their spools."""
        budget = self.config.agent["shutdown_timeout"] if timeout is None else timeout
        deadline = time.monotonic() + budget
        self._stop_inputs(time.monotonic() + budget / 2)
        if self.aggregation is not None:  # open windows saved (or pushed) before outputs close
            self.aggregation.stop(_left(deadline))
        outputs = [s for s in self.sinks if isinstance(s, RunningOutput)
                   and isinstance(s.plugin, BufferedOutput)]
        if not reload and outputs:
            _in_parallel([(o.label, lambda o=o: o.plugin.flush(_left(deadline)))
                          for o in outputs], deadline + CLOSE_GRACE, log, "delivering")
        # After a reload, an output whose destination is gone still delivers (in close()).
        closing = deadline if reload else time.monotonic()
        _in_parallel([(_label(s), s.close) for s in self.sinks], closing + CLOSE_GRACE, log,
                     "closing")

    def _stop_inputs(self, deadline: float) -> None:
        for schedule in self.schedules:
            schedule.stop(0)  # ask every one first: none gathers again
        for schedule in self.schedules:
            schedule.stop(_left(deadline))
        self.schedules.clear()
        done = _in_parallel([(r.label, r.plugin.stop) for r in self.inputs], deadline, log,
                            "stopping")
        for index, running in enumerate(self.inputs):
            if isinstance(running.plugin, ServiceInput) and index in done:
                self.emit(running.gather())  # what it read since its last gather


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
    """Run a step in a daemon thread so a stuck plugin cannot hold up exit."""
    _in_parallel([("", call)], time.monotonic() + timeout, logger, "stopping")


def _in_parallel(calls: List[Tuple[str, Callable[[], object]]], deadline: float, logger,
                 doing: str, workers: int = 16) -> Set[int]:
    """Run the calls on a few daemon threads until the deadline; the indexes of those that
    finished. Those still running are named in one warning and left behind (daemon threads
    never hold up the exit)."""
    pending: queue.SimpleQueue = queue.SimpleQueue()
    for index in range(len(calls)):
        pending.put(index)
    done: Set[int] = set()

    def work() -> None:
        while True:
            try:
                index = pending.get_nowait()
            except queue.Empty:
                return
            label, call = calls[index]
            try:
                call()
            except Exception as err:  # noqa: BLE001 - one failure must not stop the others
                logger.warning("Error while %s %s: %s", doing, label or "a plugin", err)
            done.add(index)

    threads = [threading.Thread(target=work, name=doing, daemon=True)
               for _ in range(min(workers, len(calls)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(_left(deadline))
    left = [label or "a plugin" for i, (label, _) in enumerate(calls) if i not in done]
    if left:
        more = f" and {len(left) - 5} more" if len(left) > 5 else ""
        logger.warning("Still %s after the time allowed: %s%s; leaving %s behind", doing,
                       ", ".join(left[:5]), more, "it" if len(left) == 1 else "them")
    return set(done)


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _label(sink: object) -> str:
    return getattr(sink, "label", type(sink).__name__)
