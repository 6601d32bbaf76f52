"""What basicstats and minmax share: series keyed by name and tags (Telegraf's HashID), the
numeric fields of each, and a per-field state folded from them.

add() only files a metric's fields under its series; the values are folded into the per-field
state in batches (at push, at each checkpoint, and every FOLD_EVERY metrics), a column at a
time with C-level builtins, which costs far less per metric than updating every statistic for
every value as it comes. Folding a batch gives the same results as Telegraf's value-by-value
updates: values are folded in the order they were added.
"""

from __future__ import annotations

from itertools import chain
from operator import itemgetter
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from agent.lineprotocol.metric import Metric, UInt
from agent.plugin.base import Aggregator

FOLD_EVERY = 10_000  # metrics held unfolded at most (memory stays bounded between checkpoints)
_FLOAT = frozenset({float})
_NUMERIC = frozenset({int, float, UInt})  # Telegraf's convert(): int64, uint64, float64
Column = Tuple[List[float], List[int]]  # a field's numeric values (as floats) and their times


class Series:
    __slots__ = ("name", "tags", "fields", "times", "state")

    def __init__(self, name: str, tags: Dict[str, str]) -> None:
        self.name = name
        self.tags = tags
        self.fields: List[Dict[str, Any]] = []  # added, not folded yet
        self.times: List[int] = []
        self.state: Dict[str, list] = {}  # field -> the plugin's per-field state

    def columns(self) -> Iterator[Tuple[str, Column]]:
        """Each field's numeric values and times since the last fold, in order; then empties."""
        fields, times = self.fields, self.times
        self.fields, self.times = [], []
        if not fields:
            return
        keys = list(fields[0])
        columns = _same_keys(fields, keys)
        if columns is not None:
            for key, values in zip(keys, columns):
                yield from _numeric(key, values, times)
            return
        for key in dict.fromkeys(chain.from_iterable(fields)):
            pairs = [(f[key], t) for f, t in zip(fields, times) if key in f]
            yield from _numeric(key, [v for v, _ in pairs], [t for _, t in pairs])


def _same_keys(fields: List[Dict[str, Any]], keys: List[str]) -> Optional[List[list]]:
    """Each key's values when every dict has exactly these keys (the usual case), else None:
    each has them all (no KeyError) and no other (the sizes add up)."""
    if sum(map(len, fields)) != len(keys) * len(fields):
        return None
    try:
        return [list(map(itemgetter(key), fields)) for key in keys]
    except KeyError:
        return None


def _numeric(key: str, values: list, times: List[int]) -> Iterator[Tuple[str, Column]]:
    kinds = set(map(type, values))
    if kinds <= _FLOAT:
        yield key, (values, times)
    elif kinds <= _NUMERIC:
        yield key, (list(map(float, values)), times)
    else:  # strings and booleans are not aggregated
        kept = [(float(v), t) for v, t in zip(values, times) if type(v) in _NUMERIC]
        if kept:
            yield key, ([v for v, _ in kept], [t for _, t in kept])


class SeriesAggregator(Aggregator):
    """An aggregator whose state is one value list per numeric field of each series."""

    field_state_size = 0  # the length of a per-field state list (checked on restore)

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.reset()

    # -- what a plugin defines
    def fold(self, state: Optional[list], values: List[float], times: List[int]) -> list:
        """The field's state after `values` (stamped `times`), from `state` (None: new)."""
        raise NotImplementedError

    def render(self, field: str, state: list, out: Dict[str, Any]) -> None:
        """Put the pushed fields of one field's state into out."""
        raise NotImplementedError

    # -- the Aggregator protocol
    def reset(self) -> None:
        self._series: Dict[tuple, Series] = {}  # canonical key (name, sorted tags) -> Series
        self._aliases: Dict[tuple, Series] = {}  # (name, tags in their order) -> Series
        self._unfolded = 0
        self.refused = 0

    def add(self, metric: Metric) -> None:
        self.add_many((metric,))

    def add_many(self, metrics: Sequence[Metric]) -> None:
        aliases = self._aliases
        for metric in metrics:
            series = aliases.get((metric.name, *metric.tags.items()))
            if series is None:
                series = self._series_of(metric)
                if series is None:
                    self.refused += 1
                    continue
            series.fields.append(metric.fields)
            series.times.append(metric.time)
        self._unfolded += len(metrics)
        if self._unfolded >= FOLD_EVERY:
            self._fold_all()

    def push(self) -> List[Metric]:
        self._fold_all()
        pushed = []
        for series in self._series.values():
            fields: Dict[str, Any] = {}
            for field, state in series.state.items():
                self.render(field, state, fields)
            if fields:
                pushed.append(Metric(series.name, fields, dict(series.tags)))
        return pushed

    def state(self) -> Any:
        self._fold_all()
        return [[s.name, s.tags, s.state] for s in self._series.values()] or None

    def restore(self, state: Any) -> None:
        """Take back state(); ValueError when it does not have the expected shape."""
        self.reset()
        for entry in state or ():
            name, tags, fields = _entry(entry, self.field_state_size)
            series = Series(name, tags)
            series.state = fields
            self._series[(name, tuple(sorted(tags.items())))] = series

    @property
    def series_count(self) -> int:
        return len(self._series)

    # -- internals
    def _series_of(self, metric: Metric) -> Optional[Series]:
        key = (metric.name, tuple(sorted(metric.tags.items())))
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= self.max_series:
                return None
            series = self._series[key] = Series(metric.name, dict(metric.tags))
        if len(self._aliases) >= 4 * self.max_series:
            self._aliases.clear()  # tag orders seen: bounded too
        self._aliases[(metric.name, *metric.tags.items())] = series
        return series

    def _fold_all(self) -> None:
        fold = self.fold
        for series in self._series.values():
            state = series.state
            for field, (values, times) in series.columns():
                state[field] = fold(state.get(field), values, times)
        self._unfolded = 0


def _entry(entry: Any, size: int) -> Tuple[str, Dict[str, str], Dict[str, list]]:
    if not (isinstance(entry, list) and len(entry) == 3):
        raise ValueError(f"expected [name, tags, fields], got {str(entry)[:60]}")
    name, tags, fields = entry
    if not (isinstance(name, str) and isinstance(tags, dict) and isinstance(fields, dict)):
        raise ValueError(f"expected [name, tags, fields], got {str(entry)[:60]}")
    if not all(isinstance(v, str) for v in tags.values()):
        raise ValueError(f"{name}: tag values must be strings, got {str(tags)[:60]}")
    for field, state in fields.items():
        if not (isinstance(state, list) and len(state) == size
                and all(type(v) in (int, float) for v in state)):
            raise ValueError(f"{name} {field}: expected {size} numbers, got {str(state)[:60]}")
    return name, dict(tags), {k: list(v) for k, v in fields.items()}
