"""Listener: influxdb-client (SYNCHRONOUS, 1,000-point requests) writing `points` points
through `agent run` with inputs.influxdb_v2_listener and the disk spool to VictoriaMetrics,
against the same client writing to VictoriaMetrics directly, interleaved per repeat.

- time, with prebuilt Point objects (the client encodes them in write(), as a script does and
  as bench_write's client is timed): until the client has every 2xx, and until every point is
  in VictoriaMetrics (counted there; the agent delivers in the background while it
  acknowledges);
- per request, from write() to its 2xx, with line protocol encoded beforehand (so that only
  the request is timed): p50 and p99 over every request of every repeat;
- the agent flushes every 200 ms (and at once when a batch of 5,000 is waiting), so that
  "all in VM" shows its delivery, not a long flush_interval;
- RSS of the agent started and listening, before any request, and its peak (VmHWM) after the
  runs: with outputs.influxdb_v2 (influxdb-client, as above), and with outputs.influxdb
  (/write through urllib3, which VictoriaMetrics also serves).

A run whose points do not all arrive is marked failed.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Dict, List

from tests import servers
from tests.benchmarks.common import AGENT, PYTHON, Context, median, run_logged, vm_scalar
from tests.benchmarks.report import Row, Target
from tests.benchmarks.writers import start_ns

REQUEST = 1000
CONFIG = """\
[agent]
  buffer_directory = "{spool}"
  metric_batch_size = 5000
  metric_buffer_limit = {limit}
  flush_interval = "200ms"
[[inputs.influxdb_v2_listener]]
  service_address = "127.0.0.1:{port}"
"""
OUTPUTS = {
    "influxdb_v2": '[[outputs.influxdb_v2]]\n  urls = ["{url}"]\n  token = "bench"\n'
                   '  organization = "bench"\n  bucket = "bench"\n',
    "influxdb": '[[outputs.influxdb]]\n  urls = ["{url}"]\n  database = "bench"\n'
                '  skip_database_creation = true\n',
}


def count(vm, measurement: str, expect: int) -> int:
    promql = f'sum(count_over_time({{__name__="{measurement}_temperature"}}[4h]))'
    return int(vm_scalar(vm, promql, expect, timeout=120))


def client(ctx: Context, mode: str, url: str, measurement: str, start: int) -> dict:
    out = ctx.tmp / f"{measurement}.json"
    with open(out, "wb") as stdout:
        began = time.time()
        run = run_logged(ctx, [PYTHON, "-m", "tests.benchmarks.listener_client", mode, url,
                               measurement, str(ctx.settings.points), str(REQUEST),
                               str(start)], stdout=stdout)
    if run.code != 0:
        raise RuntimeError(f"listener_client: exit code {run.code}: {run.stderr[-300:]}")
    result = json.loads(out.read_text())
    result["began"] = began + run.wall - result["seconds"]  # when its first write() began
    return result


def landed(ctx: Context, vm, measurement: str, began: float) -> Dict[str, float]:
    """Seconds from the client's start until VictoriaMetrics holds every point."""
    got = count(vm, measurement, ctx.settings.points)
    return {"landed_s": time.time() - began, "delivered": got,
            "complete": got >= ctx.settings.points}


class Agent:
    def __init__(self, ctx: Context, vm, output: str, name: str) -> None:
        tmp = ctx.tempdir(name)
        self.port = servers.free_port()
        config = tmp / "agent.toml"
        config.write_text(CONFIG.format(spool=tmp / "spool", port=self.port,
                                        limit=4 * ctx.settings.points)
                          + OUTPUTS[output].format(url=vm.url))
        self.stderr = tmp / "stderr"
        self.ctx = ctx
        with open(self.stderr, "wb") as err:
            self.proc = ctx.spawn([*AGENT, "run", "--config", str(config)], stderr=err,
                                  stdout=subprocess.DEVNULL)
        servers.wait_until(lambda: servers.port_open(self.port), 30, "agent", self.proc,
                           self.stderr)
        time.sleep(1.0)  # started and listening, nothing received yet
        self.idle_mb = self.rss_mb("VmRSS")

    def rss_mb(self, field: str = "VmHWM") -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(field + r":\s+(\d+)", status).group(1)) / 1024

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)
        if self.proc.returncode != 0:
            raise RuntimeError(f"agent exited {self.proc.returncode}: "
                               f"{self.stderr.read_text()[-300:]}")


def one_repeat(ctx: Context, vm, repeat: int) -> Dict[str, dict]:
    start = start_ns() + repeat * 4 * ctx.settings.points * 1_000_000
    step = ctx.settings.points * 1_000_000  # each run's points in their own time range
    results: Dict[str, dict] = {}
    direct = {mode: client(ctx, mode, vm.url, f"l{repeat}_direct_{mode}", start + i * step)
              for i, mode in enumerate(("points", "lines"))}
    results["direct"] = {**direct["points"],
                         **landed(ctx, vm, f"l{repeat}_direct_points", direct["points"]["began"]),
                         "latencies_ms": direct["lines"]["latencies_ms"]}
    for offset, output in enumerate(("influxdb_v2", "influxdb"), 2):
        name = f"l{repeat}_{output}"
        agent = Agent(ctx, vm, output, name)
        url = f"http://127.0.0.1:{agent.port}"
        relayed = client(ctx, "points", url, f"{name}_points", start + offset * step)
        timed = client(ctx, "lines", url, f"{name}_lines", start + offset * step + step // 2)
        results[output] = {**relayed, **landed(ctx, vm, f"{name}_points", relayed["began"]),
                           "latencies_ms": timed["latencies_ms"], "rss_mb": agent.rss_mb(),
                           "idle_mb": agent.idle_mb}
        agent.stop()
        ctx.log(f"listener: repeat {repeat} {output}: acked in {relayed['seconds']:.2f}s, "
                f"landed in {results[output]['landed_s']:.2f}s (direct "
                f"{results['direct']['seconds']:.2f}s / {results['direct']['landed_s']:.2f}s)")
    return results


def percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run(ctx: Context) -> List[Row]:
    vm = ctx.server("vm")
    runs = [one_repeat(ctx, vm, repeat) for repeat in range(ctx.settings.repeats)]
    ok = all(r[who]["complete"] for r in runs for who in r)

    def med(who: str, key: str) -> float:
        return median([r[who][key] for r in runs])

    latencies = {who: [ms for r in runs for ms in r[who]["latencies_ms"]]
                 for who in ("direct", "influxdb_v2")}
    points = ctx.settings.points
    details = {"runs": [{who: {k: v for k, v in result.items() if k != "latencies_ms"}
                         for who, result in r.items()} for r in runs],
               "points": points, "request": REQUEST}
    notes = "" if ok else "points missing in VictoriaMetrics"
    peer = "same client -> VM directly"
    return [
        Row("listener", f"influxdb-client SYNCHRONOUS, {points:,} points via "
            "influxdb_v2_listener -> VM: all acknowledged", med("influxdb_v2", "seconds"), "s",
            med("direct", "seconds"), peer, Target("ratio_max", 1.5), ok=ok, notes=notes,
            details=details),
        Row("listener", "... and all in VM", med("influxdb_v2", "landed_s"), "s",
            med("direct", "landed_s"), peer, Target("ratio_max", 1.5), ok=ok, details=details),
        Row("listener", f"{REQUEST:,}-point request -> 204, disk spool: p50",
            percentile(latencies["influxdb_v2"], 0.5), "ms",
            percentile(latencies["direct"], 0.5), peer, details=details),
        Row("listener", f"{REQUEST:,}-point request -> 204, disk spool: p99",
            percentile(latencies["influxdb_v2"], 0.99), "ms",
            percentile(latencies["direct"], 0.99), peer, Target("below", 20), details=details),
        Row("listener", "agent with one listener, outputs.influxdb: RSS before any request",
            med("influxdb", "idle_mb"), "MB", ok=ok, details=details),
        Row("listener", "agent with one listener, outputs.influxdb: peak RSS",
            med("influxdb", "rss_mb"), "MB", target=Target("below", 30), ok=ok,
            details=details),
        Row("listener", "agent with one listener, outputs.influxdb_v2: peak RSS",
            med("influxdb_v2", "rss_mb"), "MB", ok=ok, details=details,
            notes="influxdb-client (the output's HTTP client) alone takes ~25 MB"),
    ]
