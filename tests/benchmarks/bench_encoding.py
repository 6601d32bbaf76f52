"""Encoding: lines per second of our serializer against influxdb-client's Point, same metrics.

Two shapes: `mem` (34 fields, from a real inputs.mem gather, values varied per metric) and a
sensor (2 tags, 3 fields: 100 series). Two comparisons per shape, both CPU time of this process:

- build + encode: `Metric(name, fields, tags, time)` + `Serializer.serialize_many` against
  `Point(name).tag(..).field(..).time(..)` + `to_line_protocol()` (and `Point.from_dict`; the
  faster of the two counts), from the same field/tag dicts: what a user's script pays either way;
- encode only: the Metric objects and the Points are built outside the timed region.

Metrics are processed in chunks of 10k (the data for a chunk is built untimed), so memory stays
small; the same chunks go to both sides. A sample of both outputs is parsed back and compared.
"""

from __future__ import annotations

import gc
import sys
from functools import partial
from typing import Callable, Dict, List, Tuple

from tests.benchmarks.common import Context, cpu_timer, median
from tests.benchmarks.report import Row, Target

CHUNK = 10_000
START_NS = 1_700_000_000_000_000_000
Data = List[Tuple[Dict[str, str], Dict[str, object], int]]  # (tags, fields, time)


def mem_data(count: int, offset: int) -> Data:
    from agent.inputs.mem import MemInput
    from agent.lineprotocol.metric import UInt

    template = MemInput().gather()[0].fields
    rows = []
    for i in range(offset, offset + count):
        fields = {k: (v + i * 1e-9 if type(v) is float else UInt(v + i * 4096))
                  for k, v in template.items()}
        rows.append(({"host": "bench"}, fields, START_NS + i * 1_000_000_000))
    return rows


def sensor_data(count: int, offset: int) -> Data:
    return [({"room": f"room{i % 10}", "device": f"dev{i // 10 % 10}"},
             {"temperature": 20 + i % 100 / 10, "humidity": 40 + i % 37 / 7, "co2": 400 + i % 600},
             START_NS + i * 1_000_000)
            for i in range(offset, offset + count)]


def ours_build_encode(name: str, data: Data) -> str:
    from agent.lineprotocol.metric import Metric
    from agent.lineprotocol.serializer import Serializer

    return Serializer().serialize_many([Metric(name, f, t, ts) for t, f, ts in data])


def peer_chained(name: str, data: Data) -> str:
    from influxdb_client import Point, WritePrecision

    ns = WritePrecision.NS
    lines = []
    for tags, fields, ts in data:
        point = Point(name)
        for key, value in tags.items():
            point.tag(key, value)
        for key, value in fields.items():
            point.field(key, value)
        lines.append(point.time(ts, ns).to_line_protocol())
    return "\n".join(lines)


def peer_from_dict(name: str, data: Data) -> str:
    from influxdb_client import Point, WritePrecision

    ns = WritePrecision.NS
    return "\n".join([Point.from_dict({"measurement": name, "tags": t, "fields": f, "time": ts},
                                      ns).to_line_protocol() for t, f, ts in data])


def build_metrics(name: str, data: Data) -> list:
    from agent.lineprotocol.metric import Metric

    return [Metric(name, f, t, ts) for t, f, ts in data]


def build_points(name: str, data: Data) -> list:
    from influxdb_client import Point, WritePrecision

    return [Point.from_dict({"measurement": name, "tags": t, "fields": f, "time": ts},
                            WritePrecision.NS) for t, f, ts in data]


def ours_encode(metrics: list) -> str:
    from agent.lineprotocol.serializer import Serializer

    return Serializer().serialize_many(metrics)


def peer_encode(points: list) -> str:
    return "\n".join([p.to_line_protocol() for p in points])


def _timed(call: Callable[[], str]) -> Tuple[int, str]:
    gc.collect()
    started = cpu_timer()
    out = call()
    return cpu_timer() - started, out


def measure(name: str, make: Callable[[int, int], Data], count: int) -> Dict[str, float]:
    """CPU ns per side, summed over the chunks of one pass over `count` metrics."""
    sides = ("ours", "chained", "from_dict", "ours_encode", "peer_encode")
    totals = dict.fromkeys(sides, 0)
    for offset in range(0, count, CHUNK):
        data = make(min(CHUNK, count - offset), offset)
        metrics, points = build_metrics(name, data), build_points(name, data)
        runs = {
            "ours": partial(ours_build_encode, name, data),
            "chained": partial(peer_chained, name, data),
            "from_dict": partial(peer_from_dict, name, data),
            "ours_encode": partial(ours_encode, metrics),
            "peer_encode": partial(peer_encode, points),
        }
        outputs = {}
        for side in sides:
            elapsed, outputs[side] = _timed(runs[side])
            totals[side] += elapsed
        if offset == 0:
            check_same(outputs)
        del data, metrics, points, runs, outputs
    return {side: count / (ns / 1e9) for side, ns in totals.items()}


def check_same(outputs: Dict[str, str], sample: int = 200) -> None:
    """Both libraries must have written the same metrics (floats may differ in spelling)."""
    from agent.lineprotocol.parser import parse_metrics

    parsed = {side: parse_metrics("\n".join(text.splitlines()[:sample]) + "\n")
              for side, text in outputs.items()}
    reference = parsed["ours"]
    for side, metrics in parsed.items():
        if metrics != reference:
            raise AssertionError(f"encoding: {side} wrote different metrics than ours")


def shape_rows(shape: str, name: str, make, ctx: Context) -> List[Row]:
    settings = ctx.settings
    passes = [measure(name, make, settings.metrics) for _ in range(settings.repeats)]
    rate = {side: median([p[side] for p in passes]) for side in passes[0]}
    peer_best = max(rate["chained"], rate["from_dict"])
    how = "chained" if rate["chained"] >= rate["from_dict"] else "from_dict"
    details = {"metrics": settings.metrics, "repeats": settings.repeats, "lines_per_s": rate,
               "peer_build": how}
    target = Target("ratio_min", 5)
    return [
        Row("encoding", f"encode {shape}: Metric()+serialize", rate["ours"], "lines/s",
            peer_best, "Point()+to_line_protocol", target, details=details),
        Row("encoding", f"encode {shape}: serialize only", rate["ours_encode"],
            "lines/s", rate["peer_encode"], "to_line_protocol", target, details=details),
    ]


def run(ctx: Context) -> List[Row]:
    import influxdb_client

    ctx.log(f"encoding: {ctx.settings.metrics} metrics per shape, influxdb-client "
            f"{influxdb_client.__version__}, Python {sys.version.split()[0]}")
    rows = shape_rows("mem", "mem", mem_data, ctx)
    rows += shape_rows("sensor", "sensor", sensor_data, ctx)
    return rows
