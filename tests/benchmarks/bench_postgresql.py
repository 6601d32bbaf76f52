"""Benchmark inputs.postgresql: gather time and queries per gather with 1, 50 and 200 databases.

    python tests/benchmarks/bench_postgresql.py [--gathers 30]

The suite (python -m tests.benchmarks) calls run(ctx): the Telegraf schema only.

Starts a throwaway PostgreSQL (tests/servers.py) with pg_stat_statements loaded. Per gather it
counts network round trips exactly, from libpq's protocol trace of the plugin's connection (one
Sync or simple Query message from the client = one round trip), and the statements the server
ran for the plugin's role, from pg_stat_statements. The Telegraf schema must cost the same
number of round trips whatever the number of databases.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg  # noqa: E402
from psycopg import pq  # noqa: E402

from agent.inputs.postgresql import PostgresqlInput  # noqa: E402
from tests import servers  # noqa: E402

ROLE = "agent_bench"
COLLECT = ["database_size", "activity", "locks", "replication", "wal"]
MODES = {
    "telegraf": {},
    **{f"+{item}": {"collect": [item]} for item in COLLECT},
    "+all collect": {"collect": COLLECT},
}
WARM_UP = 6  # psycopg prepares a statement on its 5th run: one extra round trip, once


class Tracer:
    """A psycopg.connect that traces the protocol of every connection it opens to one file."""

    def __init__(self) -> None:
        handle, self.path = tempfile.mkstemp(prefix="agent-bench-trace-")
        self.fd = handle

    def connect(self, *args, **kwargs):
        conn = psycopg.connect(*args, **kwargs)
        conn.pgconn.trace(self.fd)
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        return conn

    def offset(self) -> int:
        return os.fstat(self.fd).st_size

    def round_trips_since(self, offset: int) -> int:
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            lines = handle.read().decode("utf-8", "replace").splitlines()
        return sum(1 for line in lines
                   if line.startswith("F\t") and line.split("\t")[2].split(" ")[0]
                   in ("Sync", "Query"))

    def close(self) -> None:
        os.close(self.fd)
        os.unlink(self.path)


def start_server(server: servers.PostgreSQL | None = None) -> servers.PostgreSQL:
    server = (server or servers.PostgreSQL()).start()
    with open(server.data_dir / "postgresql.conf", "a") as conf:
        conf.write("shared_preload_libraries = 'pg_stat_statements'\n"
                   "pg_stat_statements.track = all\n")
    server.stop()
    server.start()
    server.psql(f"CREATE EXTENSION pg_stat_statements; CREATE ROLE {ROLE} LOGIN; "
                f"GRANT pg_monitor TO {ROLE}")
    return server


def grow_to(server: servers.PostgreSQL, count: int) -> None:
    """Make the cluster hold `count` databases besides postgres and the templates."""
    have = int(server.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'bench_%'"))
    if count > have:
        server.psql("".join(f"CREATE DATABASE bench_{n:03d};\n" for n in range(have, count)))


def statements_for_role(server: servers.PostgreSQL) -> int:
    return int(server.psql("SELECT COALESCE(sum(calls), 0) FROM pg_stat_statements "
                           f"WHERE userid = '{ROLE}'::regrole"))


def measure(server: servers.PostgreSQL, options: dict, gathers: int) -> dict:
    tracer = Tracer()
    plugin = PostgresqlInput(address=server.dsn(user=ROLE), connect=tracer.connect, **options)
    try:
        for _ in range(WARM_UP):  # connect, set the session up, prepare the statements
            plugin.gather()
        times, trips, statements, metrics = [], [], [], 0
        for _ in range(gathers):
            server.psql("SELECT pg_stat_statements_reset()")
            offset = tracer.offset()
            started = time.perf_counter()
            metrics = len(plugin.gather())
            times.append(time.perf_counter() - started)
            trips.append(tracer.round_trips_since(offset))
            statements.append(statements_for_role(server))
    finally:
        plugin.stop()
        tracer.close()
    return {
        "metrics": metrics,
        "round_trips": sorted(set(trips)),
        "statements": sorted(set(statements)),
        "median_ms": statistics.median(times) * 1000,
        "p95_ms": sorted(times)[int(0.95 * (len(times) - 1))] * 1000,
    }


def collect(server: servers.PostgreSQL, databases: list, gathers: int,
            modes: dict = MODES) -> list:
    """[(databases, mode, measure(...))] for every database count and mode."""
    rows = []
    for count in databases:
        grow_to(server, count)
        for mode, options in modes.items():
            rows.append((count, mode, measure(server, options, gathers)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gathers", type=int, default=30, help="gathers per measurement")
    parser.add_argument("--databases", type=int, nargs="+", default=[1, 50, 200])
    args = parser.parse_args()
    server = start_server()
    try:
        version = server.psql("SHOW server_version")
        rows = collect(server, args.databases, args.gathers)
    finally:
        server.close()
    print(f"inputs.postgresql, PostgreSQL {version}, {args.gathers} gathers per row, "
          f"Python {sys.version.split()[0]}, psycopg {psycopg.__version__}")
    print(f"{'databases':>9}  {'mode':<16} {'metrics':>7}  {'round trips':>11}  "
          f"{'statements':>10}  {'median ms':>9}  {'p95 ms':>7}")
    for count, mode, result in rows:
        trips = ",".join(map(str, result["round_trips"]))
        statements = ",".join(map(str, result["statements"]))
        print(f"{count:>9}  {mode:<16} {result['metrics']:>7}  {trips:>11}  {statements:>10}  "
              f"{result['median_ms']:>9.2f}  {result['p95_ms']:>7.2f}")
    constant = constant_round_trips(rows)
    telegraf = sorted({tuple(r["round_trips"]) for c, m, r in rows if m == "telegraf"})
    print("Telegraf schema round trips per gather are "
          + (f"constant: {telegraf[0][0]}" if constant else f"NOT constant: {telegraf}"))
    return 0 if constant else 1


def constant_round_trips(rows: list) -> bool:
    telegraf = {tuple(r["round_trips"]) for c, m, r in rows if m == "telegraf"}
    return len(telegraf) == 1 and len(next(iter(telegraf))) == 1


def run(ctx) -> list:
    """The suite's rows: gather time and queries per gather, Telegraf schema, per count."""
    from tests.benchmarks.report import Row

    databases, gathers = list(ctx.settings.pg_databases), ctx.settings.pg_gathers
    ctx.log(f"postgresql: {databases} databases, {gathers} gathers each")
    server = start_server(ctx.own_server(servers.PostgreSQL()))
    try:
        version = server.psql("SHOW server_version")
        rows = collect(server, databases, gathers, {"telegraf": {}})
    finally:
        server.close()
    constant = constant_round_trips(rows)
    out = []
    for count, _, result in rows:
        details = {**result, "postgresql": version, "psycopg": psycopg.__version__,
                   "gathers": gathers}
        trips = ",".join(map(str, result["round_trips"]))
        statements = ",".join(map(str, result["statements"]))
        out.append(Row("postgresql", f"postgresql gather, {count} db(s): median time",
                       result["median_ms"], "ms", details=details,
                       notes=f"p95 {result['p95_ms']:.2f} ms, {result['metrics']} metrics"))
        out.append(Row("postgresql", f"postgresql gather, {count} db(s): round trips",
                       result["round_trips"][-1], "queries", ok=constant, details=details,
                       notes=f"round trips {trips}, server statements {statements}"
                       + ("" if constant else "; NOT constant across database counts")))
    return out


if __name__ == "__main__":
    sys.exit(main())
