"""Serialize -> parse round trips: a hypothesis property, and real InfluxDB 1.x as the judge."""

import math
from typing import Optional

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.lineprotocol.linecheck import simple_line, timestamped_block
from agent.lineprotocol.metric import INT64_MAX, INT64_MIN, UINT64_MAX, Metric, UInt
from agent.lineprotocol.parser import ParseError, parse, parse_metrics
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


BOOLS = {"t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"}


def ascii_digits(text: str, most: int) -> bool:
    return 0 < len(text) <= most and text.isascii() and text.isdigit()


def simple_number(value: str) -> bool:
    """An int of at most 18 digits, or a float whose integer part has at most 18 digits."""
    value = value[1:] if value.startswith("-") else value
    if value.endswith("i"):
        return ascii_digits(value[:-1], 18)
    mantissa, _, exponent = value.replace("E", "e").partition("e")
    whole, dot, fraction = mantissa.partition(".")
    if exponent:
        exponent = exponent.lstrip("+-") if exponent[0] in "+-" else exponent
        if not ascii_digits(exponent, 10**6):
            return False
    return ((ascii_digits(whole, 18) and (fraction == "" or ascii_digits(fraction, 10**6)))
            or (whole == "" and dot == "." and ascii_digits(fraction, 10**6)))


def simple_by_hand(line: str) -> Optional[bool]:
    """What linecheck promises, built without its regular expressions: the strict parser must
    take the line, and it has no quotes, backslashes, whitespace but the two separators, string
    or uint fields, 19-digit numbers or timestamps from 9e18 on. True: with a timestamp."""
    if any(c in '"\\' or (c.isspace() and c != " ") for c in line) or line.startswith("#"):
        return None
    parsed = parse(line)
    if len(parsed) != 1 or isinstance(parsed[0], ParseError):
        return None
    parts = line.split(" ")
    if len(parts) not in (2, 3):
        return None
    for tag in parts[0].split(",")[1:]:
        key, _, value = tag.partition("=")
        if not key or not value or "=" in value:
            return None
    for field in parts[1].split(","):
        key, _, value = field.partition("=")
        if not key or not (value in BOOLS or simple_number(value)):
            return None
    if len(parts) == 2:
        return False
    stamp = parts[2][1:] if parts[2].startswith("-") else parts[2]
    return ascii_digits(stamp, 19) and (len(stamp) < 19 or stamp[0] in "12345678") or None


line_candidates = st.one_of(
    st.lists(metrics, min_size=1, max_size=1).map(
        lambda b: Serializer(uint_support=True).serialize_many(b).rstrip("\n")),
    st.text(st.sampled_from("cpu,=ti u.5-e# \"\\\t1٣"), max_size=30),
    st.sampled_from(["m v=1i 1", "m,t=a v=1.5,w=t 2", "m v=1e5i 3", "m v=٣i 4", "m v=1 ",
                     "m v=.5e-3", "m v=1. -5", f"m v={'1' * 18}i 8{'0' * 18}",
                     f"m v={'1' * 19}i", f"m v=1 9{'0' * 18}",
                     "m a=t,b=T,c=true,d=True,e=TRUE 1", "m a=f,b=F,c=false,d=False,e=FALSE",
                     "m a=tRUE 1", "m,t=a=b v=1i 1", "m,t= v=1i 1"]),
)


@settings(max_examples=500, deadline=None)
@given(line_candidates)
def test_the_write_fast_path_takes_exactly_the_simple_lines(line):
    """agent write passes simple lines through unparsed: they must be valid, with the same
    timestamp, and be exactly the ones a check written by hand (on the strict parser) calls
    simple."""
    kind = simple_line(line)
    if kind is not None:
        (result,) = parse(line)
        assert not isinstance(result, ParseError)
        assert (result.time is not None) == kind
    assert kind == simple_by_hand(line)


@settings(max_examples=300, deadline=None)
@given(st.lists(line_candidates, min_size=1, max_size=6))
def test_a_whole_chunk_passes_only_when_every_line_is_simple_and_timestamped(lines):
    """agent write checks thousands of lines in one call: the verdict of the check by hand,
    line by line."""
    text = "xx" + "".join(line + "\n" for line in lines) + "yy"
    expected = all("\n" not in line and simple_by_hand(line) is True for line in lines)
    assert timestamped_block(text, 2, len(text) - 2) == expected
