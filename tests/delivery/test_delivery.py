"""Delivery without loss: outages, kill -9, SIGTERM, dead letters, full spools, bad servers."""

from __future__ import annotations

import socket

from agent.lineprotocol.parser import parse_metrics
from tests import servers
from tests.delivery_helpers import (
    AgentProcess,
    file_metrics,
    influx_times,
    influx_times_so_far,
    spooled_lines,
    spooled_lines_so_far,
    wait_until,
)

FAST = """
[agent]
  interval = "100ms"
  flush_interval = "200ms"
  retry_max_interval = "1s"
  shutdown_timeout = "5s"
  buffer_directory = "{spool}"
[[inputs.mem]]
  fieldinclude = ["used", "total"]
[[outputs.file]]
  files = ["{truth}"]
"""


def influx_output(url: str, db: str, extra: str = "") -> str:
    return (f'[[outputs.influxdb]]\n  urls = ["{url}"]\n  database = "{db}"\n'
            f'  timeout = "1s"\n{extra}')


def gathered(truth):
    return {m.time: m.fields["used"] for m in file_metrics(truth)}


def test_outage_of_20s_loses_nothing(tmp_path, own_influx):
    truth = tmp_path / "truth.lp"
    config = FAST.format(spool=tmp_path / "spool", truth=truth) + influx_output(
        own_influx.url, "outage")
    with AgentProcess(tmp_path, config) as agent:
        assert wait_until(lambda: len(influx_times_so_far(own_influx, "outage")) >= 5, 15)
        own_influx.stop()
        down_at = len(gathered(truth))
        # The outage lasts 200 gathers (about 20 s at 100 ms): counted, not timed.
        assert wait_until(lambda: len(gathered(truth)) >= down_at + 200, 120)
        during = len(gathered(truth))
        own_influx.start()
        assert wait_until(lambda: influx_times_so_far(own_influx, "outage").keys()
                          >= gathered(truth).keys(), 30), agent.stderr()
        agent.terminate()
    want = gathered(truth)
    assert len(want) >= during >= 200, "gathered all along"
    assert influx_times(own_influx, "outage") == want
    log = agent.stderr()
    assert log.count("Cannot write to") == 1, "one error per outage, not per retry"
    assert "Writing to" in log and "again after" in log


def test_kill_9_during_outage_then_restart_delivers_every_spooled_point(tmp_path, own_influx):
    spool = tmp_path / "spool"
    config = FAST.format(spool=spool, truth=tmp_path / "truth.lp") + influx_output(
        own_influx.url, "killed")
    own_influx.stop()
    with AgentProcess(tmp_path, config) as agent:
        assert wait_until(lambda: len(spooled_lines_so_far(spool)) >= 20, 15)
        agent.kill9()
    waiting = parse_metrics("".join(spooled_lines(spool)))
    assert len(waiting) >= 20
    own_influx.start()
    with AgentProcess(tmp_path, config, name="restarted") as agent:
        want = {m.time: m.fields["used"] for m in waiting}
        assert wait_until(lambda: influx_times_so_far(own_influx, "killed").keys() >= want.keys(),
                          20)
        agent.terminate()
    stored = influx_times(own_influx, "killed")
    assert all(stored[t] == v for t, v in want.items())
    assert "from before; sending them first" in agent.stderr()


def test_sigterm_with_server_up_delivers_everything_gathered(tmp_path, influxdb1):
    truth = tmp_path / "truth.lp"
    slow_flush = FAST.replace('flush_interval = "200ms"', 'flush_interval = "1h"')
    config = slow_flush.format(spool=tmp_path / "spool", truth=truth) + influx_output(
        influxdb1.url, "sigterm")
    with AgentProcess(tmp_path, config) as agent:
        assert wait_until(lambda: len(gathered(truth)) >= 15, 10)
        assert influx_times(influxdb1, "sigterm") == {}, "nothing sent before the flush"
        elapsed = agent.terminate()
    assert elapsed < 5
    assert influx_times(influxdb1, "sigterm") == gathered(truth)
    assert spooled_lines(tmp_path / "spool") == []


def test_spool_full_drops_oldest_counts_them_and_stays_bounded(tmp_path):
    closed_port = servers.free_port()
    spool, internal = tmp_path / "spool", tmp_path / "internal.lp"
    config = FAST.format(spool=spool, truth=tmp_path / "truth.lp").replace(
        'interval = "100ms"', 'interval = "50ms"\n  metric_buffer_limit = 40') + (
        f'[[inputs.internal]]\n  namepass = ["internal_write"]\n'
        f'[[outputs.file]]\n  files = ["{internal}"]\n  namepass = ["internal_*"]\n'
        + influx_output(f"http://127.0.0.1:{closed_port}", "full", '  namepass = ["mem"]\n'))
    with AgentProcess(tmp_path, config) as agent:
        def dropped():
            rows = [m for m in file_metrics(internal) if m.name == "internal_write"]
            return rows[-1].fields if rows else {}

        assert wait_until(lambda: dropped().get("metrics_dropped", 0) >= 20, 15)
        fields = dropped()
        assert fields["buffer_size"] == 40 and fields["buffer_limit"] == 40
        assert fields["metrics_added"] == fields["metrics_dropped"] + 40
        assert len(spooled_lines(spool)) == 40
        assert sum(p.stat().st_size for p in spool.iterdir()) < 2_000_000
        assert agent.proc.poll() is None
        agent.terminate(timeout=15)
    assert agent.stderr().count("Buffer full") == 1, "logged once per burst"


def test_wrong_password_is_one_clear_error_without_the_secret_and_data_is_kept(tmp_path):
    secured = servers.InfluxDB1(username="admin", password="right-pass").start()
    try:
        spool = tmp_path / "spool"
        auth = '  username = "admin"\n  password = "Wr0ng-S3cret"\n'
        config = FAST.format(spool=spool, truth=tmp_path / "t.lp") + influx_output(
            secured.url, "authdb", auth + "  skip_database_creation = true\n")
        with AgentProcess(tmp_path, config) as agent:
            assert wait_until(lambda: "Cannot write to" in agent.stderr(), 10)
            assert wait_until(lambda: len(spooled_lines_so_far(spool)) >= 10, 10)
            agent.terminate(timeout=15)
        log = agent.stderr()
        line = next(x for x in log.splitlines() if "Cannot write to" in x)
        assert "[outputs.influxdb]" in line and secured.url in line and "'authdb'" in line
        assert "HTTP 401" in line
        assert "Wr0ng-S3cret" not in log
        assert len(spooled_lines(spool)) >= 10, "kept for when the config is fixed"
    finally:
        secured.close()


def test_missing_database_is_a_clear_error(tmp_path, influxdb1):
    config = FAST.format(spool=tmp_path / "spool", truth=tmp_path / "t.lp") + influx_output(
        influxdb1.url, "never_created", "  skip_database_creation = true\n")
    with AgentProcess(tmp_path, config) as agent:
        assert wait_until(lambda: "Cannot write to" in agent.stderr(), 10)
        agent.terminate(timeout=15)
    line = next(x for x in agent.stderr().splitlines() if "Cannot write to" in x)
    assert "HTTP 404" in line and "database not found" in line and "never_created" in line


def test_server_that_never_answers_times_out_and_the_agent_stays_responsive(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(100)  # the kernel accepts connections; nobody ever answers
    truth, spool = tmp_path / "truth.lp", tmp_path / "spool"
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        config = FAST.format(spool=spool, truth=truth) + influx_output(url, "silent")
        with AgentProcess(tmp_path, config) as agent:
            assert wait_until(lambda: "Cannot write to" in agent.stderr(), 10)
            before = len(gathered(truth))
            assert wait_until(lambda: len(gathered(truth)) >= before + 15, 30), \
                "gathers go on while writes hang"
            elapsed = agent.terminate(timeout=20)
        assert elapsed < 5 + 2, "shutdown_timeout bounds the final flush"
        assert "timed out" in agent.stderr().lower()
        waiting = parse_metrics("".join(spooled_lines(spool)))
        assert {m.time for m in waiting} == gathered(truth).keys(), "all of it waits on disk"
    finally:
        silent.close()
