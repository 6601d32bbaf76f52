"""Footprint: peak RSS and wall time of one-shot processes, each run fresh, interleaved.

- `agent run --once`: the embedded default (inputs.mem to stdout, into a file here);
- `agent run --once --config X`: inputs.mem to outputs.influxdb_v2 (VictoriaMetrics), disk spool;
- `python -c "import psutil; psutil.virtual_memory()"`: the bare interpreter + psutil;
- a seed-style script: psutil + influxdb-client writing one Point (SYNCHRONOUS) to the same server.

Peak RSS is the child's ru_maxrss from wait4(); wall time is fork to reaping. The median of
`runs` runs per command. Each agent run's output is checked (a mem line on stdout; every
written point counted in the server afterwards).
"""

from __future__ import annotations

from typing import Dict, List

from tests.benchmarks.common import (
    AGENT,
    PYTHON,
    ChildRun,
    Context,
    clean_env,
    failure,
    median,
    run_logged,
    vm_scalar,
)
from tests.benchmarks.report import Row, Target

PSUTIL = "import psutil; psutil.virtual_memory()"
SEED = """\
import os, socket
import psutil
from influxdb_client import InfluxDBClient, Point
from influxdb_client.client.write_api import SYNCHRONOUS

point = Point("mem").tag("host", socket.gethostname()).tag("bench", os.environ["BENCH_TAG"])
for key, value in psutil.virtual_memory()._asdict().items():
    point.field(key, value)
with InfluxDBClient(url=os.environ["BENCH_URL"], token="bench", org="bench") as client:
    client.write_api(write_options=SYNCHRONOUS).write(bucket="bench", record=point)
"""
CONFIG = """\
[agent]
  buffer_directory = "{spool}"
[global_tags]
  bench = "${{BENCH_TAG}}"
[[inputs.mem]]
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  token = "bench"
  organization = "bench"
  bucket = "bench"
"""


def commands(ctx: Context, url: str) -> Dict[str, list]:
    tmp = ctx.tempdir("footprint")
    config = tmp / "influx.toml"
    config.write_text(CONFIG.format(spool=tmp / "spool", url=url))
    return {
        "stdout": [*AGENT, "run", "--once"],
        "influx": [*AGENT, "run", "--once", "--config", str(config)],
        "psutil": [PYTHON, "-c", PSUTIL],
        "seed": [PYTHON, "-c", SEED],
    }


def one_run(ctx: Context, name: str, cmd: list, url: str, index: int) -> ChildRun:
    out = ctx.tmp / "footprint.out"
    env = clean_env(BENCH_URL=url, BENCH_TAG=f"footprint-{name}-{index}")
    with open(out, "wb") as stdout:
        run = run_logged(ctx, cmd, timeout=60, stdout=stdout, env=env)
    if run.code != 0:
        raise failure(f"{name} run {index}", run)
    if name == "stdout" and not out.read_bytes().startswith(b"mem,"):
        raise RuntimeError(f"agent run --once wrote no mem line: {out.read_bytes()[:200]!r}")
    return run


def delivered(ctx: Context, name: str) -> int:
    """How many runs' points arrived (one series per run: its own `bench` tag)."""
    promql = f'count(count_over_time({{__name__="mem_total",bench=~"footprint-{name}-.*"}}[1h]))'
    return int(vm_scalar(ctx.server("vm"), promql, ctx.settings.runs))


def run(ctx: Context) -> List[Row]:
    url = ctx.server("vm").url
    cmds = commands(ctx, url)
    runs: Dict[str, List[ChildRun]] = {name: [] for name in cmds}
    ctx.log(f"footprint: {ctx.settings.runs} runs of {', '.join(cmds)}")
    for index in range(ctx.settings.runs):
        for name, cmd in cmds.items():
            runs[name].append(one_run(ctx, name, cmd, url, index))
    rss = {n: median([r.maxrss_kb for r in rs]) / 1024 for n, rs in runs.items()}
    wall = {n: 1000 * median([r.wall for r in rs]) for n, rs in runs.items()}
    cpu = {n: median([r.cpu for r in rs]) for n, rs in runs.items()}
    details = {"rss_mb": rss, "wall_ms": wall, "cpu_s": cpu, "runs": ctx.settings.runs,
               "commands": {n: " ".join(c) for n, c in cmds.items()}}
    counts = {name: delivered(ctx, name) for name in ("influx", "seed")}
    details["points_delivered"] = counts
    complete = all(count == ctx.settings.runs for count in counts.values())
    notes = "" if complete else f"points in the server {counts}, expected {ctx.settings.runs} each"
    return [
        Row("footprint", "agent run --once, stdout: peak RSS", rss["stdout"], "MB", rss["psutil"],
            "python+psutil", Target("max", 20), details=details),
        Row("footprint", "agent run --once, stdout: wall", wall["stdout"], "ms", wall["psutil"],
            "python+psutil", Target("ratio_max", 1.5), details=details),
        Row("footprint", "agent run --once, influxdb_v2: peak RSS", rss["influx"], "MB",
            rss["seed"], "seed script, 1 Point", Target("max", 45), ok=complete, notes=notes,
            details=details),
        Row("footprint", "agent run --once, influxdb_v2: wall", wall["influx"], "ms",
            wall["seed"], "seed script, 1 Point", ok=complete, details=details),
    ]
