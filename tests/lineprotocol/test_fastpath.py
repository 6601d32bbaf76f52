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


@settings(max_examples=600, deadline=None)
@given(same_shape_batches(), st.booleans(), st.booleans())
def test_fast_path_equals_general_path(batch, uint_support, sort_fields):
    fast = Serializer(uint_support, sort_fields)
    slow = general_path(uint_support, sort_fields)
    assert [fast.serialize(m) for m in batch] == [slow.serialize(m) for m in batch]
    assert (fast.stats.dropped_metrics, fast.stats.dropped_fields) == (
        slow.stats.dropped_metrics, slow.stats.dropped_fields)


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
