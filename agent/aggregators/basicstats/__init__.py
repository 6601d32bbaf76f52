"""aggregators.basicstats: count, min, max, mean, s2, stdev, sum, diff, rate, ... per field of
each series and window, as Telegraf's plugins/aggregators/basicstats computes them.

Semantics from Telegraf's code (not its sample config): every numeric field (int, uint, float;
strings and booleans are skipped) becomes `<field>_<stat>`, all floats except `_interval`
(integer nanoseconds); `count` is a float. The mean and the variance are Welford's running
updates in the order values arrived; s2 is the sample variance (divided by count - 1). s2,
stdev, diff, non_negative_diff, rate, non_negative_rate, percent_change and interval need more
than one value: a field seen once in a window has none of them. diff is last - first,
interval the time from the first to the last value, rate = diff / interval (in seconds, from
the last value stamped differently from the first), percent_change = diff / first * 100; the
non_negative_ ones only when diff >= 0. first and last are in arrival order, not by timestamp.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from agent.aggregators.series import SeriesAggregator
from agent.plugin.options import Option

STATS = ("count", "min", "max", "mean", "s2", "stdev", "sum", "diff", "non_negative_diff",
         "rate", "non_negative_rate", "percent_change", "interval", "last", "first")
DEFAULT_STATS = ("count", "min", "max", "mean", "s2", "stdev")
NS = 1_000_000_000
# The per-field state: positions in its list.
COUNT, MIN, MAX, SUM, MEAN, M2, FIRST, LAST, FIRST_TIME, LAST_TIME, RATE = range(11)


class BasicStats(SeriesAggregator):
    name = "basicstats"
    description = "count, min, max, mean, s2, stdev, sum, diff, rate, ... of each field per period"
    options = (
        Option("stats", "str_list", None, "stats to push as <field>_<stat>; unset: "
               + ", ".join(DEFAULT_STATS) + "; [] pushes nothing"),
    )
    sample_config = (Path(__file__).parent / "sample.conf").read_text(encoding="utf-8")
    field_state_size = 11

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        chosen = DEFAULT_STATS if self.stats is None else self.stats
        self._single = tuple(s for s in ("count", "min", "max", "mean", "sum", "last", "first")
                             if s in chosen)
        self._multi = frozenset(chosen) - set(self._single)

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> List[Tuple[str, str]]:
        problems = []
        for stat in options.get("stats") or ():
            if stat == "variance":
                problems.append(("stats", 'unknown stat "variance": the variance is "s2" '
                                 "(Telegraf's sample config says variance; its code ignores it)"))
            elif stat not in STATS:
                problems.append(("stats", f"unknown stat {stat!r} (known: {', '.join(STATS)})"))
        return problems

    def fold(self, state: Optional[list], values: List[float], times: List[int]) -> list:
        if state is None:
            x, t = values[0], times[0]
            state = [1.0, x, x, x, x, 0.0, x, x, t, t, 0.0]
            values, times = values[1:], times[1:]
            if not values:
                return state
        n, mean, m2, total = state[COUNT], state[MEAN], state[M2], state[SUM]
        for x in values:  # Welford, exactly as Telegraf updates it value by value
            n += 1.0
            delta = x - mean
            mean += delta / n
            m2 += delta * (x - mean)
            total += x
        state[COUNT], state[MEAN], state[M2], state[SUM] = n, mean, m2, total
        _fold_extremes(state, values)
        state[LAST], state[LAST_TIME] = values[-1], times[-1]
        first_time = state[FIRST_TIME]
        for index in range(len(times) - 1, -1, -1):
            if times[index] != first_time:  # Telegraf keeps the rate of the last such value
                seconds = _go_seconds(times[index] - first_time)
                state[RATE] = (values[index] - state[FIRST]) / seconds
                break
        return state

    def render(self, field: str, state: list, out: Dict[str, Any]) -> None:
        for stat in self._single:
            out[f"{field}_{stat}"] = state[_SINGLE[stat]]
        if state[COUNT] <= 1 or not self._multi:
            return
        chosen = self._multi
        variance = state[M2] / (state[COUNT] - 1)
        diff = state[LAST] - state[FIRST]
        if "s2" in chosen:
            out[f"{field}_s2"] = variance
        if "stdev" in chosen:
            out[f"{field}_stdev"] = math.sqrt(variance)
        if "diff" in chosen:
            out[f"{field}_diff"] = diff
        if "non_negative_diff" in chosen and diff >= 0:
            out[f"{field}_non_negative_diff"] = diff
        if "rate" in chosen:
            out[f"{field}_rate"] = state[RATE]
        if "percent_change" in chosen:
            out[f"{field}_percent_change"] = _go_divide(diff, state[FIRST]) * 100
        if "non_negative_rate" in chosen and diff >= 0:
            out[f"{field}_non_negative_rate"] = state[RATE]
        if "interval" in chosen:
            out[f"{field}_interval"] = int(state[LAST_TIME] - state[FIRST_TIME])


_SINGLE = {"count": COUNT, "min": MIN, "max": MAX, "mean": MEAN, "sum": SUM, "last": LAST,
           "first": FIRST}


def _fold_extremes(state: list, values: List[float]) -> None:
    low, high = min(values), max(values)
    if low != low or high != high:  # a NaN first in the batch: compare one by one, as Go does
        low, high = state[MIN], state[MAX]
        for x in values:
            if x < low:
                low = x
            elif x > high:
                high = x
    if low < state[MIN]:
        state[MIN] = low
    if high > state[MAX]:
        state[MAX] = high


def _go_seconds(duration_ns: int) -> float:
    """Go's Duration.Seconds(): whole seconds plus the rest, both truncated toward zero."""
    seconds = abs(duration_ns) // NS * (1 if duration_ns >= 0 else -1)
    return float(seconds) + float(duration_ns - seconds * NS) / 1e9


def _go_divide(numerator: float, denominator: float) -> float:
    """Float division as in Go: x/0 is +Inf, -Inf or NaN (the serializer drops those)."""
    if denominator:
        return numerator / denominator
    if numerator != numerator or numerator == 0:
        return math.nan
    return math.copysign(math.inf, numerator) * math.copysign(1.0, denominator)
