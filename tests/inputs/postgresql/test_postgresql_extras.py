"""inputs.postgresql's opt-in `collect` metrics: sizes, sessions, locks on the session's server;
replication and recovery on a primary with a real streaming standby of this module's own."""

import itertools
import os
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from agent.commands.catalog import sample_config
from agent.inputs.postgresql import PostgresqlInput
from agent.lineprotocol.metric import field_kind
from tests import servers
from tests.conftest import start_server

_ids = itertools.count()
ALL = ["database_size", "activity", "locks", "replication", "wal"]

# The documented schema (agent/inputs/postgresql/README.md): every field's one type.
ACTIVITY = {
    "connections": "int", "active": "int", "idle": "int", "idle_in_transaction": "int",
    "idle_in_transaction_aborted": "int", "fastpath_function_call": "int", "disabled": "int",
    "waiting_on_lock": "int", "oldest_xact_age_seconds": "float",
    "oldest_query_age_seconds": "float",
}
LOCKS = {
    "access_share": "int", "row_share": "int", "row_exclusive": "int",
    "share_update_exclusive": "int", "share": "int", "share_row_exclusive": "int",
    "exclusive": "int", "access_exclusive": "int", "si_read": "int", "waiting": "int",
}
WAL = {
    "lsn_bytes": "int", "files": "int", "size_bytes": "int", "archived_count": "int",
    "failed_count": "int", "wal_records": "int", "wal_fpi": "int", "wal_bytes": "int",
    "wal_buffers_full": "int", "wal_write": "int", "wal_sync": "int", "wal_write_time": "float",
    "wal_sync_time": "float",
}
REPLICATION = {
    "state": "str", "sync_state": "str", "sent_lag_bytes": "int", "write_lag_bytes": "int",
    "flush_lag_bytes": "int", "replay_lag_bytes": "int", "write_lag_seconds": "float",
    "flush_lag_seconds": "float", "replay_lag_seconds": "float",
}
RECOVERY_STANDBY = {"in_recovery": "bool", "replay_paused": "bool",
                    "replay_lag_seconds": "float", "receive_replay_lag_bytes": "int"}


def kinds(metric):
    return {key: field_kind(value) for key, value in metric.fields.items()}


def gather(address, **options):
    plugin = PostgresqlInput(address=address, **options)
    try:
        return plugin.gather()
    finally:
        plugin.stop()


def one(metrics, name, **tags):
    found = [m for m in metrics if m.name == name and all(m.tags.get(k) == v
                                                          for k, v in tags.items())]
    assert len(found) == 1, f"{name} {tags}: {found}"
    return found[0]


@pytest.fixture
def database(postgresql):
    name = f"agent_extra_{next(_ids)}_{os.getpid()}"
    postgresql.psql(f"CREATE DATABASE {name}")
    yield name
    postgresql.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_sessions_and_locks_are_counted_per_database(postgresql, database):
    postgresql.psql("CREATE TABLE t (n int)", dbname=database)
    holder = psycopg.connect(postgresql.dsn(dbname=database))
    waiter = psycopg.connect(postgresql.dsn(dbname=database), autocommit=True)
    try:
        began = time.time()
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")  # idle in transaction now
        locked = time.time()
        waiter.execute("SET statement_timeout = '20s'")
        waiter.pgconn.send_query(b"SELECT * FROM t")  # blocks behind the lock
        servers.wait_until(lambda: postgresql.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            f"AND datname = '{database}'") == "1", 10, "the SELECT waiting for the lock")
        asked = time.time()
        metrics = gather(postgresql.dsn(), collect=["activity", "locks", "database_size"],
                         databases=[database])
        answered = time.time()
    finally:
        holder.close()
        waiter.close()
    activity = one(metrics, "postgresql_activity", db=database)
    assert kinds(activity) == ACTIVITY
    assert activity.fields["connections"] == 2
    assert activity.fields["idle_in_transaction"] == 1 and activity.fields["active"] == 1
    assert activity.fields["waiting_on_lock"] == 1
    # Seconds, between what the clock says must and can have passed (one clock, 1 ms slack).
    assert asked - locked - 0.001 <= activity.fields["oldest_xact_age_seconds"] <= \
        answered - began + 0.001
    assert 0 < activity.fields["oldest_query_age_seconds"] <= answered - locked + 0.001
    locks = one(metrics, "postgresql_locks", db=database)
    assert kinds(locks) == LOCKS
    assert locks.fields["access_exclusive"] == 1 and locks.fields["access_share"] == 1
    assert locks.fields["waiting"] == 1
    size = one(metrics, "postgresql_database_size", db=database)
    expected = int(postgresql.psql(f"SELECT pg_database_size('{database}')"))
    assert size.fields == {"size_bytes": expected}
    assert {m.tags["db"] for m in metrics if m.name != "postgresql"} == {database}


def test_an_idle_database_has_zeros_not_gaps(postgresql, database):
    metrics = gather(postgresql.dsn(), collect=["activity", "locks"], databases=[database])
    assert one(metrics, "postgresql_activity", db=database).fields == {
        field: 0 if kind == "int" else 0.0 for field, kind in ACTIVITY.items()}
    assert set(one(metrics, "postgresql_locks", db=database).fields.values()) == {0}


def test_wal_statistics(postgresql):
    metrics = gather(postgresql.dsn(), collect=["wal"])
    wal = one(metrics, "postgresql_wal")
    assert wal.tags == {"server": f"host=127.0.0.1 port={postgresql.port} user=postgres "
                        f"dbname=postgres"}
    assert kinds(wal) == WAL  # a fresh cluster has never archived: no *_age_seconds
    assert wal.fields["size_bytes"] >= wal.fields["files"] * 16 * 1024 * 1024 > 0
    assert wal.fields["lsn_bytes"] > 0


class Standby(servers.PostgreSQL):
    """A hot standby of `primary`, cloned with pg_basebackup -R, streaming from it."""

    name = "postgresql-standby"

    def __init__(self, primary):
        super().__init__()
        self.primary = primary

    def _prepare(self):
        self.port = servers.free_port()
        user = self._run_as()
        if user:
            entry = servers.pwd.getpwnam(user)
            os.chown(self.tmpdir, entry.pw_uid, entry.pw_gid)
        if not self.data_dir.exists():
            cmd = [f"{self.bindir}/pg_basebackup", "-D", str(self.data_dir), "-R", "-X",
                   "stream", "-c", "fast", "-h", servers.LOCALHOST, "-p",
                   str(self.primary.port), "-U", self.primary.user]
            env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
            env["PGPASSWORD"] = self.primary.password
            done = subprocess.run(cmd, capture_output=True, env=env, timeout=120,
                                  **servers._user_kwargs(user))
            if done.returncode != 0:
                raise servers.ServerError(f"pg_basebackup: {done.stderr.decode()}")
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nunix_socket_directories = '{self.tmpdir}'\n")


@pytest.fixture(scope="module")
def replicated():
    primary = start_server(servers.PostgreSQL)
    standby = Standby(primary)
    try:
        standby.start()
        servers.wait_until(
            lambda: primary.psql("SELECT state FROM pg_stat_replication "
                                 "WHERE replay_lsn IS NOT NULL") == "streaming",
            30, "standby streaming and replaying")
        primary.psql("SELECT pg_create_physical_replication_slot('agent_slot', true)")
        yield primary, standby
    finally:
        standby.close()
        primary.close()


def test_replication_seen_from_the_primary(replicated):
    primary, _ = replicated
    metrics = gather(primary.dsn(), collect=["replication"])
    sender = one(metrics, "postgresql_replication")
    assert sender.tags == {"server": sender.tags["server"], "application_name": "walreceiver",
                           "client_addr": "127.0.0.1"}
    assert kinds(sender).items() <= REPLICATION.items()
    assert {"state", "sync_state", "sent_lag_bytes", "replay_lag_bytes"} <= set(sender.fields)
    assert sender.fields["state"] == "streaming" and sender.fields["sync_state"] == "async"
    assert sender.fields["sent_lag_bytes"] >= 0
    slot = one(metrics, "postgresql_replication_slot", slot_name="agent_slot")
    assert "db" not in slot.tags and slot.fields["active"] is False
    assert field_kind(slot.fields["retained_wal_bytes"]) == "int"
    assert one(metrics, "postgresql_recovery").fields == {"in_recovery": False}


def test_recovery_seen_from_the_standby(replicated):
    primary, standby = replicated
    primary.psql("CREATE TABLE IF NOT EXISTS tick (n int); INSERT INTO tick VALUES (1)")
    metrics = gather(standby.dsn(), collect=ALL)
    recovery = one(metrics, "postgresql_recovery")
    assert kinds(recovery) == RECOVERY_STANDBY
    assert recovery.fields["in_recovery"] is True and recovery.fields["replay_paused"] is False
    assert recovery.fields["receive_replay_lag_bytes"] >= 0
    assert recovery.fields["replay_lag_seconds"] >= 0.0
    wal = one(metrics, "postgresql_wal")
    assert wal.fields["lsn_bytes"] > 0  # the replay position on a standby
    assert [m for m in metrics if m.name == "postgresql" and "datid" in m.fields]


def test_docs_show_the_sample_config_and_document_every_opt_in_field():
    text = (Path(__file__).resolve().parents[3] / "agent/inputs/postgresql/README.md").read_text()
    assert sample_config("inputs", "postgresql") in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    words = {"int": "integer", "float": "float", "str": "string", "bool": "boolean"}
    for schema in (ACTIVITY, LOCKS, WAL, REPLICATION, RECOVERY_STANDBY):
        for field, kind in schema.items():
            assert [row for row in rows if f"`{field}`" in row
                    and f"| {words[kind]} |" in row], f"{field} ({kind}) is not documented"
