"""SIGHUP: the new agent is built and connected before the old one stops, the open spool of an
unchanged destination is handed over (one writer at a time), and a reload that fails in any way
keeps the old agent running. Every gathered line arrives once (the proxy counts repeats)."""

from __future__ import annotations

import signal

import pytest

from tests.delivery.proxy import InfluxProxy
from tests.delivery_helpers import (
    AgentProcess,
    file_metrics,
    influx_times,
    influx_times_so_far,
    spooled_lines,
    wait_until,
)

AGENT_TABLE = ('[agent]\n  interval = "100ms"\n  flush_interval = "200ms"\n'
               '  shutdown_timeout = "15s"\n  buffer_directory = "{spool}"\n')
MEM = '[[inputs.mem]]\n  fieldinclude = ["used"]\n'


def outputs(truth, url: str, db: str) -> str:
    return (f'[[outputs.file]]\n  files = ["{truth}"]\n'
            f'[[outputs.influxdb]]\n  urls = ["{url}"]\n  database = "{db}"\n'
            f'  timeout = "10s"\n')


def test_sighup_during_a_slow_write_neither_duplicates_nor_loses(tmp_path, influxdb1):
    influxdb1.create_database("slow_reload")
    truth, spool = tmp_path / "truth.lp", tmp_path / "spool"
    with InfluxProxy(influxdb1.url, delay=2.0) as proxy:
        config = AGENT_TABLE.format(spool=spool) + MEM + outputs(truth, proxy.url, "slow_reload")
        with AgentProcess(tmp_path, config) as agent:
            assert wait_until(lambda: proxy.holding == 1, 20), "a write is being held"
            agent.proc.send_signal(signal.SIGHUP)
            assert wait_until(lambda: agent.stderr().count("Loaded inputs") == 2, 20), \
                agent.stderr()
            written = len(proxy.accepted)
            assert wait_until(lambda: len(proxy.accepted) > written + 10, 30), \
                "the new agent delivers"
            agent.terminate(timeout=60)
        counts = proxy.counts()
    assert max(counts.values()) == 1, "a line was sent twice"
    gathered = {m.time for m in file_metrics(truth)}
    delivered = {int(line.rsplit(" ", 1)[1]) for line in counts}
    kept = {int(line.rsplit(" ", 1)[1]) for line in spooled_lines(spool)}
    assert delivered | kept == gathered and not delivered & kept
    assert influx_times(influxdb1, "slow_reload").keys() == delivered
    assert "ValueError" not in agent.stderr() and "failed" not in agent.stderr()


BROKEN = {
    "wrong type": lambda spool, rest: "inputs = {mem = 5}\n" + rest,
    "unusable buffer_directory": lambda spool, rest: AGENT_TABLE.format(spool="/proc/nope")
    + MEM + rest,
}


@pytest.mark.parametrize("broken", BROKEN.values(), ids=list(BROKEN))
def test_a_reload_into_a_broken_config_keeps_the_old_agent_running(tmp_path, influxdb1, broken):
    db = f"broken_{list(BROKEN.values()).index(broken)}"  # a database of this case's own
    influxdb1.create_database(db)
    truth, spool = tmp_path / "truth.lp", tmp_path / "spool"
    rest = outputs(truth, influxdb1.url, db)
    with AgentProcess(tmp_path, AGENT_TABLE.format(spool=spool) + MEM + rest) as agent:
        assert wait_until(lambda: len(influx_times_so_far(influxdb1, db)) >= 3, 20)
        agent.config_path.write_text(broken(spool, rest))
        agent.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "Reload failed, keeping the running config" in agent.stderr(),
                          20), agent.stderr()
        before = len(influx_times(influxdb1, db))
        assert wait_until(lambda: len(influx_times_so_far(influxdb1, db)) >= before + 5, 20), \
            "the old agent still gathers and delivers"
        assert agent.proc.poll() is None
        agent.terminate()
    gathered = {m.time: m.fields["used"] for m in file_metrics(truth)}
    assert influx_times(influxdb1, db) == gathered
    assert "Traceback" not in agent.stderr() and "Stopping" in agent.stderr()
