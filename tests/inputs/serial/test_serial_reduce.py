"""What a gather emits from the readings since the last one, and when they were read."""

import pytest

from agent.inputs.serial.reader import stamp
from agent.inputs.serial.reduce import Reducer
from agent.lineprotocol.metric import Metric
from agent.system.backoff import Backoff


def m(fields, time, **tags):
    return Metric("serial", dict(fields), tags, time)


def test_all_keeps_every_reading_and_drops_the_oldest_beyond_the_limit():
    dropped = []
    reducer = Reducer("all", limit=3, on_drop=dropped.append)
    for i in range(5):
        reducer.add(m({"v": i}, i))
    assert [x.fields["v"] for x in reducer.take()] == [2, 3, 4]
    assert sum(dropped) == 2 and reducer.take() == []


def test_last_is_per_series_with_the_latest_value_of_each_field():
    reducer = Reducer("last")
    reducer.add(m({"a": 1, "b": 1.5}, 10, port="p"))
    reducer.add(m({"a": 2}, 20, port="p"))
    reducer.add(m({"a": 9}, 15, port="q"))
    assert reducer.take() == [m({"a": 2, "b": 1.5}, 20, port="p"), m({"a": 9}, 15, port="q")]
    assert reducer.take() == []


def test_mean_gives_basicstats_fields_with_stable_types():
    reducer = Reducer("mean")
    for value, t, ok in ((600, 21.5, True), (610, 22.0, False), (641, 21.0, True)):
        reducer.add(m({"co2": value, "t": t, "ok": ok, "s": "x"}, value))
    (metric,) = reducer.take()
    assert metric == m({"co2_count": 3, "co2_max": 641, "co2_mean": 617.0, "co2_min": 600,
                        "t_count": 3, "t_max": 22.0, "t_mean": 21.5, "t_min": 21.0,
                        "ok": True, "s": "x"}, 641)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        Reducer("median")


def test_readings_of_one_read_get_the_times_their_last_bytes_arrived():
    byte_ns = 1_041_667  # 9600 baud, 8N1: 10 bits per character
    readings = [(20, m({"a": 1}, None)), (0, m({"a": 2}, None))]
    last = stamp(readings, 1_000_000_000_000, byte_ns, 0)
    assert [r.time for _, r in readings] == [1_000_000_000_000 - 20 * byte_ns, 1_000_000_000_000]
    assert last == 1_000_000_000_000


def test_times_never_repeat_or_go_back_and_device_times_are_kept():
    readings = [(0, m({"a": 1}, None)), (0, m({"a": 2}, None)), (0, m({"a": 3}, 5))]
    last = stamp(readings, 100, 1000, 100)
    assert [r.time for _, r in readings] == [101, 102, 5] and last == 102


def test_backoff_doubles_to_its_limit_and_starts_over():
    backoff = Backoff(first=1.0, cap=30.0)
    assert [backoff.next_delay() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next_delay() == 1
