"""InfluxDB 1.x as the judge of the aggregators' math.

The points a window took are written to a judge measurement, each stamped inside its window in
the order the aggregator received it (a late point rolled into the next window is counted
there, as Telegraf does; first/last are by arrival): InfluxQL's COUNT, MIN, MAX, MEAN, STDDEV,
SUM, FIRST and LAST, GROUP BY time(period) and every tag, then give each window's summary.
Ours are compared with those, window by window and series by series.
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, List, Tuple

from agent.lineprotocol.metric import Metric
from agent.lineprotocol.serializer import Serializer

STATS = ("count", "min", "max", "mean", "stdev", "sum", "first", "last")
INFLUXQL = {"count": "COUNT", "min": "MIN", "max": "MAX", "mean": "MEAN", "stdev": "STDDEV",
            "sum": "SUM", "first": "FIRST", "last": "LAST"}
Key = Tuple[int, Tuple[Tuple[str, str], ...]]  # (window start ns, sorted tags)
Summary = Dict[str, float]


def write_judge(influxdb1, db: str, name: str, taken: Dict[int, List[Metric]]) -> int:
    """Write what each window (by start) took, in arrival order, stamped start + position."""
    lines = []
    for start, metrics in taken.items():
        for position, metric in enumerate(metrics):
            lines.append(Metric(name, dict(metric.fields), dict(metric.tags), start + position))
    status, text = influxdb1.write(Serializer().serialize_many(lines), db=db)
    assert status == 204, text
    return len(lines)


def judged(influxdb1, db: str, name: str, field: str, period_s: float, since: int,
           until: int) -> Dict[Key, Summary]:
    """InfluxQL's summary of `field` per window and series."""
    columns = ", ".join(f'{INFLUXQL[s]}("{field}") AS "{s}"' for s in STATS)
    query = (f'SELECT {columns} FROM "{name}" WHERE time >= {since} AND time < {until} '
             f"GROUP BY time({int(period_s * 1000)}ms), * fill(none)")
    result = influxdb1.query(query, db=db)["results"][0]
    assert "error" not in result, result
    found: Dict[Key, Summary] = {}
    for series in result.get("series", []):
        tags = tuple(sorted((k, v) for k, v in (series.get("tags") or {}).items() if v))
        for row in series["values"]:
            values = dict(zip(series["columns"], row))
            start = values.pop("time")
            found[(start, tags)] = {k: v for k, v in values.items() if v is not None}
    return found


def ours(pushed: Iterable[Metric], field: str, period_ns: int) -> Dict[Key, Summary]:
    """Our pushed summaries, keyed like judged(): a push is stamped at its window's end (on
    time: when it was pushed, a moment later, rounded to the precision)."""
    found: Dict[Key, Summary] = {}
    for metric in pushed:
        summary = {s: metric.fields[f"{field}_{s}"] for s in STATS
                   if f"{field}_{s}" in metric.fields}
        if summary:
            start = metric.time // period_ns * period_ns - period_ns
            found[(start, tuple(sorted(metric.tags.items())))] = summary
    return found


def assert_same(ours_: Dict[Key, Summary], judge: Dict[Key, Summary]) -> None:
    assert set(ours_) == set(judge), (sorted(set(ours_) - set(judge)),
                                      sorted(set(judge) - set(ours_)))
    for key, expected in judge.items():
        got = ours_[key]
        assert set(got) == set(expected), (key, got, expected)  # stdev: only with count > 1
        assert got["count"] == expected["count"], (key, got, expected)
        for stat, value in expected.items():
            assert math.isclose(got[stat], value, rel_tol=1e-9, abs_tol=1e-9), \
                (key, stat, got[stat], value)
