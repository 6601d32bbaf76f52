"""Runner: schedules, decoration (names, tags, host, filters, precision), error isolation."""

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


class SteppedClock:
    """A clock the test moves by hand. It counts its reads, so the test can wait until the
    schedule has looked at a new time (instead of sleeping and hoping it did)."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def set(self, now: float) -> None:
        """Move to now and wait until the schedule has read it and decided (two loops)."""
        self.now = now
        seen = self.reads
        assert eventually(lambda: self.reads >= seen + 4), "the schedule stopped looking"


def eventually(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_slow_gather_skips_ticks_with_a_warning_never_piles_up():
    clock = SteppedClock(1000.0)
    calls, ends, warnings = [], [], []

    def gather():  # takes 0.8 s of the schedule's clock: the ticks at .25, .5, .75 pass
        calls.append(clock.now)
        clock.now += 0.8
        ends.append(clock.now)

    schedule = InputSchedule("inputs.slow", gather, interval=0.25, aligned=False,
                             warn=warnings.append, clock=clock)
    schedule.start()
    try:
        assert eventually(lambda: schedule.skipped == 3)
        clock.set(1000.9)  # past the missed ticks, before the next one (1001.0)
        assert calls == [1000.0], "missed ticks are skipped, not run late one after another"
        clock.set(1001.0)
        assert eventually(lambda: len(calls) == 2)
    finally:
        schedule.stop()
    assert calls[1] >= ends[0], "a gather never starts while one is running"
    assert "not complete after interval of 0.25s; skipped 3" in warnings[0]


def test_schedule_wake_gathers_now():
    clock = SteppedClock(1000.0)
    calls = []
    schedule = InputSchedule("x", lambda: calls.append(1), interval=3600, aligned=True,
                             clock=clock)
    schedule.start()
    try:
        assert eventually(lambda: clock.reads >= 2)  # waiting for 3600.0, an hour away
        assert calls == []
        schedule.wake()
        assert eventually(lambda: calls == [1])
    finally:
        schedule.stop()
    assert calls == [1]


def test_aligned_schedule_ticks_on_boundaries():
    clock = SteppedClock(1000.0625)  # the boundaries of 0.25 s: 1000.25, 1000.5, 1000.75
    ticks = []
    schedule = InputSchedule("x", lambda: ticks.append(clock.now), interval=0.25,
                             aligned=True, clock=clock)
    schedule.start()
    boundaries = (1000.25, 1000.5, 1000.75)
    try:
        for done, boundary in enumerate(boundaries):
            clock.set(boundary - 0.01)
            assert len(ticks) == done, f"gathered before the boundary {boundary}: {ticks}"
            clock.now = boundary + 0.01
            assert eventually(lambda n=done + 1: len(ticks) == n), ticks
    finally:
        schedule.stop()
    assert ticks == [boundary + 0.01 for boundary in boundaries]


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
