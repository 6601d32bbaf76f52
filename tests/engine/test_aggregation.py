"""The engine's aggregators with an injected clock: which metrics a window takes (Telegraf's
own cases), drop_original, names and timestamps of pushes, windows kept across restarts, a
closed window pushed at start, corrupt state set aside, bounded saves and series, and the
acknowledged store path."""

import json
import logging
from pathlib import Path

import pytest

from agent.config.loader import parse
from agent.engine.agent import Agent
from agent.engine.aggregation import Aggregation
from agent.engine.windows import Window
from agent.lineprotocol.metric import Metric
from agent.lineprotocol.parser import parse_metrics
from agent.plugin import registry
from agent.plugin.base import NotStored

NS = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * NS  # a multiple of 10 s
FACTS = json.loads((Path(__file__).resolve().parents[1] / "data" / "aggregators"
                    / "telegraf_running_aggregator.json").read_text())


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def config(body: str, state_dir=None):
    head = f'[agent]\nbuffer_directory = "{state_dir}"\n' if state_dir else ""
    return parse(f"{head}[[inputs.mem]]\n{body}", "agg.toml", {})


def aggregation(body: str, clock: Clock, state_dir=None, **kwargs):
    pushed = []
    agg = Aggregation(config(body, state_dir), pushed.extend, state_dir and str(state_dir),
                      clock=clock, **kwargs)
    return agg, pushed


def feed(agg: Aggregation, metrics):
    forwarded, batches = agg.split(metrics)
    agg.add(batches)
    return forwarded


def opened(agg: Aggregation) -> Aggregation:
    """start() without the clock thread: the tests drive tick() themselves."""
    for aggregator, state in zip(agg.aggregators, agg.files):
        agg._open(aggregator, state)
    agg.checkpoint(force=True)
    return agg


@pytest.mark.parametrize("case", FACTS["cases"], ids=lambda c: c["test"])
def test_which_metrics_a_window_takes_as_in_telegrafs_tests(case):
    body = (f'[[aggregators.basicstats]]\nstats = ["sum"]\nperiod = "{case["period_ms"]}ms"\n'
            f'grace = "{case["grace_ms"]}ms"\ndelay = "{case["delay_ms"]}ms"\n')
    clock = Clock(T0)
    agg, pushed = aggregation(body, clock)
    running = agg.aggregators[0]
    running.window = Window(T0, T0 + case["period_ms"] * MS)
    feed(agg, [Metric("RITest", {"value": m["value"]}, {}, T0 + m["offset_ms"] * MS)
               for m in case["metrics"]])
    outside = [m for m in case["metrics"]
               if not -case["grace_ms"] <= m["offset_ms"] <= case["period_ms"]]
    assert running.stats()["metrics_dropped"] == len(outside)
    (metric,) = running.close(T0 + case["period_ms"] * MS)
    assert metric.fields == {"value_sum": float(case["sum"])}
    assert running.stats() == {"metrics_pushed": 1, "metrics_dropped": len(outside),
                               "metrics_filtered": 0, "metrics_refused": 0}  # since start
    assert running.dropped == 0  # the window's own count starts again


def test_drop_original_takes_only_what_the_aggregator_selects():
    facts = FACTS["drop_original"]
    clock = Clock(T0 + 1)
    agg, _ = aggregation('[[aggregators.minmax]]\ndrop_original = true\nnamepass = '
                         f'{json.dumps(facts["namepass"])}\n', clock)
    opened(agg)
    for name, forwarded in facts["forwarded"].items():
        assert bool(feed(agg, [Metric(name, {"value": 101}, {}, T0 + 2)])) is forwarded


def test_the_aggregators_field_filter_does_not_modify_the_original():
    facts = FACTS["does_not_modify"]
    clock = Clock(T0 + 1)
    agg, pushed = aggregation(f'[[aggregators.minmax]]\nperiod = "10s"\nfieldinclude = '
                              f'{json.dumps(facts["fieldinclude"])}\n', clock)
    opened(agg)
    (original,) = parse_metrics(facts["metric"] + "\n")
    original.time = T0 + 5
    expected = original.copy()
    (forwarded,) = feed(agg, [original])
    assert forwarded is original and original == expected
    clock.now = T0 + 10 * NS
    agg.tick()
    assert pushed[0].fields == {"a_min": 42.0, "a_max": 42.0}


def test_pushes_are_renamed_tagged_and_stamped_at_the_push_rounded_to_the_precision():
    clock = Clock(T0 + 3 * NS)
    agg, pushed = aggregation('[[aggregators.minmax]]\nperiod = "10s"\nname_override = "x"\n'
                              'name_prefix = "p_"\nname_suffix = "_s"\n'
                              'tags = {rollup = "10s", room = "not this"}\n', clock)
    opened(agg)
    feed(agg, [Metric("m", {"v": 1.5}, {"room": "lab"}, T0 + 4 * NS)])
    clock.now = T0 + 10 * NS + 400 * MS  # late by 0.4 s; precision 1 s (interval 10 s)
    assert agg.tick() == pytest.approx(9.6)
    (metric,) = pushed
    assert metric.name == "p_x_s" and metric.tags == {"room": "lab", "rollup": "10s"}
    assert metric.time == T0 + 10 * NS
    assert agg.aggregators[0].window == Window(T0 + 10 * NS, T0 + 20 * NS)


STATS_BODY = ('[[aggregators.basicstats]]\nperiod = "10s"\ngrace = "2s"\n'
              'stats = ["count", "min", "max", "mean", "stdev", "sum", "first", "last"]\n')


def test_a_restart_inside_a_window_keeps_it(tmp_path):
    clock = Clock(T0 + 1 * NS)
    first, pushed = aggregation(STATS_BODY, clock, tmp_path)
    opened(first)
    feed(first, [Metric("m", {"v": v}, {"s": "a"}, T0 + i * NS) for i, v in enumerate((4, 8))])
    first.stop()  # saves; nothing pushed: the window is still open
    assert pushed == []
    clock.now = T0 + 5 * NS
    second, pushed = aggregation(STATS_BODY, clock, tmp_path)
    opened(second)
    feed(second, [Metric("m", {"v": 6}, {"s": "a"}, T0 + 5 * NS)])
    clock.now = T0 + 10 * NS
    second.tick()
    (metric,) = pushed
    assert metric.fields == {"v_count": 3.0, "v_min": 4.0, "v_max": 8.0, "v_mean": 6.0,
                             "v_stdev": 2.0, "v_sum": 18.0, "v_first": 4.0, "v_last": 6.0}
    assert metric.time == T0 + 10 * NS


def test_a_window_that_closed_while_down_is_pushed_at_start_stamped_with_its_end(tmp_path,
                                                                                caplog):
    clock = Clock(T0 + 1 * NS)
    first, _ = aggregation(STATS_BODY, clock, tmp_path)
    opened(first)
    feed(first, [Metric("m", {"v": 3}, {"s": "a"}, T0 + 1 * NS)])
    first.stop()
    clock.now = T0 + 95 * NS  # down for 9 windows
    second, pushed = aggregation(STATS_BODY, clock, tmp_path)
    with caplog.at_level(logging.INFO):
        opened(second)
    (metric,) = pushed
    assert metric.time == T0 + 10 * NS and metric.fields["v_count"] == 1.0
    assert "closed while the agent was not running" in caplog.text
    assert second.aggregators[0].window == Window(T0 + 90 * NS, T0 + 100 * NS)
    second.stop()
    third, pushed = aggregation(STATS_BODY, clock, tmp_path)
    opened(third)
    assert pushed == []  # pushed once, not again


def test_a_corrupt_state_file_is_set_aside_and_a_new_window_starts(tmp_path, caplog):
    clock = Clock(T0 + 1 * NS)
    first, _ = aggregation(STATS_BODY, clock, tmp_path)
    opened(first)
    feed(first, [Metric("m", {"v": 3}, {"s": "a"}, T0 + 1 * NS)])
    first.stop()
    (state,) = tmp_path.glob("aggregators.basicstats-*.json")
    for garbage in (b"\x00\xff{not json", b'{"version": 1, "window": [5, 1]}',
                    json.dumps({"version": 1, "window": [T0, T0 + 10 * NS],
                                "series": [["m", {}, {"v": [1]}]]}).encode()):
        state.write_bytes(garbage)
        again, pushed = aggregation(STATS_BODY, clock, tmp_path)
        with caplog.at_level(logging.ERROR):
            opened(again)
        assert "is unreadable" in caplog.text and "starting a new window" in caplog.text
        assert pushed == [] and again.aggregators[0].plugin.series_count == 0
        caplog.clear()
    assert len(list(tmp_path.glob("aggregators.basicstats-*.json.corrupt-*"))) >= 1
    assert json.loads(state.read_text())["series"] is None  # a fresh, valid state


def test_saves_are_bounded_in_rate_and_atomic(tmp_path):
    clock = Clock(T0 + 1 * NS)
    agg, _ = aggregation(STATS_BODY, clock, tmp_path, checkpoint_every=1.0)
    opened(agg)
    (state,) = tmp_path.glob("aggregators.basicstats-*.json")

    def saved_count():
        series = json.loads(state.read_text())["series"] or [["", {}, {"v": [0.0]}]]
        return series[0][2]["v"][0]

    feed(agg, [Metric("m", {"v": 1}, {"s": "a"}, T0 + 1 * NS)])
    clock.now += 10 * MS
    agg.tick()
    assert saved_count() == 0.0  # within a second of the last save: not yet
    clock.now += 990 * MS
    agg.tick()
    assert saved_count() == 1.0
    feed(agg, [Metric("m", {"v": 1}, {"s": "a"}, T0 + 2 * NS)])
    assert agg.tick() == pytest.approx(1.0)  # the next save is due in a second
    assert not list(tmp_path.glob("*.tmp"))


def test_series_beyond_max_series_are_refused_and_logged_at_the_push(caplog):
    clock = Clock(T0 + 1 * NS)
    agg, pushed = aggregation('[[aggregators.minmax]]\nperiod = "10s"\nmax_series = 2\n', clock)
    opened(agg)
    feed(agg, [Metric("m", {"v": i}, {"s": str(i)}, T0 + 2 * NS) for i in range(5)])
    clock.now = T0 + 10 * NS
    with caplog.at_level(logging.WARNING):
        agg.tick()
    assert len(pushed) == 2
    assert "3 metric(s) of new series were not aggregated: max_series = 2" in caplog.text


def test_without_a_state_directory_the_open_window_is_pushed_at_stop():
    clock = Clock(T0 + 1 * NS)
    agg, pushed = aggregation('[[aggregators.minmax]]\nperiod = "10s"\n', clock)
    agg.start()
    feed(agg, [Metric("m", {"v": 7}, {}, T0 + 2 * NS)])
    agg.stop()
    assert [m.fields for m in pushed] == [{"v_min": 7.0, "v_max": 7.0}]


def test_an_acknowledged_store_aggregates_only_what_the_outputs_took(monkeypatch, tmp_path):
    monkeypatch.setitem(registry.INPUTS, "pushing", "tests.fake_plugins:PushingInput")
    config = parse(f'[agent]\nmetric_buffer_limit = 2\nbuffer_strategy = "memory"\n'
                   f'buffer_directory = "{tmp_path}"\nomit_hostname = true\n'
                   '[[inputs.pushing]]\n[[outputs.influxdb]]\nurls = ["http://127.0.0.1:9"]\n'
                   '[[aggregators.minmax]]\nperiod = "1h"\n', "t", {})
    agent = Agent(config)
    agent.start()
    try:
        pusher = agent.inputs[0].plugin
        now = agent.aggregation.aggregators[0].window.start + 1
        pusher.push([Metric("m", {"v": 1}, time=now), Metric("m", {"v": 2}, time=now)])
        with pytest.raises(NotStored):
            pusher.push([Metric("m", {"v": 100}, time=now)])  # the buffer is full
        (summary,) = agent.aggregation.aggregators[0].plugin.push()
        assert summary.fields == {"v_min": 1.0, "v_max": 2.0}  # 100 was refused: not counted
    finally:
        agent.stop()
