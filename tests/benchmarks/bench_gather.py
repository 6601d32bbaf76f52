"""Gather cost: CPU microseconds per inputs.mem gather, encoding included, against the floor of
reading /proc/meminfo alone (open + read, nothing parsed).

Ours is the runner's path: RunningInput.gather() (MemInput.gather(), then tags, timestamp
rounding, filters) and the stdout output's Serializer.serialize_many(...).encode(). A second
row puts it beside what a user's script would do instead: psutil.virtual_memory() and an
influxdb-client Point with the same 34 fields, to_line_protocol().encode().

CPU time of this process (time.process_time_ns), `gathers` iterations per repeat, the median
of `repeats` repeats. The breakdown (read+parse, runner overhead, encoding) is in the notes.
"""

from __future__ import annotations

import gc
from typing import Callable, Dict, List

from tests.benchmarks.common import Context, cpu_timer, median
from tests.benchmarks.report import Row, Target


def per_call_us(call: Callable[[], object], iterations: int, repeats: int) -> float:
    results = []
    for _ in range(repeats):
        call()  # warm caches
        gc.collect()
        started = cpu_timer()
        for _ in range(iterations):
            call()
        results.append((cpu_timer() - started) / iterations / 1000)
    return median(results)


def floor() -> bytes:
    with open("/proc/meminfo", "rb") as handle:
        return handle.read()


def running_mem():
    from agent.config.loader import parse
    from agent.engine.running import RunningInput, hostname

    config = parse("[[inputs.mem]]\n", "bench")
    return RunningInput(config.inputs[0], config, hostname(config.agent))


def psutil_point() -> Callable[[], bytes]:
    import psutil
    from influxdb_client import Point

    host = running_mem().global_tags.get("host", "")

    def gather() -> bytes:
        vm = psutil.virtual_memory()
        point = Point("mem").tag("host", host)
        for key, value in vm._asdict().items():
            point.field(key, value)
        swap = psutil.swap_memory()
        for key in ("total", "free", "used"):
            point.field(f"swap_{key}", getattr(swap, key))
        return point.to_line_protocol().encode()

    return gather


def measure(ctx: Context) -> Dict[str, float]:
    from agent.lineprotocol.serializer import Serializer

    running = running_mem()
    serializer = Serializer()

    def ours() -> bytes:
        return serializer.serialize_many(running.gather()).encode("utf-8")

    metrics = running.gather()
    n, r = ctx.settings.gathers, ctx.settings.repeats
    return {
        "ours": per_call_us(ours, n, r),
        "floor": per_call_us(floor, n, r),
        "plugin_gather": per_call_us(running.plugin.gather, n, r),
        "running_gather": per_call_us(running.gather, n, r),
        "encode": per_call_us(lambda: serializer.serialize_many(metrics).encode("utf-8"), n, r),
        "psutil_point": per_call_us(psutil_point(), n, r),
        "fields": len(metrics[0].fields),
    }


def run(ctx: Context) -> List[Row]:
    ctx.log(f"gather: {ctx.settings.gathers} gathers x {ctx.settings.repeats} repeats")
    us = measure(ctx)
    notes = (f"MemInput.gather {us['plugin_gather']:.1f} us, RunningInput.gather "
             f"{us['running_gather']:.1f} us, encode {us['encode']:.1f} us")
    return [
        Row("gather", "mem gather + encode, CPU per gather", us["ours"], "us", us["floor"],
            "floor: read /proc/meminfo", Target("ratio_max", 4), notes=notes, details=us),
        Row("gather", "mem gather + encode vs psutil + Point", us["ours"], "us",
            us["psutil_point"], "psutil.virtual_memory+Point", details=us),
    ]
