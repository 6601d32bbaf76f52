"""Drain: how fast a backlog of `drain_points` points leaves the disk spool after an outage.

A VictoriaMetrics of its own is started, then stopped (the outage). `agent write` of the points
(influxdb_v2, gzip, shutdown_timeout 1 s) fills the spool and exits 75 ("kept for later"); the
spool's row count is checked. The server comes back on the same port, and `agent write` with
nothing new to send (FILE = /dev/null) delivers the backlog: it exits 0 once the spool is empty.
The drain rate is points / that process's wall time (interpreter start included); the points
are then counted in the server.

The peer is influxdb-client's batching WriteApi throughput to VictoriaMetrics with gzip, from
the write benchmark of the same suite run (or measured here when that did not run): the client
has no spool, so sending what it holds is the most it could do after an outage.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

from tests import servers
from tests.benchmarks.bench_write import Runs, agent_config, rate
from tests.benchmarks.common import AGENT, Context, failure, run_logged, vm_scalar
from tests.benchmarks.report import Row, Target
from tests.benchmarks.writers import start_ns, write_file

MEASUREMENT = "drain"


def spooled(directory: Path) -> Optional[int]:
    """Points waiting in the spool files of a buffer directory (None: cannot tell)."""
    from agent.delivery.sqlite_spool import SqliteSpool

    total = 0
    try:
        for path in directory.glob("*.sqlite"):
            spool = SqliteSpool(str(path), 1 << 62)
            total += len(spool)
            spool.close()
    except Exception:  # noqa: BLE001 - the spool's API changed: rely on exit codes alone
        return None
    return total


def client_rate(ctx: Context) -> Optional[float]:
    for row in ctx.results:
        if (row.group == "write" and row.details.get("encoding") == "gzip"
                and row.details["runs"].get("client")):
            return rate(row.details["runs"]["client"])
    return None


def run(ctx: Context) -> List[Row]:
    points = ctx.settings.drain_points
    ctx.log(f"drain: {points} points")
    vm = ctx.own_server(servers.VictoriaMetrics())
    vm.start()
    source = ctx.tmp / "drain.lp"
    write_file(str(source), MEASUREMENT, points, start_ns())
    fill = agent_config(ctx, "vm", vm.url, "gzip", MEASUREMENT, 2 * points, shutdown="1s")
    drain = fill.with_name("drain.toml")
    drain.write_text(fill.read_text().replace('shutdown_timeout = "1s"',
                                              'shutdown_timeout = "900s"'))
    vm.stop()
    filled = run_logged(ctx, [*AGENT, "write", "--config", str(fill), str(source)], 900)
    source.unlink()
    if filled.code != 75:
        raise failure("agent write with the server down (expected exit code 75)", filled)
    spool_dir = fill.parent / "spool"
    in_spool = spooled(spool_dir)
    spool_mb = sum(p.stat().st_size for p in spool_dir.iterdir()) / 2**20
    ctx.log(f"drain: filled {in_spool} points in {filled.wall:.1f}s, {spool_mb:.0f} MB on disk; "
            "server back")
    if in_spool not in (points, None):
        raise RuntimeError(f"fill: {in_spool} points in the spool, expected {points}")
    vm.start()
    drained = run_logged(ctx, [*AGENT, "write", "--config", str(drain), os.devnull], 900)
    delivered = int(vm_scalar(vm, f'sum(count_over_time({{__name__="{MEASUREMENT}_temperature"}}'
                                  "[4h]))", points, timeout=60))
    ok = drained.code == 0 and delivered >= points and spooled(spool_dir) in (0, None)
    peer = client_rate(ctx)
    if peer is None:
        runs = Runs(ctx, "vm", "gzip", 0)
        peer = runs.client()["pps"]
    details = {"points": points, "fill_seconds": filled.wall, "spool_mb": spool_mb,
               "drain_seconds": drained.wall, "drain_cpu_s": drained.cpu,
               "drain_maxrss_mb": drained.maxrss_kb / 1024, "exit_code": drained.code,
               "delivered": delivered}
    notes = (f"spool filled at {points / filled.wall:,.0f} points/s with the server down "
             f"({spool_mb:.0f} MB); drain peak RSS {drained.maxrss_kb / 1024:.0f} MB")
    if not ok:
        notes += (f"; FAILED: exit {drained.code}, {delivered} of {points} in the server "
                  f"{drained.stderr.splitlines()[-1:]}")
    return [Row("drain", f"drain {points:,}-point spool -> VM gzip", points / drained.wall,
                "points/s", peer, "influxdb-client batching", Target("ratio_min", 3), ok=ok,
                notes=notes, details=details)]
