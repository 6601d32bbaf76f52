"""inputs.postgresql against the session's real PostgreSQL: Telegraf's schema (names, types, tags),
the database filters, custom queries, statement and lock timeouts, and what InfluxDB 1.x makes of
the output. Each test works in databases of its own."""

import itertools
import logging
import sys
import threading
import time

import psycopg
import pytest

from agent.inputs.postgresql import PostgresqlInput
from agent.lineprotocol.metric import field_kind
from agent.lineprotocol.serializer import Serializer
from tests.peak_rss import MiB, run_measured

_ids = itertools.count()
LOGGER = "agent.inputs.postgresql"

# What Telegraf's driver (pgx via database/sql) and metric conversion make of each column type.
TELEGRAF_KIND = {
    "int2": "int", "int4": "int", "int8": "int", "oid": "int", "float4": "float",
    "float8": "float", "name": "str", "text": "str", "timestamptz": None,
}
# Telegraf's output on PostgreSQL 15 (data checksums off, so checksum_failures is NULL).
PG15_STAT_DATABASE = {
    "datid": "int", "datname": "str", "numbackends": "int", "xact_commit": "int",
    "xact_rollback": "int", "blks_read": "int", "blks_hit": "int", "tup_returned": "int",
    "tup_fetched": "int", "tup_inserted": "int", "tup_updated": "int", "tup_deleted": "int",
    "conflicts": "int", "temp_files": "int", "temp_bytes": "int", "deadlocks": "int",
    "blk_read_time": "float", "blk_write_time": "float", "session_time": "float",
    "active_time": "float", "idle_in_transaction_time": "float", "sessions": "int",
    "sessions_abandoned": "int", "sessions_fatal": "int", "sessions_killed": "int",
}
PG15_BGWRITER = {
    "checkpoints_timed": "int", "checkpoints_req": "int", "checkpoint_write_time": "float",
    "checkpoint_sync_time": "float", "buffers_checkpoint": "int", "buffers_clean": "int",
    "maxwritten_clean": "int", "buffers_backend": "int", "buffers_backend_fsync": "int",
    "buffers_alloc": "int",
}


def unique(prefix):
    return f"{prefix}_{next(_ids)}_{time.monotonic_ns() % 100000}"


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture
def database(postgresql):
    """A fresh database of this test's own, dropped afterwards."""
    name = unique("agent_pg")
    postgresql.psql(f"CREATE DATABASE {name}")
    yield name
    postgresql.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def make_input(postgresql, dbname="postgres", **options):
    plugin = PostgresqlInput(address=postgresql.dsn(dbname=dbname), **options)
    plugin.start()
    return plugin


def kinds(metric):
    return {key: field_kind(value) for key, value in metric.fields.items()}


def server_version(postgresql):
    return int(postgresql.psql("SHOW server_version_num"))


def catalog_kinds(postgresql, view, nulls_in):
    """Field -> kind Telegraf gives for `view`'s columns, from the catalog, leaving out
    stats_reset, timestamps, and the columns that are NULL in the row picked by `nulls_in`."""
    rows = postgresql.psql(
        "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        f"WHERE a.attrelid = '{view}'::regclass AND a.attnum > 0 ORDER BY a.attnum")
    columns = dict(line.split("|") for line in rows.splitlines())
    checks = ", ".join(f"({name} IS NULL)::int" for name in columns)
    nulls = postgresql.psql(f"SELECT {checks} FROM {view} {nulls_in}").split("|")
    return {
        name: TELEGRAF_KIND[typname]
        for (name, typname), null in zip(columns.items(), nulls)
        if name != "stats_reset" and TELEGRAF_KIND[typname] and null == "0"
    }


def test_fields_and_types_equal_telegrafs_for_this_server_version(postgresql, database):
    plugin = make_input(postgresql, dbname=database)
    try:
        metrics = plugin.gather()
    finally:
        plugin.stop()
    assert {m.name for m in metrics} == {"postgresql"}
    by_db = {}
    for metric in metrics:
        assert set(metric.tags) == {"server", "db"}
        by_db.setdefault(metric.tags["db"], []).append(metric)
    (own,) = [m for m in by_db[database] if "datname" in m.fields]
    (bgwriter,) = [m for m in by_db[database] if "datname" not in m.fields]
    (shared,) = by_db["postgres_global"]
    expected_db = catalog_kinds(postgresql, "pg_stat_database", f"WHERE datname = '{database}'")
    assert kinds(own) == expected_db
    assert own.fields["datname"] == database
    assert kinds(shared) == catalog_kinds(postgresql, "pg_stat_database", "WHERE datid = 0")
    assert kinds(bgwriter) == catalog_kinds(postgresql, "pg_stat_bgwriter", "")
    version = server_version(postgresql)
    if version >= 170000:  # what remains of pg_stat_bgwriter since PostgreSQL 17
        assert set(bgwriter.fields) == {"buffers_clean", "maxwritten_clean", "buffers_alloc"}
    else:
        assert "checkpoints_timed" in bgwriter.fields
    if version // 10000 == 15:
        assert kinds(own) == PG15_STAT_DATABASE
        assert kinds(bgwriter) == PG15_BGWRITER
    # the rows of databases other than ours are there too (no filter)
    assert {"postgres", "template0", "template1"} <= set(by_db)


def test_server_tag_is_the_address_without_secrets(postgresql):
    address = postgresql.dsn(password="hunter2", sslmode="disable")
    plugin = PostgresqlInput(address=address)
    try:
        metrics = plugin.gather()
    finally:
        plugin.stop()
    expected = f"host=127.0.0.1 port={postgresql.port} user=postgres dbname=postgres"
    assert metrics and {m.tags["server"] for m in metrics} == {expected}


def test_databases_filter_is_a_parameter_not_sql(postgresql, database):
    sneaky = "x') OR ('1'='1"
    plugin = make_input(postgresql, databases=[database, sneaky])
    try:
        metrics = plugin.gather()
    finally:
        plugin.stop()
    rows = [m for m in metrics if "datname" in m.fields]
    assert [m.tags["db"] for m in rows] == [database]
    bgwriter = [m for m in metrics if "datname" not in m.fields]
    assert [m.tags["db"] for m in bgwriter] == ["postgres"]


def test_ignored_databases_wins_and_drops_the_shared_row_like_telegraf(postgresql, database):
    plugin = make_input(postgresql, databases=["postgres"],
                        ignored_databases=[database, "template0", "it's"])
    try:
        metrics = plugin.gather()
    finally:
        plugin.stop()
    dbs = {m.tags["db"] for m in metrics if "datid" in m.fields}
    assert "postgres" in dbs and "template1" in dbs
    # NOT IN / <> ALL is never true for the NULL datname of the shared-objects row
    assert not dbs & {database, "template0", "postgres_global"}


def test_awkward_database_name_arrives_in_influxdb_as_exactly_that_db_tag(postgresql, influxdb1):
    name = f"agent db, a=b 'single' \"double\" Ünïcødé ½ {next(_ids)}"
    postgresql.psql(f"CREATE DATABASE {quote_ident(name)}")
    try:
        plugin = make_input(postgresql, databases=[name], collect=["database_size"])
        try:
            metrics = plugin.gather()
        finally:
            plugin.stop()
    finally:
        postgresql.psql(f"DROP DATABASE {quote_ident(name)} WITH (FORCE)")
    assert {m.tags["db"] for m in metrics} == {name, "postgres"}
    target = unique("pgtags")
    influxdb1.create_database(target)
    status, text = influxdb1.write(Serializer().serialize_many(metrics), db=target)
    assert status == 204, text
    values = influxdb1.rows('SHOW TAG VALUES FROM "postgresql" WITH KEY = "db"', db=target)
    assert {row["value"] for row in values} == {name, "postgres"}
    sizes = influxdb1.rows('SHOW TAG VALUES FROM "postgresql_database_size" WITH KEY = "db"',
                           db=target)
    assert [row["value"] for row in sizes] == [name]
    (row,) = influxdb1.rows('SELECT datname FROM "postgresql" WHERE datname <> \'\'', db=target)
    assert row["datname"] == name
    types = {row["fieldKey"]: row["fieldType"]
             for row in influxdb1.rows('SHOW FIELD KEYS FROM "postgresql"', db=target)}
    assert types["datname"] == "string" and types["xact_commit"] == "integer"
    assert types["blk_read_time"] == "float" and types["buffers_alloc"] == "integer"


def test_the_connection_is_reused_autocommit_with_agents_session_settings(postgresql):
    query = {"sqlquery": "SELECT pg_backend_pid() AS pid, now()::text AS now, "
             "current_setting('application_name') AS app, "
             "current_setting('statement_timeout') AS statement_timeout, "
             "current_setting('lock_timeout') AS lock_timeout", "measurement": "session"}
    plugin = make_input(postgresql, query=[query], statement_timeout=2.5, lock_timeout=0.25)
    try:
        first = [m for m in plugin.gather() if m.name == "session"][0].fields
        second = [m for m in plugin.gather() if m.name == "session"][0].fields
    finally:
        plugin.stop()
    assert first["pid"] == second["pid"], "one connection across gathers"
    assert first["now"] != second["now"], "autocommit: each gather sees a new transaction"
    assert (first["app"], first["statement_timeout"], first["lock_timeout"]) == (
        "agent", "2500ms", "250ms")


def test_max_lifetime_and_max_idle_replace_the_connection(postgresql):
    query = {"sqlquery": "SELECT pg_backend_pid() AS pid", "measurement": "session"}

    def pids(**options):
        plugin = make_input(postgresql, query=[query], **options)
        try:
            found = []
            for _ in range(2):
                found += [m.fields["pid"] for m in plugin.gather() if m.name == "session"]
                time.sleep(0.2)
            return found
        finally:
            plugin.stop()

    first, second = pids(max_lifetime=0.1)
    assert first != second
    first, second = pids(max_idle=0)
    assert first != second


def test_custom_queries_with_tags_timestamp_and_version_bounds(postgresql, database, tmp_path):
    version = server_version(postgresql) // 100
    postgresql.psql("CREATE TABLE readings (sensor text, room int, celsius float8, ratio numeric, "
                    "at timestamptz, note text);"
                    "INSERT INTO readings VALUES ('t1', 4, 21.5, 0.25, '2024-01-02 03:04:05.5+00',"
                    " '50%'), ('t2', 5, NULL, 1, '2024-01-02 03:04:06+00', NULL)", dbname=database)
    script = tmp_path / "q.sql"
    script.write_text("SELECT 'from script' AS origin")
    select = "SELECT sensor, room, celsius, ratio, at, note FROM readings WHERE note LIKE '5%' " \
             "OR note IS NULL ORDER BY sensor"
    queries = [
        {"sqlquery": select, "measurement": "room", "tagvalue": "sensor, room",
         "timestamp": "at", "min_version": version, "max_version": version + 1},
        {"sqlquery": "SELECT 1 AS too_new", "min_version": version + 1},
        {"sqlquery": "SELECT 1 AS too_old", "max_version": version},
        {"script": str(script), "measurement": ""},
    ]
    plugin = make_input(postgresql, dbname=database, query=queries)
    try:
        metrics = plugin.gather()
    finally:
        plugin.stop()
    rooms = [m for m in metrics if m.name == "room"]
    assert [m.tags for m in rooms] == [
        {"server": plugin.server, "db": database, "sensor": "t1", "room": "4"},
        {"server": plugin.server, "db": database, "sensor": "t2", "room": "5"},
    ]
    # numeric comes out as text, as Telegraf's driver gives it; NULLs are left out
    assert rooms[0].fields == {"celsius": 21.5, "ratio": "0.25", "note": "50%"}
    assert rooms[1].fields == {"ratio": "1"}
    assert [m.time for m in rooms] == [1704164645_500000000, 1704164646_000000000]
    scripted = [m for m in metrics if m.fields.get("origin") == "from script"]
    assert [m.name for m in scripted] == ["postgresql"]
    assert not [m for m in metrics if "too_new" in m.fields or "too_old" in m.fields]


# Row caps (issue 11 item 16b): a custom query returning 1 M rows took 1.2 GB

MILLION = "SELECT g AS n, repeat('x', 40) AS pad FROM generate_series(1, 1000000) g"


def test_max_rows_caps_a_custom_query_with_one_warning_and_the_session_goes_on(
        postgresql, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    queries = [{"sqlquery": MILLION, "measurement": "big"},
               {"sqlquery": "SELECT g AS n FROM generate_series(1, 5) g", "measurement": "own",
                "max_rows": 3},
               {"sqlquery": "SELECT g AS n FROM generate_series(1, 5) g", "measurement": "fits"}]
    plugin = make_input(postgresql, query=queries, max_rows=1000)
    try:
        for _ in range(2):
            metrics = plugin.gather()
            counts = {name: sum(m.name == name for m in metrics) for name in ("big", "own", "fits")}
            assert counts == {"big": 1000, "own": 3, "fits": 5}
            assert [m.fields["n"] for m in metrics if m.name == "big"] == list(range(1, 1001))
            assert any(m.name == "postgresql" for m in metrics), "the other queries still ran"
    finally:
        plugin.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sorted(warnings) == [
        "query #1 (big) returned more than max_rows = 1000 rows; only the first 1000 are kept "
        "(aggregate or LIMIT in the query, or raise max_rows)",
        "query #2 (own) returned more than max_rows = 3 rows; only the first 3 are kept "
        "(aggregate or LIMIT in the query, or raise max_rows)",
    ], "once per query, not per gather"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert postgresql.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                           "'%generate_series(1, 1000000)%' AND state = 'active' "
                           "AND pid <> pg_backend_pid()") == "0", "the rest was cancelled"


def test_a_million_row_query_costs_bounded_memory_in_the_agent(postgresql, tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text(f'[[inputs.postgresql]]\naddress = "{postgresql.dsn()}"\n'
                      f'[[inputs.postgresql.query]]\nsqlquery = "{MILLION}"\n'
                      'measurement = "big"\n')
    out, err = tmp_path / "out.lp", tmp_path / "err.log"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        # The agent's own peak RSS, not pytest's (tests/peak_rss.py); a hung agent is killed.
        run = run_measured([sys.executable, "-m", "agent", "run", "--test", "--config",
                            str(config)], timeout=120, stdout=stdout, stderr=stderr)
    assert run.code == 0, err.read_text()
    lines = out.read_text().splitlines()
    assert sum(line.startswith("big,") for line in lines) == 10000, "the default max_rows"
    assert "max_rows = 10000" in err.read_text()
    assert run.peak_rss < 200 * MiB, f"peak RSS {run.peak_rss // MiB} MiB"


@pytest.fixture
def locked_table(postgresql, database):
    """A table in our database, and a way to hold ACCESS EXCLUSIVE on it from another session."""
    postgresql.psql("CREATE TABLE busy (n int); INSERT INTO busy VALUES (1)", dbname=database)
    holder = psycopg.connect(postgresql.dsn(dbname=database))
    holder.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
    yield holder
    holder.close()


@pytest.mark.parametrize("timeouts,reason", [
    ({"statement_timeout": 1.0, "lock_timeout": 0.0}, "statement timeout"),
    ({"statement_timeout": 30.0, "lock_timeout": 0.5}, "lock timeout"),
])
def test_a_gather_blocked_by_a_lock_is_bounded(postgresql, database, locked_table, caplog,
                                               timeouts, reason):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    query = {"sqlquery": "SELECT count(*) AS n FROM busy", "measurement": "busy"}
    plugin = make_input(postgresql, dbname=database, query=[query], **timeouts)
    bound = min(timeouts["statement_timeout"], timeouts["lock_timeout"] or 1e9)
    try:
        started = time.monotonic()
        metrics = plugin.gather()
        elapsed = time.monotonic() - started
        assert elapsed < bound + 2.0, f"the gather took {elapsed:.1f}s"
        assert {m.name for m in metrics} == {"postgresql"}, "the other queries still count"
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and f"canceling statement due to {reason}" in errors[0]
        assert "query #1 (busy)" in errors[0]
        plugin.gather()  # still blocked: not logged again
        assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
        locked_table.rollback()
        metrics = plugin.gather()
        assert [m.fields for m in metrics if m.name == "busy"] == [{"n": 1}]
        assert "query #1 (busy) works again" in caplog.text
    finally:
        plugin.stop()


def test_stop_interrupts_a_running_query(postgresql, database, locked_table):
    query = {"sqlquery": "SELECT count(*) AS n FROM busy", "measurement": "busy"}
    plugin = make_input(postgresql, dbname=database, query=[query], statement_timeout=60.0,
                        lock_timeout=0.0)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (plugin.gather(), done.set()), daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    waiting = ""
    while time.monotonic() < deadline and "busy" not in waiting:
        time.sleep(0.05)
        waiting = postgresql.psql("SELECT query FROM pg_stat_activity "
                                  "WHERE wait_event_type = 'Lock'")
    assert "busy" in waiting, "the gather waits for the lock"
    plugin.stop()
    assert done.wait(5), "stop() leaves no gather hanging on the lock"


def test_a_telegraf_url_address_with_run_time_parameters(postgresql, database):
    postgresql.psql("CREATE SCHEMA reports", dbname=database)
    url = (f"postgres://postgres@127.0.0.1:{postgresql.port}/{database}"
           "?sslmode=disable&search_path=reports&statement_timeout=3s")
    query = {"sqlquery": "SELECT current_setting('search_path') AS search_path, "
             "current_setting('statement_timeout') AS statement_timeout, "
             "current_database() AS dbname", "measurement": "session"}
    plugin = PostgresqlInput(address=url, query=[query])
    try:
        metrics = plugin.gather()
    finally:
        plugin.stop()
    (session,) = [m for m in metrics if m.name == "session"]
    # pgx sends unknown keys as run-time parameters; libpq does not know them: set_config.
    assert session.fields == {"search_path": "reports", "statement_timeout": "3s",
                              "dbname": database}
    expected_tag = f"dbname={database} host=127.0.0.1 port={postgresql.port} " \
                   "search_path=reports statement_timeout=3s user=postgres"
    assert session.tags == {"server": expected_tag, "db": database}
