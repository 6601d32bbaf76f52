"""A configured aggregator with what Telegraf wraps around it (models/running_aggregator.go):
its filters, its window and which metrics the window takes, the push that closes a window, the
names and tags of what it pushes, its counters, and its state as saved between runs."""

from __future__ import annotations

import json
import threading
from typing import Any, Dict, List, Optional, Sequence

from agent.config.model import PluginConfig
from agent.engine.filters import Filter
from agent.engine.running import plugin_logger, rename, round_ns
from agent.engine.windows import Window, next_window
from agent.lineprotocol.metric import Metric
from agent.plugin import registry
from agent.plugin.base import Aggregator

NS = 1_000_000_000


class RunningAggregator:
    def __init__(self, pconf: PluginConfig, precision: int) -> None:
        self.config = pconf
        self.label = pconf.label
        self.plugin: Aggregator = registry.load("aggregators", pconf.name)(**pconf.options)
        self.plugin.log = self.log = plugin_logger(pconf)
        common = pconf.common
        self.plugin.max_series = common["max_series"]
        self.period = round(common["period"] * NS)
        self.delay = round(common["delay"] * NS)
        self.grace = round(common["grace"] * NS)
        self.drop_original: bool = common["drop_original"]
        self.precision = precision  # of an on-time push's timestamp, as Telegraf's accumulator
        self.filter = Filter(common)
        f = self.filter
        self.selects = bool(f.namepass or f.namedrop or f.tagpass or f.tagdrop)
        self.modifies = bool(f.fieldinclude or f.fieldexclude or f.taginclude or f.tagexclude)
        self.window = Window(0, 0)
        self.lock = threading.Lock()
        self.dirty = False  # added to since the last snapshot
        self.dropped = self.filtered = 0  # this window: outside it / no field left by filters
        self.totals = {"metrics_pushed": 0, "metrics_dropped": 0, "metrics_filtered": 0,
                       "metrics_refused": 0}  # since start, of the windows closed

    def selected(self, metrics: Sequence[Metric]) -> Sequence[Metric]:
        """The metrics this aggregator takes (namepass, namedrop, tagpass, tagdrop)."""
        if not self.selects:
            return metrics
        return [m for m in metrics if self.filter.select(m)]

    def add(self, metrics: Sequence[Metric]) -> None:
        """Add selected metrics: copies pruned by fieldinclude & co., then only those the open
        window takes (start - grace <= time <= end + delay); the others are counted."""
        if self.modifies:
            copies = [m.copy() for m in metrics]
            kept = [m for m in copies if self.filter.modify(m)]
            self.filtered += len(metrics) - len(kept)
            metrics = kept
        with self.lock:
            low, high = self.window.start - self.grace, self.window.end + self.delay
            inside = [m for m in metrics if low <= m.time <= high]
            self.dropped += len(metrics) - len(inside)
            if inside:
                self.plugin.add_many(inside)
                self.dirty = True

    def close(self, now: int, catch_up: bool = False) -> List[Metric]:
        """End the open window: what it summarised, and the next window open. On time, the
        summaries are stamped now (rounded to the precision) as Telegraf does; a window that
        closed while the agent was not running (catch_up) is stamped with its end."""
        with self.lock:
            closing = self.window
            self.window = next_window(closing, now, self.period)
            metrics = self.plugin.push()
            refused, dropped, filtered = self.plugin.refused, self.dropped, self.filtered
            self.plugin.reset()
            self.dropped = self.filtered = 0
            self.dirty = True
        stamp = closing.end if catch_up else round_ns(now, self.precision)
        for metric in metrics:
            self._decorate(metric, stamp)
        for key, count in (("metrics_pushed", len(metrics)), ("metrics_dropped", dropped),
                           ("metrics_filtered", filtered), ("metrics_refused", refused)):
            self.totals[key] += count
        self._report(closing, refused, dropped, filtered)
        return metrics

    def snapshot(self) -> Optional[str]:
        """The state to save as JSON text, or None when nothing changed since the last one."""
        with self.lock:
            if not self.dirty:
                return None
            self.dirty = False
            return json.dumps({
                "version": 1, "plugin": self.label, "window": list(self.window),
                "dropped": self.dropped, "filtered": self.filtered,
                "refused": self.plugin.refused, "series": self.plugin.state(),
            }, separators=(",", ":"))

    def restore(self, data: Dict[str, Any]) -> None:
        """Take back a snapshot (its shape checked by aggstate); ValueError if the plugin's
        part is not what it saves."""
        with self.lock:
            self.plugin.restore(data.get("series"))
            self.plugin.refused = data.get("refused", 0)
            self.window = Window(*data["window"])
            self.dropped, self.filtered = data.get("dropped", 0), data.get("filtered", 0)

    def stats(self) -> Dict[str, int]:
        """Counters since start in Telegraf's internal_aggregate terms (for inputs.internal),
        and metrics_refused (max_series)."""
        with self.lock:
            current = {"metrics_dropped": self.dropped, "metrics_filtered": self.filtered,
                       "metrics_refused": self.plugin.refused}
        return {k: v + current.get(k, 0) for k, v in self.totals.items()}

    def _decorate(self, metric: Metric, stamp: int) -> None:
        common = self.config.common
        rename(metric, common)
        for key, value in (common["tags"] or {}).items():
            metric.tags.setdefault(key, value)
        metric.time = stamp

    def _report(self, window: Window, refused: int, dropped: int, filtered: int) -> None:
        lost = " and not sent (drop_original)" if self.drop_original else ""
        if refused:
            self.log.warning("%d metric(s) of new series were not aggregated%s: max_series = %d "
                             "reached in the window ending %s", refused, lost,
                             self.plugin.max_series, _when(window.end))
        if dropped:
            log = self.log.warning if self.drop_original else self.log.info
            log("%d metric(s) stamped outside the window ending %s (grace %gs, delay %gs) were "
                "not aggregated%s", dropped, _when(window.end), self.grace / NS,
                self.delay / NS, lost)
        if filtered:
            self.log.debug("%d metric(s) had no field left after the field filters", filtered)


def _when(time_ns: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time_ns // NS))
