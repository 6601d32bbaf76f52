"""Serialize -> parse round trips: a hypothesis property, and real InfluxDB 1.x as the judge."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.lineprotocol.metric import INT64_MAX, INT64_MIN, UINT64_MAX, Metric, UInt
from agent.lineprotocol.parser import parse_metrics
from agent.lineprotocol.serializer import Serializer

# Telegraf escapes these control characters as backslash + letter, and no parser turns them
# back: a tab in a tag value arrives as the two characters "\t".
CONTROL = str.maketrans({"\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"})

# Keys and names without backslashes (a backslash next to an escapable character is lossy in
# Telegraf's format by design); everything else, including , = " space, emoji and controls.
names = st.text(st.characters(blacklist_characters="\\", blacklist_categories=("Cs",)),
                min_size=1, max_size=12).filter(lambda s: not s.startswith("#"))
field_values = st.one_of(
    st.integers(INT64_MIN, INT64_MAX),
    st.builds(UInt, st.integers(0, UINT64_MAX)),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)
metrics = st.builds(
    Metric,
    name=names,
    fields=st.dictionaries(names, field_values, min_size=1, max_size=5),
    tags=st.dictionaries(names, names, max_size=4),
    time=st.integers(INT64_MIN, INT64_MAX),
)


def expected_after_round_trip(metric: Metric) -> Metric:
    return Metric(
        metric.name.translate(CONTROL),
        {k.translate(CONTROL): v for k, v in metric.fields.items()},
        {k.translate(CONTROL): v.translate(CONTROL) for k, v in metric.tags.items()},
        metric.time,
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(metrics, min_size=1, max_size=5))
def test_serialize_then_parse_gives_the_metrics_back(batch):
    text = Serializer(uint_support=True).serialize_many(batch)
    assert parse_metrics(text) == [expected_after_round_trip(m) for m in batch]


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_survives_exactly(value):
    (metric,) = parse_metrics(Serializer().serialize(Metric("m", {"v": value}, {}, 0)))
    assert metric.fields["v"] == value and math.copysign(1, metric.fields["v"]) == math.copysign(
        1, value)


NASTY = [
    # (measurement, tags, fields): what we send; InfluxDB must give back exactly that,
    # less Telegraf's documented losses (control characters spelled out, trailing
    # backslashes of tags trimmed, empty tags left out).
    ("cpu load,1", {"host name": "a,b=c"}, {"used=pct": 1.5}),
    ('q"uote', {'t"ag': 'v"al'}, {'f"ield': 'str "with" quotes'}),
    ("back\\slash", {"path": "C:\\Temp\\"}, {"s": "a\\b\\\\c\\"}),
    ("tab\tnew\nline", {"k\tk": "v\nv"}, {"f\rf": 7}),
    ("emoji 🌡️", {"site": "Ōyama 4 🏔"}, {"温度": 21.5, "ok": True}),
    ("empties", {"empty": "", "kept": "x"}, {"n": -9223372036854775808}),
    ("equals=sign", {"a=b": "c=d"}, {"x=y": "newline\nin string"}),
]


def test_nasty_names_round_trip_through_influxdb1(influxdb1):
    influxdb1.create_database("nasty")
    serializer = Serializer()
    body = "".join(
        serializer.serialize(Metric(name, dict(fields), dict(tags), 1_700_000_000_000_000_000 + i))
        for i, (name, tags, fields) in enumerate(NASTY)
    )
    status, text = influxdb1.write(body.encode(), db="nasty")
    assert status == 204, text
    stored = {
        series["name"]: dict(zip(series["columns"], series["values"][0]))
        for series in influxdb1.query('SELECT * FROM /.*/', db="nasty")["results"][0]["series"]
    }
    assert sorted(stored) == sorted(name.translate(CONTROL) for name, _, _ in NASTY)
    for name, tags, fields in NASTY:
        row = stored[name.translate(CONTROL)]
        want_tags = {k.translate(CONTROL): v.translate(CONTROL).rstrip("\\")
                     for k, v in tags.items() if v}
        want_fields = {k.translate(CONTROL): v for k, v in fields.items()}
        got = {k: v for k, v in row.items() if k != "time" and v is not None}
        assert got == {**want_tags, **want_fields}, name


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.lists(metrics, min_size=1, max_size=1).map(
        lambda b: Serializer(uint_support=True).serialize_many(b).rstrip("\n")),
    st.text(st.sampled_from("cpu,=ti u.5-e# \"\\\t1"), max_size=30),
))
def test_the_write_fast_path_accepts_only_lines_the_strict_parser_accepts(line):
    """agent write passes simple lines through unparsed: they must be valid, same timestamp."""
    from agent.lineprotocol.linecheck import simple_line
    from agent.lineprotocol.parser import ParseError, parse

    kind = simple_line(line)
    if kind is not None:
        (result,) = parse(line)
        assert not isinstance(result, ParseError)
        assert (result.time is not None) == kind


simple_candidates = st.one_of(
    st.lists(metrics, min_size=1, max_size=1).map(
        lambda b: Serializer(uint_support=True).serialize_many(b).rstrip("\n")),
    st.text(st.sampled_from("cpu,=ti u.5-e# \"\\\t1٣"), max_size=30),
    st.sampled_from(["m v=1i 1", "m,t=a v=1.5,w=t 2", "m v=1e5i 3", "m v=٣i 4", "m v=1 "]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(simple_candidates, min_size=1, max_size=6))
def test_a_whole_chunk_passes_only_when_every_line_is_simple_and_timestamped(lines):
    """agent write checks thousands of lines in one call: the same verdict as line by line."""
    from agent.lineprotocol.linecheck import simple_line, timestamped_block

    text = "xx" + "".join(line + "\n" for line in lines) + "yy"
    expected = all("\n" not in line and simple_line(line) is True for line in lines)
    assert timestamped_block(text, 2, len(text) - 2) == expected
