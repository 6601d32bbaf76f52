"""inputs.internal: Telegraf's internal_* schema for the agent's own health."""

import os

import pytest

from agent.config.loader import parse
from agent.engine.agent import Agent
from agent.inputs import internal
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


def test_internal_process_reads_proc_self_as_psutil_does():
    """On Linux internal_process comes from /proc/self (psutil is not installed there by
    default); psutil, reading the same files its own way, is the judge."""
    import psutil

    process = psutil.Process()
    ours = internal._process_fields()
    memory, cpu = process.memory_info(), process.cpu_times()
    assert ours["num_threads"] == process.num_threads()
    # Read a moment apart: memory may move by a few pages, CPU time only forward.
    assert abs(ours["rss_bytes"] - memory.rss) < 2 << 20
    assert abs(ours["vms_bytes"] - memory.vms) < 2 << 20
    assert 0 <= cpu.user - ours["cpu_user_seconds"] < 0.5
    assert 0 <= cpu.system - ours["cpu_system_seconds"] < 0.5
    assert ours["cpu_user_seconds"] > 0


def test_internal_process_parses_a_command_name_with_spaces_and_parentheses(tmp_path):
    (tmp_path / "self").mkdir()
    (tmp_path / "self/statm").write_text("2560 1024 300 10 0 900 0\n")
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime priority nice num_threads ...
    (tmp_path / "self/stat").write_text(
        "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1000 "
        "10485760 1024 18446744073709551615\n")
    fields = internal._process_fields(str(tmp_path))
    page, ticks = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_CLK_TCK")
    assert fields == {"rss_bytes": 1024 * page, "vms_bytes": 2560 * page,
                      "cpu_user_seconds": 250 / ticks, "cpu_system_seconds": 50 / ticks,
                      "num_threads": 7}


def test_internal_process_falls_back_to_psutil_without_proc(tmp_path):
    fields = internal._process_fields(str(tmp_path / "no-proc"))
    assert set(fields) == {"rss_bytes", "vms_bytes", "cpu_user_seconds", "cpu_system_seconds",
                           "num_threads"}
    assert fields["rss_bytes"] > 10_000_000 and fields["num_threads"] >= 1


def test_internal_aggregate_counts_what_an_aggregator_pushed_and_dropped(tmp_path):
    """Telegraf's internal_aggregate, per aggregator: summaries pushed, metrics outside the
    window dropped."""
    from agent.lineprotocol.metric import Metric

    config = parse(f'[agent]\nomit_hostname = true\nbuffer_directory = "{tmp_path}"\n'
                   '[[inputs.internal]]\n[[aggregators.minmax]]\n  period = "1h"\n'
                   '  alias = "hourly"\n', "t.toml", {})
    sink = ListSink()
    agent = Agent(config, sinks=[sink])
    running = agent.aggregation.aggregators[0]
    start = running.window.start
    agent.emit([Metric("m", {"v": 1.0}, time=start + 1), Metric("m", {"v": 2.0}, time=start + 2),
                Metric("m", {"v": 3.0}, time=start - 3_600_000_000_000 * 5)])  # long before
    (aggregate,) = [m for m in agent.inputs[0].plugin.gather() if m.name == "internal_aggregate"]
    assert aggregate.tags["aggregator"] == "minmax" and aggregate.tags["alias"] == "hourly"
    assert aggregate.fields["metrics_dropped"] == 1
    assert aggregate.fields["metrics_pushed"] == 0
