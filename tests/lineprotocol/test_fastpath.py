"""The serializer's compiled fast path (agent/fieldplan.py) gives exactly the general path's
bytes, for every value a cached shape may meet later: NaN, Inf, ints outside int64, huge
uints, strings to escape, '%' in keys, sorted fields, no time."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.lineprotocol.metric import INT64_MAX, INT64_MIN, UINT64_MAX, Metric, UInt
from agent.lineprotocol.serializer import Serializer

KINDS = {
    "int": st.integers(INT64_MIN * 2, INT64_MAX * 2),  # some outside int64: dropped
    "uint": st.builds(UInt, st.integers(0, UINT64_MAX)),
    "float": st.floats(),  # NaN and +-Inf included: dropped
    "bool": st.booleans(),
    "str": st.text(max_size=8),
}
keys = st.text(st.sampled_from('ab%=, \\"x'), min_size=0, max_size=4)


@st.composite
def same_shape_batches(draw):
    """Metrics that all share one series and one field shape, with varying values."""
    shape = draw(st.dictionaries(keys, st.sampled_from(sorted(KINDS)), min_size=0, max_size=6))
    tags = draw(st.dictionaries(keys, keys, max_size=2))
    count = draw(st.integers(1, 6))
    batch = []
    for _ in range(count):
        fields = {key: draw(KINDS[kind]) for key, kind in shape.items()}
        time = draw(st.none() | st.integers(INT64_MIN, INT64_MAX))
        batch.append(Metric("m%", fields, dict(tags), time))
    return batch


def general_path(uint_support: bool, sort_fields: bool) -> Serializer:
    # A line limit that never splits forces the field-by-field path for every metric.
    return Serializer(uint_support, sort_fields, max_line_bytes=1 << 30)


def ordinary(metric: Metric, uint_support: bool) -> bool:
    """A metric the compiled path must serialize itself: fields to write, every key writable,
    no NaN or Inf, no int outside int64, no uint to clamp. The rest it may hand over."""
    for key, value in metric.fields.items():
        if not key or key.endswith("\\"):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
            return False
        if isinstance(value, UInt) and not uint_support and value > INT64_MAX:
            return False
    return bool(metric.fields)


def watch_general_path(serializer: Serializer) -> list:
    """The metrics the serializer hands to its general (field by field) path."""
    handed_over = []
    general = serializer._serialize_slowly

    def counting(metric, header):
        handed_over.append(metric)
        return general(metric, header)

    serializer._serialize_slowly = counting
    return handed_over


@settings(max_examples=600, deadline=None)
@given(same_shape_batches(), st.booleans(), st.booleans())
def test_fast_path_equals_general_path(batch, uint_support, sort_fields):
    fast = Serializer(uint_support, sort_fields)
    handed_over = watch_general_path(fast)
    slow = general_path(uint_support, sort_fields)
    slow_handed_over = watch_general_path(slow)
    assert [fast.serialize(m) for m in batch] == [slow.serialize(m) for m in batch]
    assert (fast.stats.dropped_metrics, fast.stats.dropped_fields) == (
        slow.stats.dropped_metrics, slow.stats.dropped_fields)
    # The comparison means something only if the two took different paths.
    assert slow_handed_over == batch, "the reference took the general path every time"
    taken_over = [m for m in handed_over if ordinary(m, uint_support)]
    assert taken_over == [], "the compiled path declined ordinary metrics"


def test_the_compiled_path_serves_a_whole_gather():
    serializer = Serializer()
    handed_over = watch_general_path(serializer)
    fields = {"total": UInt(25276059648), "used_percent": 2.35, "label": 'a "b"', "on": True,
              "n": -3}
    lines = [serializer.serialize(Metric("mem", dict(fields), {"host": "a b"}, t))
             for t in (1, 2)]
    assert lines[1] == 'mem,host=a\\ b total=25276059648i,used_percent=2.35,label="a \\"b\\"",' \
                       'on=true,n=-3i 2\n'
    assert handed_over == []


def test_a_cached_shape_still_drops_nan_and_keeps_the_other_fields():
    serializer = Serializer()
    first = serializer.serialize(Metric("m", {"a": 1.5, "b": 2}, {}, 1))
    second = serializer.serialize(Metric("m", {"a": math.nan, "b": 3}, {}, 2))
    assert (first, second) == ("m a=1.5,b=2i 1\n", "m b=3i 2\n")
    assert serializer.stats.dropped_fields == 1


def test_a_percent_sign_in_a_key_is_text_not_a_format():
    line = Serializer().serialize(Metric("m%s", {"%d": 1, "x%": "%s"}, {"t%": "%%"}, None))
    assert line == 'm%s,t%=%% %d=1i,x%="%s"\n'


def test_uint_above_int64_is_clamped_without_uint_support_on_a_cached_shape():
    serializer = Serializer()
    serializer.serialize(Metric("m", {"u": UInt(1)}, {}, 0))
    assert serializer.serialize(Metric("m", {"u": UInt(UINT64_MAX)}, {}, 0)) == (
        f"m u={INT64_MAX}i 0\n")
