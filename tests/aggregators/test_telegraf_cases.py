"""basicstats and minmax against Telegraf's own test cases (tests/data/aggregators, facts
transcribed from its Go tests): the exact fields, with their types, per stats option."""

import json
from pathlib import Path

import pytest

from agent.aggregators.basicstats import BasicStats
from agent.aggregators.minmax import MinMax
from agent.lineprotocol.metric import Metric
from agent.lineprotocol.parser import parse_metrics

DATA = Path(__file__).resolve().parents[1] / "data" / "aggregators"
BASICSTATS = json.loads((DATA / "telegraf_basicstats.json").read_text())
MINMAX = json.loads((DATA / "telegraf_minmax.json").read_text())


def metrics_of(doc):
    return {name: parse_metrics(line + "\n")[0] for name, line in doc["metrics"].items()}


def typed(fields):
    return {k: (type(v), v) for k, v in fields.items()}


def run_windows(plugin, doc, case):
    inputs = metrics_of(doc)
    for window in case["windows"]:
        for name in window["add"]:
            plugin.add(inputs[name].copy())
        pushed = plugin.push()
        plugin.reset()
        if window["expect"] is None:
            assert pushed == []
            continue
        (metric,) = pushed
        assert metric.name == "m1"
        assert metric.tags == window.get("tags", {"foo": "bar"})
        assert typed(metric.fields) == typed(window["expect"])


@pytest.mark.parametrize("case", BASICSTATS["cases"], ids=lambda c: c["test"])
def test_basicstats_gives_what_telegrafs_tests_expect(case):
    run_windows(BasicStats(stats=case["stats"]), BASICSTATS, case)


@pytest.mark.parametrize("case", MINMAX["cases"], ids=lambda c: c["test"])
def test_minmax_gives_what_telegrafs_tests_expect(case):
    run_windows(MinMax(), MINMAX, case)


@pytest.mark.parametrize("case", BASICSTATS["cases"][:3], ids=lambda c: c["test"])
def test_the_same_after_a_save_and_restore_between_every_metric(case):
    """A window carried across restarts after each metric gives the same fields."""
    inputs = metrics_of(BASICSTATS)
    for window in case["windows"]:
        plugin = BasicStats(stats=case["stats"])
        for name in window["add"]:
            state = json.loads(json.dumps(plugin.state()))
            plugin = BasicStats(stats=case["stats"])
            plugin.restore(state)
            plugin.add(inputs[name].copy())
        (metric,) = plugin.push()
        assert typed(metric.fields) == typed(window["expect"])


def test_folding_in_batches_equals_adding_one_by_one():
    """Values folded a batch at a time (the fast path) give exactly Telegraf's value-by-value
    Welford updates, whatever the batch boundaries, with ints, uints and a missing field."""
    import random

    from agent.lineprotocol.metric import UInt

    rng = random.Random(7)
    stats = ["count", "min", "max", "mean", "s2", "stdev", "sum", "diff", "rate", "interval",
             "first", "last", "percent_change", "non_negative_diff", "non_negative_rate"]
    metrics = []
    for i in range(500):
        fields = {"f": rng.uniform(-1e3, 1e3), "i": rng.randrange(-50, 50), "u": UInt(i)}
        if i % 7 == 0:
            del fields["f"]
        metrics.append(Metric("s", fields, {"k": "v"}, time=1_000 + i * 10 + (i % 3)))
    one_by_one = BasicStats(stats=stats)
    for metric in metrics:
        one_by_one.add(metric)
        one_by_one.state()  # folds after every metric: Telegraf's order of updates
    batched = BasicStats(stats=stats)
    position = 0
    while position < len(metrics):
        step = rng.randrange(1, 60)
        batched.add_many(metrics[position:position + step])
        position += step
    assert typed(batched.push()[0].fields) == typed(one_by_one.push()[0].fields)


def test_welford_order_as_in_telegraf():
    """mean, s2 from the running updates in arrival order (spelled out, not from the code)."""
    values = [3.0, 7.5, -2.25, 1e9, 4.0]
    n = mean = m2 = 0.0
    for x in values:
        n += 1
        delta = x - mean
        mean += delta / n
        m2 += delta * (x - mean)
    plugin = BasicStats(stats=["mean", "s2", "sum"])
    plugin.add_many([Metric("m", {"v": v}, {}, time=i) for i, v in enumerate(values)])
    (metric,) = plugin.push()
    assert metric.fields == {"v_mean": mean, "v_s2": m2 / (n - 1), "v_sum": sum(values)}


def test_strings_and_booleans_are_not_aggregated_and_a_series_is_name_plus_tags():
    plugin = MinMax()
    plugin.add(Metric("m", {"s": "text", "b": True, "v": 2}, {"x": "1", "y": "2"}, time=1))
    plugin.add(Metric("m", {"v": 5}, {"y": "2", "x": "1"}, time=2))  # tags in another order
    plugin.add(Metric("m", {"v": 9}, {"x": "1"}, time=3))  # another series
    plugin.add(Metric("n", {"v": 1}, {"x": "1", "y": "2"}, time=4))  # another name
    pushed = {(m.name, tuple(sorted(m.tags.items()))): m.fields for m in plugin.push()}
    assert pushed == {
        ("m", (("x", "1"), ("y", "2"))): {"v_min": 2.0, "v_max": 5.0},
        ("m", (("x", "1"),)): {"v_min": 9.0, "v_max": 9.0},
        ("n", (("x", "1"), ("y", "2"))): {"v_min": 1.0, "v_max": 1.0},
    }


def test_series_beyond_max_series_are_refused_and_counted():
    plugin = MinMax()
    plugin.max_series = 2
    for i in range(5):
        plugin.add(Metric("m", {"v": i}, {"n": str(i % 3)}, time=i))
    assert {m.tags["n"] for m in plugin.push()} == {"0", "1"}
    assert plugin.refused == 1  # i = 2 (series "2"); 3 and 4 belong to the kept series
    plugin.reset()
    assert plugin.refused == 0


def test_restore_rejects_a_state_of_the_wrong_shape():
    plugin = BasicStats()
    for bad in ([["m", {}, {"v": [1.0]}]], [["m", {"t": 1}, {}]], [{"name": "m"}], [[1, {}, {}]]):
        with pytest.raises(ValueError):
            plugin.restore(bad)
