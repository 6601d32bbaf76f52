"""Runner: schedules, decoration (names, tags, host, filters, precision), error isolation."""

import threading
import time

import pytest

from agent.config.loader import parse
from agent.engine.agent import Agent
from agent.engine.running import RunningInput, precision_for, round_ns
from agent.engine.schedule import InputSchedule, first_tick
from agent.lineprotocol.metric import Metric
from agent.plugin import registry
from agent.plugin.base import NotStored
from tests.fake_plugins import ListSink


@pytest.fixture(autouse=True)
def fake_inputs(monkeypatch):
    for name in ("failing", "slow", "tagged"):
        cls = name.capitalize() + "Input"
        monkeypatch.setitem(registry.INPUTS, name, f"tests.fake_plugins:{cls}")


def test_first_tick_is_the_next_interval_boundary():
    assert first_tick(1003.0, 10.0, aligned=True) == 1010.0
    assert first_tick(1009.95, 10.0, aligned=True) == 1020.0  # within interval/100: next one
    assert first_tick(1010.0, 10.0, aligned=True) == 1020.0
    assert first_tick(1003.0, 10.0, aligned=False) == 1003.0


@pytest.mark.parametrize("precision,interval,expected", [
    (0, 10.0, 1_000_000_000), (0, 0.5, 1_000_000), (0, 0.0005, 1_000), (0, 0, 1),
    (0.001, 10.0, 1_000_000), (60.0, 10.0, 60_000_000_000),
])
def test_precision_like_telegraf(precision, interval, expected):
    assert precision_for(precision, interval) == expected


def test_round_ns_halves_away_from_zero():
    assert round_ns(1_499_999_999, 1_000_000_000) == 1_000_000_000
    assert round_ns(1_500_000_000, 1_000_000_000) == 2_000_000_000
    assert round_ns(-1_500_000_000, 1_000_000_000) == -2_000_000_000
    assert round_ns(123, 1) == 123


def test_decoration_names_tags_host_and_precision():
    config = parse("""
[agent]
  hostname = "pi-kitchen"
[global_tags]
  site = "oyama-4"
  t = "global"
[[inputs.tagged]]
  name_override = "renamed"
  name_prefix = "pre_"
  name_suffix = "_suf"
  [inputs.tagged.tags]
    t = "plugin"
    role = "sensor"
""", "t.toml", {})
    (metric,) = RunningInput(config.inputs[0], config, "pi-kitchen").gather()
    assert metric.name == "pre_renamed_suf"
    # the metric's own tags win over plugin tags, which win over global tags and host
    assert metric.tags == {"host": "own", "t": "1", "role": "sensor", "site": "oyama-4"}
    assert metric.time == 1_700_000_000_000_000_000  # rounded to 1s (10s interval)


def test_filters_like_telegraf():
    config = parse("""
[[inputs.tagged]]
  fieldexclude = ["b"]
  tagexclude = ["t"]
[[inputs.tagged]]
  namedrop = ["tag*"]
[[inputs.tagged]]
  fieldinclude = ["zzz"]
""", "t.toml", {})
    kept, dropped, emptied = (RunningInput(p, config, None).gather() for p in config.inputs)
    assert kept[0].fields == {"a": 1, "c": "x"} and "t" not in kept[0].tags
    assert dropped == [] and emptied == []


def test_an_input_exception_never_stops_the_others(caplog):
    config = parse("[[inputs.failing]]\n[[inputs.tagged]]\n", "t.toml", {})
    sink = ListSink()
    agent = Agent(config, sinks=[sink])
    agent.start()
    assert agent.gather_all() == 1
    assert [m.name for m in sink.metrics] == ["tagged"]
    assert "Error in plugin: sensor on fire" in caplog.text


def test_host_tag_in_run_mode_not_in_execd_mode():
    config = parse('[agent]\nhostname = "box"\n[[inputs.slow]]\n', "t.toml", {})
    sinks = [ListSink(), ListSink()]
    Agent(config, sinks=[sinks[0]]).gather_all()
    Agent(config, sinks=[sinks[1]], execd=True).gather_all()
    assert sinks[0].metrics[0].tags == {"host": "box"}
    assert sinks[1].metrics[0].tags == {}
    omitted = parse("[agent]\nomit_hostname = true\n[[inputs.slow]]\n", "t.toml", {})
    sink = ListSink()
    Agent(omitted, sinks=[sink]).gather_all()
    assert sink.metrics[0].tags == {}


def test_slow_gather_skips_ticks_with_a_warning_never_piles_up():
    calls, warnings = [], []
    running = threading.Event()

    def gather():
        calls.append(time.monotonic())
        running.set()
        time.sleep(0.35)

    schedule = InputSchedule("inputs.slow", gather, interval=0.1, aligned=False,
                             warn=warnings.append)
    schedule.start()
    time.sleep(1.0)
    schedule.stop()
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert 2 <= len(calls) <= 3
    assert all(gap >= 0.35 for gap in gaps), "a gather never starts while one is running"
    assert schedule.skipped >= 3 and warnings
    assert "not complete after interval of 0.1s" in warnings[0]


def test_schedule_wake_gathers_now():
    calls = []
    schedule = InputSchedule("x", lambda: calls.append(1), interval=3600, aligned=True)
    schedule.start()
    time.sleep(0.1)
    assert calls == []
    schedule.wake()
    time.sleep(0.2)
    schedule.stop()
    assert calls == [1]


def test_aligned_schedule_ticks_on_boundaries():
    ticks = []
    schedule = InputSchedule("x", lambda: ticks.append(time.time()), interval=0.2, aligned=True)
    schedule.start()
    time.sleep(1.0)
    schedule.stop()
    assert len(ticks) >= 3
    assert all(abs(t / 0.2 - round(t / 0.2)) * 0.2 < 0.05 for t in ticks), ticks


def test_a_service_input_stores_through_the_accumulator_and_hears_when_an_output_is_full(
        monkeypatch):
    """The acknowledged path: decorated like gathered metrics, in every output before
    add_metrics() returns, and NotStored (not a silent drop) when a buffer is full."""
    monkeypatch.setitem(registry.INPUTS, "pushing", "tests.fake_plugins:PushingInput")
    config = parse('[agent]\nmetric_buffer_limit = 3\nbuffer_strategy = "memory"\n'
                   '[[inputs.pushing]]\ntags = {via = "push"}\n'
                   '[[outputs.influxdb]]\nurls = ["http://127.0.0.1:9"]\n', "t", {})
    agent = Agent(config)
    agent.start()
    try:
        pusher = agent.inputs[0].plugin
        pusher.push([Metric("m", {"v": 1}, time=10), Metric("m", {"v": 2}, time=20)])
        spool = agent.outputs[0].plugin.spool
        assert len(spool) == 2
        assert spool.peek(10)[0].text.startswith("m,host=")
        assert ",via=push v=1i 10\n" in spool.peek(10)[0].text
        with pytest.raises(NotStored) as refused:
            pusher.push([Metric("m", {"v": 3}, time=30), Metric("m", {"v": 4}, time=40)])
        assert refused.value.temporary and "buffer full" in str(refused.value)
        assert len(spool) == 2  # nothing old was dropped to make room
        assert spool.dropped == 0
    finally:
        agent.stop()
