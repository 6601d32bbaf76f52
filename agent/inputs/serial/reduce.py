"""What a gather emits from the readings since the last one: all, the last, or statistics.

- all: every reading with its own time (bounded: the oldest beyond the limit are dropped);
- last: per series (measurement + tags), the latest value of each field, at the latest time;
- mean: per series and numeric field, <field>_mean (float), _min, _max (the field's type) and
  _count (int), named like Telegraf's basicstats aggregator; other fields keep their last value.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Dict, List, Tuple

from agent.lineprotocol.metric import Metric

MODES = ("all", "last", "mean")
SeriesKey = Tuple[str, Tuple[Tuple[str, str], ...]]


class Reducer:
    def __init__(self, mode: str = "all", limit: int = 10000,
                 on_drop: Callable[[int], None] = lambda count: None) -> None:
        if mode not in MODES:
            raise ValueError(f"reduce must be one of {', '.join(MODES)}")
        self.mode = mode
        self.on_drop = on_drop
        self._all: deque = deque(maxlen=limit)
        self._series: Dict[SeriesKey, _Series] = {}

    def add(self, metric: Metric) -> None:
        if self.mode == "all":
            if len(self._all) == self._all.maxlen:
                self.on_drop(1)
            self._all.append(metric)
            return
        key = (metric.name, tuple(sorted(metric.tags.items())))
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(metric.name, dict(metric.tags))
        series.add(metric)

    def take(self) -> List[Metric]:
        """What to emit now; starts a new window."""
        if self.mode == "all":
            metrics = list(self._all)
            self._all.clear()
            return metrics
        series, self._series = self._series, {}
        if self.mode == "last":
            return [s.last() for s in series.values()]
        return [s.stats() for s in series.values()]


class _Series:
    __slots__ = ("name", "tags", "time", "values", "numbers")

    def __init__(self, name: str, tags: Dict[str, str]) -> None:
        self.name = name
        self.tags = tags
        self.time = None
        self.values: Dict[str, object] = {}
        self.numbers: Dict[str, List] = {}  # field -> [count, sum, min, max]

    def add(self, metric: Metric) -> None:
        self.time = metric.time
        self.values.update(metric.fields)
        for key, value in metric.fields.items():
            if type(value) is bool or not isinstance(value, (int, float)):
                continue
            stats = self.numbers.get(key)
            if stats is None:
                self.numbers[key] = [1, value, value, value]
            else:
                stats[0] += 1
                stats[1] += value
                stats[2] = min(stats[2], value)
                stats[3] = max(stats[3], value)

    def last(self) -> Metric:
        return Metric(self.name, dict(self.values), dict(self.tags), self.time)

    def stats(self) -> Metric:
        fields: Dict[str, object] = {}
        for key, value in self.values.items():
            if key not in self.numbers:
                fields[key] = value
                continue
            count, total, low, high = self.numbers[key]
            fields.update({f"{key}_count": count, f"{key}_max": high,
                           f"{key}_mean": total / count, f"{key}_min": low})
        return Metric(self.name, fields, dict(self.tags), self.time)
