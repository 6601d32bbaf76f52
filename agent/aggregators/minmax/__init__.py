"""aggregators.minmax: `<field>_min` and `<field>_max` (floats) of every numeric field of each
series per window, as Telegraf's plugins/aggregators/minmax (strings and booleans skipped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from agent.aggregators.series import SeriesAggregator


class MinMax(SeriesAggregator):
    name = "minmax"
    description = "the minimum and maximum of each field per period"
    sample_config = (Path(__file__).parent / "sample.conf").read_text(encoding="utf-8")
    field_state_size = 2

    def fold(self, state: Optional[list], values: List[float], times: List[int]) -> list:
        low, high = min(values), max(values)
        if low != low or high != high:  # a NaN first in the batch: one by one, as Go does
            return _one_by_one(state, values)
        if state is None:
            return [low, high]
        if low < state[0]:
            state[0] = low
        if high > state[1]:
            state[1] = high
        return state

    def render(self, field: str, state: list, out: Dict[str, Any]) -> None:
        out[f"{field}_min"] = state[0]
        out[f"{field}_max"] = state[1]


def _one_by_one(state: Optional[list], values: List[float]) -> list:
    if state is None:
        state, values = [values[0], values[0]], values[1:]
    for x in values:
        if x < state[0]:
            state[0] = x
        elif x > state[1]:
            state[1] = x
    return state
