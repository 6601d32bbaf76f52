"""basicstats through the engine (injected clock, restarts from the state directory between
windows and inside them), judged by InfluxDB 1.x: InfluxQL's COUNT, MIN, MAX, MEAN, STDDEV,
SUM, FIRST and LAST over the same points, grouped by the same windows. The raw points go to
InfluxDB too, every one of them (those outside a window included)."""

import random

from agent.config.loader import parse
from agent.engine.aggregation import Aggregation
from agent.lineprotocol.serializer import Serializer
from tests.aggregators import judge
from tests.aggregators.points import batch, windows_plan

NS = 1_000_000_000
MS = 1_000_000
PERIOD, GRACE, DELAY = 2 * NS, 1 * NS, 100 * MS
CONFIG = """
[agent]
  buffer_directory = "{state}"
[[inputs.mem]]
[[aggregators.basicstats]]
  period = "2s"
  grace = "1s"
  stats = ["count", "min", "max", "mean", "stdev", "sum", "first", "last"]
"""


class Clock:
    now = 0

    def __call__(self):
        return self.now


def test_summaries_equal_influxql_over_the_same_windows(influxdb1, tmp_path):
    config = parse(CONFIG.format(state=tmp_path), "judged.toml", {})
    clock, pushed, rng = Clock(), [], random.Random(15)
    start = 1_700_000_000 * NS + 7 * PERIOD  # aligned: a multiple of 2 s
    clock.now = start + 300 * MS
    agg = None
    taken, raw = {}, []
    for index, skip in windows_plan(8).items():
        window_start = start + index * PERIOD
        if agg is None or index % 3 == 1:  # a restart (from the state directory) now and then
            if agg is not None:
                agg.stop()
            agg = Aggregation(config, pushed.extend, str(tmp_path), clock=clock)
            agg.start()
        fed, accepted = batch(rng, window_start, PERIOD, GRACE, DELAY, index, skip)
        half = len(fed) // 2
        clock.now = window_start + 300 * MS
        _feed(agg, fed[:half])
        if index == 4:  # and one inside a window, between two halves of its points
            agg.stop()
            agg = Aggregation(config, pushed.extend, str(tmp_path), clock=clock)
            agg.start()
        clock.now = window_start + 900 * MS
        _feed(agg, fed[half:])
        raw.extend(fed)
        if accepted:
            taken[window_start] = accepted
        clock.now = window_start + PERIOD + 5 * MS
        agg.tick()
    agg.stop()

    influxdb1.create_database("judge_inproc")
    influxdb1.create_database("raw_inproc")
    status, text = influxdb1.write(Serializer().serialize_many(raw), db="raw_inproc")
    assert status == 204, text
    (row,) = influxdb1.rows('SELECT COUNT("t") FROM climate', db="raw_inproc")
    assert row["count"] == len(raw)  # every raw point is there, late and early ones too
    judge.write_judge(influxdb1, "judge_inproc", "climate", taken)
    until = start + 9 * PERIOD
    for field in ("co2", "t"):
        expected = judge.judged(influxdb1, "judge_inproc", "climate", field, 2.0, start, until)
        assert len(expected) == 3 * 7 - 2  # 3 rooms x 7 windows with points, c missing twice
        judge.assert_same(judge.ours(pushed, field, PERIOD), expected)
    assert all(m.time == m.time // PERIOD * PERIOD for m in pushed)  # stamped at a window end


def _feed(agg, metrics):
    forwarded, batches = agg.split(metrics)
    assert forwarded == metrics  # drop_original = false: every raw point goes on
    agg.add(batches)
