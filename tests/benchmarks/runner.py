"""The benchmark suite's command line: run the benchmarks, print the table, write JSON.

    .venv/bin/python -m tests.benchmarks [--quick] [--only encoding,write] [--json]
                                         [--json-out FILE] [--steady-seconds 60] ...

Progress goes to stderr; the table (or with --json, the JSON) to stdout. A missed target is a
result, not an error: the exit code is 1 only when a benchmark could not run or a run failed
its own checks (a wrong exit code, points missing from the server).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import signal
import sys
import time
import traceback
from typing import List, Optional

from tests.benchmarks import report
from tests.benchmarks.common import Context, Settings
from tests.benchmarks.report import Row

BENCHMARKS = ("encoding", "gather", "footprint", "steady", "execd", "write", "drain",
              "postgresql", "mqtt", "aggregation", "listener")


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks",
                                     description="agent's benchmark suite (issue #7)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes and shorter runs (about 3 minutes)")
    parser.add_argument("--only", default="",
                        help=f"comma-separated subset of: {','.join(BENCHMARKS)}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--json-out", metavar="FILE", help="also write the JSON to FILE")
    sizes = parser.add_argument_group("sizes (defaults depend on --quick)")
    for name, help_text in (
        ("metrics", "encoding: metrics per shape; aggregation: metrics"),
        ("repeats", "encoding, gather: repeats (median reported)"),
        ("gathers", "gather: mem gathers per repeat"),
        ("runs", "footprint: fresh processes per command"),
        ("steady-seconds", "steady: seconds of measurement"),
        ("points", "write, listener: points per run"),
        ("batch-size", "write: batch size, ours and influxdb-client's"),
        ("drain-points", "drain: points in the spool"),
        ("pg-gathers", "postgresql: gathers per database count"),
    ):
        kind = float if name == "steady-seconds" else int
        sizes.add_argument(f"--{name}", type=kind, help=help_text)
    args = parser.parse_args(argv)
    args.only = [b.strip() for b in args.only.split(",") if b.strip()] or list(BENCHMARKS)
    unknown = sorted(set(args.only) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    return args


def settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings.for_mode(args.quick)
    for key in ("metrics", "repeats", "gathers", "runs", "steady_seconds", "points",
                "batch_size", "drain_points", "pg_gathers"):
        value = getattr(args, key)
        if value is not None:
            setattr(settings, key, value)
    return settings


class Progress:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)


def run_one(name: str, ctx: Context) -> List[Row]:
    module = importlib.import_module(f"tests.benchmarks.bench_{name}")
    began = time.monotonic()
    ctx.log(f"--- {name}")
    try:
        rows = module.run(ctx)
    except Exception as err:  # noqa: BLE001 - report it, run the others
        traceback.print_exc(file=sys.stderr)
        rows = [Row(name, f"{name}: could not run: {type(err).__name__}: {err}", None, "",
                    ok=False)]
    ctx.log(f"{name} done in {time.monotonic() - began:.1f}s")
    return rows


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    settings = settings_from(args)
    signal.signal(signal.SIGTERM, _terminate)
    progress = Progress()
    ctx = Context(settings, progress)
    rows: List[Row] = []
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        for name in BENCHMARKS:
            if name in args.only:
                ctx.results = rows
                rows += run_one(name, ctx)
    finally:
        ctx.close()
    meta = {
        "date": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - progress.started, 1),
        "command": " ".join(["python -m tests.benchmarks", *(argv if argv is not None
                                                             else sys.argv[1:])]),
        "settings": vars(settings),
        "machine": report.machine(),
    }
    text = report.as_json(rows, meta)
    if args.json_out:
        with open(args.json_out, "w") as handle:
            handle.write(text + "\n")
    if args.json:
        print(text)
    else:
        box = meta["machine"]
        print(f"{meta['date']}  {box['cpu']} x {box['cpus']}, Python {box['python']}, "
              f"{meta['seconds']:.0f} s  (ratio = ours / peer)\n")
        print(report.table(rows))
    return 0 if all(r.ok for r in rows) else 1
