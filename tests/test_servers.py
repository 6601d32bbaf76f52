"""The real-server fixtures work: write, read back, restart."""

from __future__ import annotations

import socket
import time

import pytest

from tests import servers

TS = 1_700_000_000_123_456_789  # ns; 2023-11-14T22:13:20.123456789Z


def test_free_port_is_bindable():
    port = servers.free_port()
    with socket.socket() as sock:
        sock.bind((servers.LOCALHOST, port))
    assert not servers.port_open(port)


def test_influxdb1_write_and_read_back(influxdb1):
    influxdb1.create_database("t_servers")
    body = f'mem,host=a\\ b used=42i,used_percent=12.5,ok=true,note="x y" {TS}\n'
    assert influxdb1.write(body, db="t_servers") == (204, "")
    rows = influxdb1.rows('SELECT * FROM "mem"', db="t_servers")
    assert rows == [
        {"time": TS, "host": "a b", "note": "x y", "ok": True, "used": 42, "used_percent": 12.5}
    ]


def test_influxdb1_rejects_bad_line(influxdb1):
    influxdb1.create_database("t_servers")
    status, text = influxdb1.write("mem used=1i 1\nmem used=2.5 2\n", db="t_servers")
    assert status == 400
    assert "conflict" in text


def test_victoria_metrics_v2_write_and_read_back(victoria_metrics):
    body = f"mem,host=a used=42i,used_percent=12.5 {TS}\n"
    status, _ = victoria_metrics.write(body, org="my-org", bucket="b")
    assert status == 204
    series = victoria_metrics.export('{__name__=~"mem_.*"}')
    assert [(s["metric"], s["values"], s["timestamps"]) for s in series] == [
        ({"__name__": "mem_used", "host": "a"}, [42], [TS // 1_000_000]),
        ({"__name__": "mem_used_percent", "host": "a"}, [12.5], [TS // 1_000_000]),
    ]


def test_victoria_metrics_recent_sample_needs_expect(victoria_metrics):
    now_ms = time.time_ns() // 1_000_000
    assert victoria_metrics.write(f"recent,host=a up=1i {now_ms}", precision="ms")[0] == 204
    [series] = victoria_metrics.export('{__name__="recent_up"}', expect=1)
    assert series["timestamps"] == [now_ms]


def test_postgresql_query_and_restart(postgresql):
    postgresql.psql("DROP TABLE IF EXISTS t; CREATE TABLE t (k text, v int)")
    postgresql.psql("INSERT INTO t VALUES ('a', 1), ('b', 2)")
    assert postgresql.psql("SELECT k, v FROM t ORDER BY k") == "a|1\nb|2"

    port = postgresql.port
    postgresql.stop()
    assert not servers.port_open(port)
    with pytest.raises(servers.ServerError):
        postgresql.psql("SELECT 1")
    postgresql.start()
    assert postgresql.port == port
    assert postgresql.psql("SELECT sum(v) FROM t") == "3"


def test_postgresql_dsn_works_for_libpq(postgresql):
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(postgresql.dsn()) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (postgresql.user,)
    socket_dsn = postgresql.dsn(host=postgresql.socket_dir)
    with psycopg.connect(socket_dsn) as conn:
        assert conn.info.host == postgresql.socket_dir
