"""What InfluxDB 1.x makes of a /write body, decided from the body alone: which points it
keeps, and its status and error text ("partial write: ... dropped=N").

Besides the lines it cannot parse, InfluxDB 1.x drops, and counts in dropped=N: a point with
a "time" tag, a point whose only field is "time" (a "time" field is otherwise left out), and
a point whose field has another type than the same field of an earlier point of the request
in the same shard (a week), or than its own earlier field of that name. Fields are learnt in
line order up to a point's first conflict, also from points that are then dropped. The first
type conflict is the reason given, else the first "time" problem; lines that did not parse
are then not mentioned. Conflicts with what the database already holds cannot be known here
(the output's dead-letter file receives those), nor InfluxDB's refusal of a whole first write
into a new shard that names a field twice with two types.
"""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Tuple

from agent.lineprotocol.metric import Metric, UInt
from agent.parsers.influxdb_points import Points

_TYPE_NAMES = {int: "integer", float: "float", str: "string", bool: "boolean",
               UInt: "unsigned"}
_WEEK_NS = 7 * 86400 * 1_000_000_000
_YEAR_ONE_NS = 62135596800 * 1_000_000_000  # Go's zero time: shards align to its Mondays


class Verdict(NamedTuple):
    kept: List[Metric]
    status: int  # 204, or 400
    error: str  # InfluxDB's "error" text for a 400


def judge(points: Points) -> Verdict:
    parse_errors = [rejected.message for rejected in points.rejected]
    if not points.metrics:
        return Verdict([], 400 if parse_errors else 204, "\n".join(parse_errors))
    kept, dropped, reason = _validate(points.metrics, points.field_orders)
    if dropped:
        return Verdict(kept, 400, f"partial write: {reason} dropped={dropped}")
    if parse_errors:
        return Verdict(kept, 400, f"partial write: {chr(10).join(parse_errors)} dropped=0")
    return Verdict(kept, 204, "")


def _validate(metrics: List[Metric], orders: Dict[int, List[Tuple[str, type]]]
              ) -> Tuple[List[Metric], int, str]:
    kept: List[Metric] = []
    types: Dict[Tuple[str, str, int], str] = {}
    dropped = 0
    conflict = time_problem = ""
    for index, metric in enumerate(metrics):
        problem = _time_problem(metric)
        if problem:
            dropped += 1
            time_problem = time_problem or problem
            continue
        order = orders.get(index) or [(k, type(v)) for k, v in metric.fields.items()]
        clash = _learn(metric, order, types)
        if clash:
            dropped += 1
            conflict = conflict or clash
            continue
        kept.append(metric)
    return kept, dropped, conflict or time_problem


def _time_problem(metric: Metric) -> str:
    """InfluxDB's reason to drop a point over the name "time"; leaves out a "time" field."""
    if "time" in metric.tags:
        return f'invalid tag key: input tag "time" on measurement "{metric.name}" is invalid'
    if "time" in metric.fields:
        metric.fields = {k: v for k, v in metric.fields.items() if k != "time"}
        if not metric.fields:
            return (f'invalid field name: input field "time" on measurement "{metric.name}" '
                    "is invalid")
    return ""


def _learn(metric: Metric, order: List[Tuple[str, type]],
           types: Dict[Tuple[str, str, int], str]) -> str:
    """Learn the point's field types in line order; the first conflict's reason, or ""."""
    shard = (metric.time + _YEAR_ONE_NS) // _WEEK_NS
    for key, kind in order:
        if key == "time":
            continue
        name = _TYPE_NAMES[kind]
        known = types.setdefault((metric.name, key, shard), name)
        if known != name:
            return (f'field type conflict: input field "{key}" on measurement '
                    f'"{metric.name}" is type {name}, already exists as type {known}')
    return ""
