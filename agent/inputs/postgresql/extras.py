"""Opt-in metrics beyond Telegraf's schema (`collect = [...]`), after postgres_exporter and pgwatch:
database sizes, sessions by state, locks by mode, replication and WAL.

One query per measurement, whatever the number of databases. Every column has a fixed SQL type
(casts below), so every field keeps its type forever; NULL leaves a field out. Needs PostgreSQL
10 or newer (the wal/lsn function names); pg_monitor gives a role everything read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

from agent.inputs.postgresql.queries import database_filter, field_value
from agent.lineprotocol.metric import Metric

MIN_VERSION = 100000
_CURRENT_LSN = ("CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() "
                "ELSE pg_current_wal_lsn() END")


@dataclass(frozen=True)
class Extra:
    measurement: str
    tags: Tuple[str, ...]            # result columns that become tags; datname becomes `db`
    sql: Callable[[int, str], str]   # (server_version_num, WHERE clause on datname) -> SQL
    per_database: bool = False       # takes the databases / ignored_databases filter


def _database_size(version: int, where: str) -> str:
    return ("SELECT datname, CASE WHEN has_database_privilege(oid, 'CONNECT') "
            "OR pg_has_role('pg_read_all_stats', 'USAGE') THEN pg_database_size(oid) END "
            f"AS size_bytes FROM pg_database{where}")


_STATES = {
    "active": "active", "idle": "idle", "idle_in_transaction": "idle in transaction",
    "idle_in_transaction_aborted": "idle in transaction (aborted)",
    "fastpath_function_call": "fastpath function call", "disabled": "disabled",
}


def _activity(version: int, where: str) -> str:
    states = "".join(f"count(*) FILTER (WHERE a.state = '{state}') AS {field}, "
                     for field, state in _STATES.items())
    return (
        f"SELECT d.datname, count(a.pid) AS connections, {states}"
        "count(*) FILTER (WHERE a.wait_event_type = 'Lock') AS waiting_on_lock, "
        "COALESCE(EXTRACT(EPOCH FROM max(now() - a.xact_start)), 0)::float8 "
        "AS oldest_xact_age_seconds, "
        "COALESCE(EXTRACT(EPOCH FROM max(now() - a.query_start) "
        "FILTER (WHERE a.state = 'active')), 0)::float8 AS oldest_query_age_seconds "
        "FROM pg_database d LEFT JOIN pg_stat_activity a ON a.datid = d.oid "
        "AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()"
        f"{where} GROUP BY d.datname"
    )


_MODES = {
    "access_share": "AccessShareLock", "row_share": "RowShareLock",
    "row_exclusive": "RowExclusiveLock", "share_update_exclusive": "ShareUpdateExclusiveLock",
    "share": "ShareLock", "share_row_exclusive": "ShareRowExclusiveLock",
    "exclusive": "ExclusiveLock", "access_exclusive": "AccessExclusiveLock",
    "si_read": "SIReadLock",
}


def _locks(version: int, where: str) -> str:
    modes = "".join(f"count(l.mode) FILTER (WHERE l.mode = '{mode}') AS {field}, "
                    for field, mode in _MODES.items())
    # Locks without a database (transaction IDs: row-lock waits) count for the session's one.
    return (
        "WITH l AS (SELECT COALESCE(NULLIF(l.database, 0), a.datid) AS datid, l.mode, "
        "l.granted FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.pid IS DISTINCT FROM pg_backend_pid()) "
        f"SELECT d.datname, {modes}count(l.mode) FILTER (WHERE NOT l.granted) AS waiting "
        f"FROM pg_database d LEFT JOIN l ON l.datid = d.oid{where} GROUP BY d.datname"
    )


def _replication(version: int, where: str) -> str:
    lags = "".join(
        f"pg_wal_lsn_diff(cur.lsn, {kind}_lsn)::int8 AS {kind}_lag_bytes, "
        for kind in ("sent", "write", "flush", "replay")
    )
    seconds = ", ".join(f"EXTRACT(EPOCH FROM {kind}_lag)::float8 AS {kind}_lag_seconds"
                        for kind in ("write", "flush", "replay"))
    return (
        "SELECT application_name, host(client_addr) AS client_addr, state, sync_state, "
        f"{lags}{seconds} FROM pg_stat_replication, (SELECT {_CURRENT_LSN} AS lsn) cur"
    )


def _replication_slot(version: int, where: str) -> str:
    status = ", wal_status, safe_wal_size AS safe_wal_size_bytes" if version >= 130000 else ""
    return (
        "SELECT slot_name, slot_type, database AS datname, active, "
        "pg_wal_lsn_diff(cur.lsn, restart_lsn)::int8 AS retained_wal_bytes, "
        "pg_wal_lsn_diff(cur.lsn, confirmed_flush_lsn)::int8 AS confirmed_flush_lag_bytes"
        f"{status} FROM pg_replication_slots, (SELECT {_CURRENT_LSN} AS lsn) cur"
    )


def _recovery(version: int, where: str) -> str:
    # Replay lag is 0 when all that was received is replayed (an idle primary is no lag).
    return (
        "SELECT pg_is_in_recovery() AS in_recovery, "
        "CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS replay_paused, "
        "(CASE WHEN NOT pg_is_in_recovery() THEN NULL "
        "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
        "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END)::float8 "
        "AS replay_lag_seconds, "
        "pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::int8 "
        "AS receive_replay_lag_bytes"
    )


def _wal(version: int, where: str) -> str:
    stat_wal, join = "", ""
    if version >= 140000:
        columns = ["wal_records", "wal_fpi", "wal_bytes::int8 AS wal_bytes", "wal_buffers_full"]
        if version < 180000:  # PostgreSQL 18 moved these to pg_stat_io
            columns += ["wal_write", "wal_sync", "wal_write_time", "wal_sync_time"]
        stat_wal = "".join(f", s.{column}" for column in columns)
        join = " CROSS JOIN pg_stat_wal s"
    position = "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() " \
               "ELSE pg_current_wal_lsn() END"
    return (
        f"SELECT pg_wal_lsn_diff({position}, '0/0')::int8 AS lsn_bytes, w.files, w.size_bytes, "
        "a.archived_count, a.failed_count, "
        "EXTRACT(EPOCH FROM now() - a.last_archived_time)::float8 AS last_archived_age_seconds, "
        "EXTRACT(EPOCH FROM now() - a.last_failed_time)::float8 AS last_failed_age_seconds"
        f"{stat_wal} FROM (SELECT count(*) AS files, COALESCE(sum(size), 0)::int8 AS size_bytes "
        f"FROM pg_ls_waldir()) w CROSS JOIN pg_stat_archiver a{join}"
    )


COLLECT: Dict[str, Tuple[Extra, ...]] = {
    "database_size": (Extra("postgresql_database_size", ("datname",), _database_size, True),),
    "activity": (Extra("postgresql_activity", ("datname",), _activity, True),),
    "locks": (Extra("postgresql_locks", ("datname",), _locks, True),),
    "replication": (
        Extra("postgresql_replication", ("application_name", "client_addr"), _replication),
        Extra("postgresql_replication_slot", ("slot_name", "slot_type", "datname"),
              _replication_slot),
        Extra("postgresql_recovery", (), _recovery),
    ),
    "wal": (Extra("postgresql_wal", (), _wal),),
}
_FILTER_COLUMN = {"postgresql_database_size": "datname"}


def extra_queries(names: Sequence[str], version: int, databases: Sequence[str],
                  ignored: Sequence[str]) -> List[Tuple[Extra, str, list]]:
    """(extra, SQL, parameters) for each measurement of the `collect` items, in that order."""
    found = []
    for name in names:
        for extra in COLLECT[name]:
            where, params = "", []
            if extra.per_database:
                column = _FILTER_COLUMN.get(extra.measurement, "d.datname")
                where, params = database_filter(column, databases, ignored)
            found.append((extra, extra.sql(version, where), params))
    return found


def extra_metrics(extra: Extra, columns: Sequence[str], rows: Sequence[Sequence],
                  server: str) -> List[Metric]:
    metrics = []
    for row in rows:
        tags, fields = {"server": server}, {}
        for column, raw in zip(columns, row):
            if column in extra.tags:
                if raw is not None and raw != "":
                    tags["db" if column == "datname" else column] = str(raw)
                continue
            value = field_value(raw)
            if value is not None:
                fields[column] = value
        metrics.append(Metric(extra.measurement, fields, tags))
    return metrics
