"""inputs.internal: Telegraf's internal_* schema for the agent's own health."""

import pytest

from agent.config.loader import parse
from agent.engine.agent import Agent
from agent.plugin import registry
from tests.fake_plugins import ListSink


@pytest.fixture(autouse=True)
def failing_input(monkeypatch):
    monkeypatch.setitem(registry.INPUTS, "failing", "tests.fake_plugins:FailingInput")


def test_internal_counts_gathers_errors_and_reports_the_process():
    config = parse("[[inputs.mem]]\n[[inputs.failing]]\n  alias = \"fire\"\n"
                   "[[inputs.internal]]\n", "t.toml", {})
    sink = ListSink()
    agent = Agent(config, sinks=[sink], execd=True)
    agent.gather_all()
    sink.metrics.clear()
    agent.gather_all()
    by_name = {}
    for metric in sink.metrics:
        by_name.setdefault(metric.name, []).append(metric)
    gathers = {m.tags["input"]: m for m in by_name["internal_gather"]}
    assert gathers["mem"].fields["metrics_gathered"] == 2
    assert gathers["mem"].fields["gather_time_ns"] > 0
    assert gathers["failing"].fields["errors"] == 2
    assert gathers["failing"].tags["alias"] == "fire"
    (agent_row,) = by_name["internal_agent"]
    assert agent_row.fields["gather_errors"] == 2
    assert agent_row.fields["metrics_gathered"] >= 2
    (process,) = by_name["internal_process"]
    assert process.fields["rss_bytes"] > 10_000_000
    assert isinstance(process.fields["cpu_user_seconds"], float)
    assert all(m.tags["version"] for m in sink.metrics if m.name.startswith("internal_"))
