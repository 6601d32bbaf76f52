"""The agent's aggregators: where metrics meet them on their way to the outputs, the clock that
closes their windows, and their open windows kept across restarts.

As in Telegraf, every metric gathered or stored goes to each aggregator whose filters select
it; one selected by an aggregator with drop_original = true does not go to the outputs. What an
aggregator pushes goes to the outputs only (never back to the aggregators).

Windows survive (aggstate.py): the open window of every aggregator is saved when metrics were
added (at most once per `checkpoint_every` seconds), after each push, and at stop; start
restores it. A window that closed while the agent was not running is pushed at start with what
it had, stamped with its end. Without a state directory (or for `run --test` and callers that
bring their own sinks) windows live in memory and are pushed at stop, as Telegraf does.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, List, Optional, Sequence, Tuple

from agent.config.model import Config
from agent.engine import aggstate
from agent.engine.running import precision_for
from agent.engine.running_aggregator import NS, RunningAggregator
from agent.engine.windows import first_window
from agent.lineprotocol.metric import Metric
from agent.system.worker import Worker

log = logging.getLogger("agent.engine.aggregation")
Deliver = Callable[[Sequence[Metric]], None]
Batches = List[Tuple[RunningAggregator, Sequence[Metric]]]


class Aggregation:
    def __init__(self, config: Config, deliver: Deliver, state_dir: Optional[str],
                 clock: Callable[[], int] = time.time_ns, checkpoint_every: float = 1.0) -> None:
        agent = config.agent
        precision = precision_for(agent["precision"], agent["interval"])
        self.aggregators = [RunningAggregator(p, precision) for p in config.aggregators]
        self.round_interval: bool = agent["round_interval"]
        self.deliver = deliver
        self.clock = clock
        self.checkpoint_every = checkpoint_every
        self.files: List[Optional[aggstate.StateFile]] = [None] * len(self.aggregators)
        if state_dir:
            names = aggstate.identities(config.aggregators)
            self.files = [aggstate.StateFile(os.path.join(state_dir, n)) for n in names]
            self._warn_orphans(state_dir, names)
        self.persistent = any(self.files)  # windows kept in the state directory
        self.dropping = any(a.drop_original for a in self.aggregators)
        self._wake = threading.Event()
        self._last_save = 0
        self._worker: Optional[Worker] = None

    # -- metrics on their way to the outputs
    def split(self, metrics: Sequence[Metric]) -> Tuple[Sequence[Metric], Batches]:
        """(the metrics for the outputs, what each aggregator selected); add() the batches
        once the outputs have them (for an acknowledged store: only if they took them)."""
        batches = [(a, a.selected(metrics)) for a in self.aggregators]
        if not self.dropping:
            return metrics, batches
        taken = {id(m) for a, chosen in batches if a.drop_original for m in chosen}
        return [m for m in metrics if id(m) not in taken], batches

    def add(self, batches: Batches) -> None:
        for aggregator, chosen in batches:
            if chosen:
                aggregator.add(chosen)
        if self.persistent:
            self._wake.set()  # a save is due within checkpoint_every

    # -- lifecycle
    def start(self) -> None:
        """Restore saved windows (pushing those that have closed), then run the clock."""
        for aggregator, state in zip(self.aggregators, self.files):
            self._open(aggregator, state)
        self.checkpoint(force=True)
        self._worker = Worker("aggregators", self._run, logger=log).start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the clock; save the open windows, or push them when they cannot be kept."""
        if self._worker is not None:
            self._worker.stop(timeout)
            self._worker = None
        self.tick()  # windows that ended while stopping
        for aggregator, state in zip(self.aggregators, self.files):
            if state is None:
                self.deliver(aggregator.close(self.clock()))
        self.checkpoint(force=True)

    def tick(self) -> float:
        """Push the windows that have ended, save what is due; seconds until more is due."""
        now = self.clock()
        for aggregator, state in zip(self.aggregators, self.files):
            if now >= aggregator.window.end:
                self.deliver(aggregator.close(now))
                self._save(aggregator, state)  # after delivery: a crash re-pushes, never loses
        due = self._last_save + round(self.checkpoint_every * NS)
        if self.persistent and any(a.dirty for a in self.aggregators) and now >= due:
            self.checkpoint()
            due = now + round(self.checkpoint_every * NS)
        wait = min(a.window.end for a in self.aggregators) - now
        if self.persistent and any(a.dirty for a in self.aggregators):
            wait = min(wait, due - now)
        return max(0.0, wait / NS)

    def checkpoint(self, force: bool = False) -> None:
        for aggregator, state in zip(self.aggregators, self.files):
            if force:
                aggregator.dirty = True
            self._save(aggregator, state)
        self._last_save = self.clock()

    # -- internals
    def _run(self, worker: Worker) -> None:
        while not worker.stopping.is_set():
            worker.beat()
            wait = self.tick()
            self._wake.wait(wait)
            self._wake.clear()

    def _open(self, aggregator: RunningAggregator, state: Optional[aggstate.StateFile]) -> None:
        now = self.clock()
        data = state.load() if state is not None else None
        if data is not None:
            try:
                aggregator.restore(data)
            except (ValueError, TypeError, KeyError) as err:
                state.set_aside(f"{type(err).__name__}: {err}")
                aggregator.plugin.reset()
                data = None
        window = aggregator.window
        if data is not None and window.start <= now < window.end:
            aggregator.log.info("Restored the open window %s (%d series)", _span(window),
                                aggregator.plugin.series_count)
            return
        if data is not None:
            metrics = aggregator.close(now, catch_up=True)
            aggregator.log.info("Pushed the window %s that closed while the agent was not "
                                "running (%d metrics)", _span(window), len(metrics))
            self.deliver(metrics)
        aggregator.window = first_window(now, aggregator.period, self.round_interval)

    def _save(self, aggregator: RunningAggregator, state: Optional[aggstate.StateFile]) -> None:
        if state is None:
            aggregator.dirty = False
            return
        text = aggregator.snapshot()
        if text is not None and not state.save(text):
            aggregator.dirty = True  # try again at the next checkpoint

    def _warn_orphans(self, directory: str, names: List[str]) -> None:
        for path in aggstate.orphans(directory, names):
            log.warning("Aggregator state %s belongs to no configured aggregator (its plugin, "
                        "options, period or filters changed); left as it is", path)


def _span(window) -> str:
    def text(ns: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // NS))

    return f"[{text(window.start)}, {text(window.end)}]"
