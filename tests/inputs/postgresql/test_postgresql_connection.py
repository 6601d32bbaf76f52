"""inputs.postgresql's connection on a PostgreSQL of this module's own (password auth, stopped and
restarted here): passwords never shown, a least-privilege pg_monitor role, outages logged once."""

import logging
import signal
import socket
import subprocess
import sys
import time

import pytest

from agent.inputs.postgresql import PostgresqlError, PostgresqlInput
from agent.lineprotocol.metric import field_kind
from agent.lineprotocol.parser import parse_metrics
from tests import servers
from tests.conftest import start_server

PASSWORD = "s3cret-Hunter2-pw"
ROLE = "agent_metrics"
LOGGER = "agent.inputs.postgresql"


@pytest.fixture(scope="module")
def server():
    """A cluster with scram-sha-256 auth and a pg_monitor role (the documented setup)."""
    pg = start_server(servers.PostgreSQL, auth="scram-sha-256")
    pg.psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'; GRANT pg_monitor TO {ROLE};"
            "CREATE DATABASE app")
    yield pg
    pg.close()


def address(server, **extra):
    return f"host=127.0.0.1 port={server.port} user={ROLE} dbname=app " + " ".join(
        f"{key}={value}" for key, value in extra.items())


def errors(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_pg_monitor_role_collects_everything_without_errors(server, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    server.psql("SELECT pg_create_physical_replication_slot('agent_slot', true)")
    plugin = PostgresqlInput(address=address(server, password=PASSWORD),
                             collect=["database_size", "activity", "locks", "replication", "wal"])
    try:
        metrics = plugin.gather()
    finally:
        plugin.stop()
        server.psql("SELECT pg_drop_replication_slot('agent_slot')")
    assert errors(caplog) == []
    names = {m.name for m in metrics}
    assert names == {"postgresql", "postgresql_database_size", "postgresql_activity",
                     "postgresql_locks", "postgresql_replication_slot", "postgresql_recovery",
                     "postgresql_wal"}
    sizes = {m.tags["db"]: m.fields["size_bytes"] for m in metrics
             if m.name == "postgresql_database_size"}
    assert set(sizes) == {"postgres", "app", "template0", "template1"}
    assert all(field_kind(v) == "int" and v > 1_000_000 for v in sizes.values())
    (slot,) = [m for m in metrics if m.name == "postgresql_replication_slot"]
    assert slot.tags == {"server": plugin.server, "slot_name": "agent_slot",
                         "slot_type": "physical"}
    assert slot.fields["active"] is False and slot.fields["retained_wal_bytes"] >= 0
    assert slot.fields["wal_status"] == "reserved"


def test_wrong_password_is_one_clear_error_without_the_password(server, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    plugin = PostgresqlInput(address=address(server, password="wrong-" + PASSWORD))
    try:
        with pytest.raises(PostgresqlError) as caught:
            plugin.gather()
        assert plugin.gather() == [], "the same outage is not raised twice"
    finally:
        plugin.stop()
    message = str(caught.value)
    assert f'password authentication failed for user "{ROLE}"' in message
    assert message.startswith(f"cannot connect to host=127.0.0.1 port={server.port} user={ROLE}")
    assert PASSWORD not in message and PASSWORD not in caplog.text
    assert errors(caplog) == []  # the runner logs the raised error; the plugin adds none


def test_wrong_password_through_the_agent_logs_one_line_without_it(server, tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text(f'[[inputs.postgresql]]\naddress = "{address(server)}"\n'
                      f'password_file = "{tmp_path / "pw"}"\n')
    (tmp_path / "pw").write_text("wrong-" + PASSWORD + "\n")
    result = subprocess.run([sys.executable, "-m", "agent", "run", "--once", "--debug",
                             "--config", str(config)], capture_output=True, timeout=60)
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    lines = [line for line in stderr.splitlines() if " E! " in line]
    assert len(lines) == 1, stderr
    assert "[inputs.postgresql]" in lines[0] and "password authentication failed" in lines[0]
    assert PASSWORD not in stderr and PASSWORD not in result.stdout.decode()


def test_password_from_password_file_and_pgpassfile(server, tmp_path, monkeypatch):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    plugin = PostgresqlInput(address=address(server), password_file=str(secret))
    try:
        assert plugin.gather()
    finally:
        plugin.stop()
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{server.port}:*:{ROLE}:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    plugin = PostgresqlInput(address=address(server))
    try:
        assert plugin.gather()
    finally:
        plugin.stop()


def test_unreadable_password_file_is_a_clear_error(server, tmp_path):
    plugin = PostgresqlInput(address=address(server), password_file=str(tmp_path / "missing"))
    with pytest.raises(PostgresqlError, match=r"cannot read password_file .*missing: No such"):
        plugin.gather()


def test_a_restart_between_gathers_costs_no_error_and_no_sample(server, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    plugin = PostgresqlInput(address=address(server, password=PASSWORD))
    try:
        assert plugin.gather()
        server.stop()
        server.start()
        metrics = plugin.gather()  # the old connection is dead; one reconnect, no error
    finally:
        plugin.stop()
    assert metrics and errors(caplog) == []


class Agent:
    """`agent run` with a file output, as systemd would run it."""

    def __init__(self, tmp_path, body):
        self.out = tmp_path / "metrics.lp"
        config = tmp_path / "agent.toml"
        config.write_text(body + f'[[outputs.file]]\nfiles = ["{self.out}"]\n')
        self.err_path = tmp_path / "stderr.log"
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agent", "run", "--debug", "--config", str(config)],
                stdout=subprocess.DEVNULL, stderr=err)

    def times(self):
        text = self.out.read_text() if self.out.exists() else ""
        return [m.time for m in parse_metrics(text) if m.name == "postgresql"]

    def wait_for_time_after(self, t_ns, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [t for t in self.times() if t > t_ns]
            if later:
                return min(later)
            time.sleep(0.05)
        raise AssertionError(f"no metric after {t_ns}; stderr:\n{self.stderr()}")

    def stderr(self):
        return self.err_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(10)


def test_outages_are_logged_once_and_collection_resumes_within_two_intervals(server, tmp_path):
    interval = 1.0
    agent = Agent(tmp_path, f'[agent]\ninterval = "{interval:g}s"\nprecision = "1ms"\n'
                  f'omit_hostname = true\n[[inputs.postgresql]]\n'
                  f'address = "{address(server, password=PASSWORD)}"\n')
    try:
        agent.wait_for_time_after(0)
        for _ in range(2):
            server.stop()
            time.sleep(3.5 * interval)  # several gathers fail meanwhile
            assert agent.proc.poll() is None, "the agent lives through the outage"
            server.start()
            ready = time.time_ns()
            resumed = agent.wait_for_time_after(ready)
            # Two intervals, plus the resumed gather's own connect-and-query time.
            assert (resumed - ready) / 1e9 <= 2 * interval + 0.5
    finally:
        code = agent.stop()
    stderr = agent.stderr()
    assert code == 0, stderr
    errors = [line for line in stderr.splitlines() if " E! " in line]
    assert len(errors) == 2, "one error per outage:\n" + "\n".join(errors)
    assert all("[inputs.postgresql]" in line for line in errors)
    assert stderr.count("still unavailable") + stderr.count("waiting before reconnecting") >= 4
    assert stderr.count(" again after ") == 2
    assert PASSWORD not in stderr and PASSWORD not in agent.out.read_text()



def test_connect_timeout_bounds_a_server_that_never_answers():
    with socket.socket() as silent:  # accepts TCP connections (backlog), never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        plugin = PostgresqlInput(address=f"host=127.0.0.1 port={port} user=x",
                                 connect_timeout=2.0)
        started = time.monotonic()
        with pytest.raises(PostgresqlError, match=r"cannot connect to host=127\.0\.0\.1 .*timeout"):
            plugin.gather()
        assert time.monotonic() - started < 2.0 + 3.0
