"""Stopping: SIGTERM keeps delivering for [agent] shutdown_timeout (which systemd's
TimeoutStopSec bounds in turn), says how many are lost with the memory buffer, and thousands of
inputs stop in parallel within a bound, a stuck one named and left behind."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from agent.config.agent_options import AGENT_OPTIONS
from agent.config.loader import parse
from agent.engine import agent as engine
from agent.plugin import registry
from tests.delivery.proxy import InfluxProxy
from tests.delivery_helpers import AgentProcess, file_metrics, wait_until
from tests.fake_plugins import ListSink

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "agent@.service"


def test_sigterm_delivers_for_shutdown_timeout_and_counts_what_the_memory_buffer_loses(
        tmp_path, influxdb1):
    influxdb1.create_database("slow_stop")
    truth = tmp_path / "truth.lp"
    with InfluxProxy(influxdb1.url, delay=2.0) as proxy:
        config = (f'[agent]\n  interval = "50ms"\n  flush_interval = "1h"\n'
                  f'  metric_batch_size = 5\n  shutdown_timeout = "7s"\n'
                  f'  buffer_strategy = "memory"\n'
                  f'[[inputs.mem]]\n  fieldinclude = ["used"]\n'
                  f'[[outputs.file]]\n  files = ["{truth}"]\n'
                  f'[[outputs.influxdb]]\n  urls = ["{proxy.url}"]\n  database = "slow_stop"\n'
                  f'  timeout = "10s"\n')
        with AgentProcess(tmp_path, config) as agent:
            assert wait_until(lambda: len(file_metrics(truth)) >= 30, 20)
            agent.terminate(timeout=30)
        accepted = len(proxy.accepted)
    log = agent.stderr()
    lost = re.search(r"(\d+) metric\(s\) not delivered at shutdown: lost \(memory buffer\)", log)
    assert lost, log
    # Lines in (gathered) = lines out (acknowledged by the server) + the loss reported.
    assert accepted + int(lost.group(1)) == len(file_metrics(truth))
    assert accepted >= 15, "several 2 s requests fit in the 7 s shutdown_timeout, not one"


def test_systemd_gives_the_agent_more_time_to_stop_than_the_agent_takes():
    """SIGTERM -> the agent delivers for shutdown_timeout, then its outputs have CLOSE_GRACE
    twice (writers answer, spools close); systemd's TimeoutStopSec must be longer, or it
    SIGKILLs the agent mid-flush (the disk spool survives that; the memory buffer does not)."""
    (stop_sec,) = re.findall(r"^TimeoutStopSec=(\d+)s$", UNIT.read_text(), re.M)
    default = next(o.default for o in AGENT_OPTIONS if o.name == "shutdown_timeout")
    assert int(stop_sec) > default + 2 * engine.CLOSE_GRACE


@pytest.fixture
def stopping_inputs(monkeypatch):
    monkeypatch.setitem(registry.INPUTS, "meeting", "tests.delivery.stop_plugins:MeetingInput")
    monkeypatch.setitem(registry.INPUTS, "stuck", "tests.delivery.stop_plugins:StuckInput")
    from tests.delivery import stop_plugins

    stop_plugins.reset(parties=4)
    yield stop_plugins
    stop_plugins.RELEASE.set()


def test_thousands_of_inputs_stop_in_parallel_bounded_and_a_stuck_one_is_named(
        stopping_inputs, caplog):
    config = parse('[agent]\n  interval = "1h"\n' + "[[inputs.mem]]\n" * 5000
                   + "[[inputs.meeting]]\n" * 4 + "[[inputs.stuck]]\n", "t.toml", {})
    agent = engine.Agent(config, sinks=[ListSink()])
    agent.start()
    agent.start_schedules()
    stopper = threading.Thread(target=agent.stop, kwargs={"timeout": 4.0}, daemon=True)
    stopper.start()
    stopper.join(60)
    assert not stopper.is_alive(), "stop() is bounded even with an input that never stops"
    assert stopping_inputs.MET == 4, "the four meeting inputs were stopping at the same time"
    assert [t for t in threading.enumerate() if t.name.startswith("gather ")] == []
    warning = next(r.getMessage() for r in caplog.records if "Still stopping" in r.getMessage())
    assert "inputs.stuck" in warning and "leaving it behind" in warning
