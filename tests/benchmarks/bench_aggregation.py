"""Aggregation: CPU per metric that [[aggregators.basicstats]] adds, beside what gathering and
encoding the same metric costs (issue #15: less than 50 % more).

100k metrics of 3 fields (two floats, one int) over 50 series (room x device), stamped inside
one window, in batches of 50 (one gather of every series). Ours: what Agent.emit adds for an
aggregator (Aggregation.split + add: filters, the window check, filing under the series, and
folding the values into count, min, max, mean, s2 and stdev every 10,000 metrics) plus the
push at the window's end (the last fold, rendering the 50 summaries). Peer: gathering and
encoding the metric: building it (an input's least work), RunningInput.take (tags, precision,
filters) and Serializer.serialize_many(...).encode(). CPU time of this process, median of
`repeats`. A state file save (JSON) is in the notes: it runs at most once a second, whatever
the rate of metrics.
"""

from __future__ import annotations

import gc
from typing import Dict, List, Tuple

from tests.benchmarks.common import Context, cpu_timer, median
from tests.benchmarks.report import Row, Target

NS = 1_000_000_000
START_NS = 1_700_000_000 * NS
BATCH = 50
Raw = List[Tuple[Dict[str, object], Dict[str, str], int]]


def raw_metrics(count: int) -> Raw:
    return [({"temperature": 20 + i % 100 / 10, "humidity": 40 + i % 37 / 7, "co2": 400 + i % 600},
             {"room": f"room{i % 10}", "device": f"dev{i // 10 % 5}"}, START_NS + i * 1000)
            for i in range(count)]


def gather_and_encode(raw: Raw) -> Tuple[int, list]:
    """CPU ns of building, decorating and encoding every metric (the peer); the metrics."""
    from agent.config.loader import parse
    from agent.engine.running import RunningInput, hostname
    from agent.lineprotocol.metric import Metric
    from agent.lineprotocol.serializer import Serializer

    config = parse("[[inputs.mem]]\n", "bench")
    running = RunningInput(config.inputs[0], config, hostname(config.agent))
    serializer = Serializer()
    gathered = []
    gc.collect()
    started = cpu_timer()
    for offset in range(0, len(raw), BATCH):
        metrics = running.take([Metric("climate", dict(f), dict(t), ts)
                                for f, t, ts in raw[offset:offset + BATCH]])
        serializer.serialize_many(metrics).encode("utf-8")
        gathered.append(metrics)
    return cpu_timer() - started, gathered


def aggregate(batches: list) -> Tuple[int, int, int, list]:
    """CPU ns of adding every batch and of the push; ns of one state save; the summaries."""
    from agent.config.loader import parse
    from agent.engine.aggregation import Aggregation

    config = parse('[[inputs.mem]]\n[[aggregators.basicstats]]\nperiod = "1h"\n', "bench")
    pushed: list = []
    aggregation = Aggregation(config, pushed.extend, None, clock=lambda: START_NS + 1)
    running = aggregation.aggregators[0]
    running.window = running.window._replace(start=START_NS, end=START_NS + 3600 * NS)
    gc.collect()
    started = cpu_timer()
    for metrics in batches:
        forwarded, chosen = aggregation.split(metrics)
        aggregation.add(chosen)
    added = cpu_timer()
    pushed.extend(running.close(START_NS + 3600 * NS))
    pushing = cpu_timer() - added
    running.dirty = True
    saving = cpu_timer()
    running.snapshot()
    return added - started, pushing, cpu_timer() - saving, pushed


def measure(ctx: Context) -> Dict[str, float]:
    count = ctx.settings.metrics
    raw = raw_metrics(count)
    runs = []
    for _ in range(ctx.settings.repeats):
        peer_ns, batches = gather_and_encode(raw)
        add_ns, push_ns, save_ns, pushed = aggregate(batches)
        assert len(pushed) == 50 and sum(m.fields["co2_count"] for m in pushed) == count
        runs.append((peer_ns, add_ns, push_ns, save_ns))
    peer = median([r[0] for r in runs]) / count / 1000
    add = median([r[1] for r in runs]) / count / 1000
    push = median([r[2] for r in runs]) / count / 1000
    return {"peer_us": peer, "add_us": add, "push_us": push, "ours_us": add + push,
            "save_ms": median([r[3] for r in runs]) / 1e6, "metrics": count}


def run(ctx: Context) -> List[Row]:
    ctx.log(f"aggregation: {ctx.settings.metrics} metrics x {ctx.settings.repeats} repeats")
    us = measure(ctx)
    notes = (f"add {us['add_us']:.2f} us (filters, window, series; values folded every 10,000 "
             f"metrics) + push {us['push_us']:.2f} us per metric; gather + encode "
             f"{us['peer_us']:.2f} us; one state save (50 series) {us['save_ms']:.2f} ms")
    return [Row("aggregation", "basicstats, CPU per metric (3 fields, 50 series)", us["ours_us"],
                "us", us["peer_us"], "gather + encode the metric", Target("ratio_max", 0.5),
                notes=notes, details=us)]
