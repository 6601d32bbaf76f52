"""Text lines: splitting on \\r\\n, \\n and \\r, the first line after open, length caps, and the
influx, kv, csv, json and regex formats (with the text_lines cases of serial_frames.json)."""

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.inputs.serial.counters import Counters
from agent.inputs.serial.lines import LineSplitter, LinesProtocol
from agent.inputs.serial.textformats import check_regex, convert, make_parser
from agent.lineprotocol.metric import Metric, UInt
from agent.lineprotocol.parser import parse_metrics
from agent.lineprotocol.serializer import Serializer
from tests.vectors import VECTORS as VECTOR_DIR

VECTORS = json.loads((VECTOR_DIR / "serial_frames.json").read_text())["text_lines"]["cases"]


def unescape(text):
    return text.replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t")


def split(chunks, max_length=4096, discard_first=False):
    counters = Counters()
    splitter = LineSplitter(counters, max_length)
    if not discard_first:
        splitter.feed(b"\n")  # the first line end after open: nothing to discard
    lines = [line for chunk in chunks for _, line in splitter.feed(chunk)]
    return lines, counters.snapshot()


@pytest.mark.parametrize("end", [b"\r\n", b"\n", b"\r"])
def test_every_line_end_ends_a_line(end):
    lines, _ = split([b"a=1" + end + b"b=2" + end])
    assert lines == [b"a=1", b"b=2"]


def test_crlf_split_between_reads_gives_no_extra_line():
    lines, _ = split([b"a=1\r", b"\nb=2\r", b"\n"])
    assert lines == [b"a=1", b"b=2"]


def test_the_first_line_after_open_is_discarded_even_when_partial():
    lines, stats = split([b"=612 t=2", b"1.5\r\nco2=600\r\n"], discard_first=True)
    assert lines == [b"co2=600"] and stats["lines_discarded"] == 1


def test_too_long_lines_are_dropped_whole_and_memory_stays_bounded():
    counters = Counters()
    splitter = LineSplitter(counters, 16)
    splitter.feed(b"\n")
    kept = []
    for chunk in (b"a=1\n", b"x" * 10, b"y" * 10, b"z" * 1000, b"\nb=2\n", b"c" * 17 + b"\nd=4\n"):
        kept += [line for _, line in splitter.feed(chunk)]
        assert len(splitter._partial) <= 16
    assert kept == [b"a=1", b"b=2", b"d=4"]
    assert counters.snapshot()["lines_bad_length"] == 2


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.binary(min_size=1, max_size=30).filter(
    lambda b: b"\r" not in b and b"\n" not in b), max_size=20),
       ends=st.lists(st.sampled_from([b"\r\n", b"\n", b"\r"]), min_size=1),
       seed=st.integers(0, 1000))
def test_lines_survive_any_read_boundaries(lines, ends, seed):
    stream = b"".join(line + ends[i % len(ends)] for i, line in enumerate(lines))
    rng = random.Random(seed)
    chunks, pos = [], 0
    while pos < len(stream):
        size = rng.randrange(1, 12)
        chunks.append(stream[pos:pos + size])
        pos += size
    assert split(chunks)[0] == lines


def test_bytes_after_each_line_end_are_reported():
    splitter = LineSplitter(Counters())
    splitter.feed(b"\n")
    # A line is complete at its first line-end byte: "\nb=2\r\nc" and "\nc" follow.
    assert splitter.feed(b"a=1\r\nb=2\r\nc") == [(7, b"a=1"), (2, b"b=2")]


# Formats

FORMAT_OF_CASE = ["kv", "kv", "json", "kv"]


@pytest.mark.parametrize(("case", "data_format"), list(zip(VECTORS, FORMAT_OF_CASE)))
def test_vector_text_lines(case, data_format):
    protocol = LinesProtocol(Counters(), make_parser(data_format, "serial"))
    protocol.reset()
    readings = protocol.feed(b"\r\n" + unescape(case["line"]).encode())
    metrics = [m for _, m in readings]
    if case["fields"]:
        assert metrics == [Metric("serial", case["fields"])]
    else:
        assert metrics == []  # nan only: nothing to emit, and not a parse error
    assert protocol.counters.snapshot()["lines_bad_parse"] == 0


@pytest.mark.parametrize(("text", "value"), [
    ("612", 612), ("-3", -3), ("+7", 7), ("21.5", 21.5), ("40.00", 40.0), ("1e3", 1000.0),
    (".5", 0.5), ("5.", 5.0), ("nan", None), ("-nan", None), ("inf", None), ("-inf", None),
    ("ovf", None), ("NaN", None), ("", None), ("ok", "ok"), ("1_000", "1_000"),
    ("99999999999999999999", 1e20),
])
def test_convert(text, value):
    assert convert(text) == value and type(convert(text)) is type(value)


def parse(data_format, line, **kwargs):
    return make_parser(data_format, "serial", **kwargs).parse(line)


def test_kv_separators_and_plotter_labels():
    assert parse("kv", "a=1, b:2.5\tc=x").fields == {"a": 1, "b": 2.5, "c": "x"}
    assert parse("kv", "time=12:30").fields == {"time": "12:30"}
    for bad in ("Hello world", "=5", "a=1 b"):
        with pytest.raises(ValueError):
            parse("kv", bad)


def test_a_field_seen_as_float_stays_float():
    parser = make_parser("kv", "serial")
    assert parser.parse("t=21.5").fields == {"t": 21.5}
    fields = parser.parse("t=21 n=3").fields
    assert type(fields["t"]) is float and type(fields["n"]) is int


def test_tag_keys_become_tags():
    metric = parse("kv", "sensor=a co2=612", tag_keys=["sensor"])
    assert metric.tags == {"sensor": "a"} and metric.fields == {"co2": 612}
    metric = parse("json", '{"id": 7, "co2": 612}', tag_keys=["id"])
    assert metric.tags == {"id": "7"}


def test_influx_lines_keep_their_measurement_tags_types_and_time():
    metric = parse("influx", "climate,room=lab co2=612i,t=21.5,ok=true,u=3u 1700000000000000000")
    assert metric == Metric("climate", {"co2": 612, "t": 21.5, "ok": True, "u": UInt(3)},
                            {"room": "lab"}, 1700000000000000000)
    assert parse("influx", "# a comment") is None
    for bad in ("climate co2=", "no fields", "m v=1 2 3"):
        with pytest.raises(ValueError):
            parse("influx", bad)


def test_csv_columns_from_config_or_header():
    parser = make_parser("csv", "serial")
    with pytest.raises(ValueError, match="header"):
        parser.parse("612,21.5")
    assert parser.parse("co2,t,rh") is None
    assert parser.parse("612, 21.5 ,nan").fields == {"co2": 612, "t": 21.5}
    with pytest.raises(ValueError, match="columns"):
        parser.parse("612,21.5")
    fixed = make_parser("csv", "serial", csv_column_names=["co2", "t"], csv_delimiter="\t")
    assert fixed.parse("co2\tt") is None
    assert fixed.parse("612\t21.5").fields == {"co2": 612, "t": 21.5}


def test_json_nested_keys_are_joined_and_types_kept():
    metric = parse("json", '{"co2":612,"env":{"t":21.5,"rh":40},"ok":true,"l":[1,2],'
                           '"n":null,"s":"x","nan":NaN}')
    assert metric == Metric("serial", {"co2": 612, "env_t": 21.5, "env_rh": 40, "ok": True,
                                       "l_0": 1, "l_1": 2, "s": "x"})
    for bad in ("[1,2]", "{oops", "612"):
        with pytest.raises(ValueError):
            parse("json", bad)


def test_regex_named_groups():
    line = "CO2: 612 ppm, T: 21.5 C"
    metric = parse("regex", line, regex=r"CO2: (?P<co2>\d+) ppm, T: (?P<t>[\d.]+)(?P<x>!)?")
    assert metric.fields == {"co2": 612, "t": 21.5}
    with pytest.raises(ValueError):
        parse("regex", "garbage", regex=r"(?P<co2>\d+) ppm")
    assert check_regex(r"(\d+)") and check_regex("(") and check_regex(r"(?P<a>\d)") is None


def test_unparsable_lines_are_counted_and_skipped():
    protocol = LinesProtocol(Counters(), make_parser("kv", "serial"))
    readings = protocol.feed(b"\nboot v1.2\r\nco2=612\r\n\xff\xfe garbage\r\nt:nan\r\n")
    assert [m.fields for _, m in readings] == [{"co2": 612}]
    stats = protocol.counters.snapshot()
    assert stats["lines_ok"] == 2 and stats["lines_bad_parse"] == 2


# Hostile lines (issue 11 item 10): one bad line is one lines_bad_parse, whatever it holds

HOSTILE = [
    ("kv", "x=" + "9" * 400),  # was OverflowError (int too large to convert to float)
    ("kv", "x=-" + "9" * 4000),
    ("kv", "x=1e999"),
    ("csv", "co2,t\n" + "9" * 400 + ",1"),
    ("regex", "CO2 " + "9" * 400 + " ppm"),
    ("json", "[" * 3000),  # was RecursionError
    ("json", "{\"a\":" * 3000),
    ("json", "{\"a\":" * 900 + "1" + "}" * 900),  # parses, but nests far too deep
    ("json", "{\"a\":[" + "[" * 40 + "1" + "]" * 40 + "]}"),
    ("json", "{\"a\":" + "9" * 400 + "}"),
    ("json", "{\"a\":1e400}"),
]


@pytest.mark.parametrize(("data_format", "line"), HOSTILE)
def test_a_hostile_line_is_one_bad_parse_and_the_next_line_is_read(data_format, line):
    good = {"kv": "co2=612", "csv": "612,21", "regex": "CO2 612 ppm",
            "json": "{\"co2\":612}"}[data_format]
    parser = make_parser(data_format, "serial", regex=r"CO2 (?P<co2>\d+) ppm")
    protocol = LinesProtocol(Counters(), parser, max_length=16384)
    header, _, line = line.rpartition("\n")
    readings = protocol.feed(f"\n{header}\n{line}\n{good}\n".encode().replace(b"\n\n", b"\n"))
    assert readings and readings[-1][1].fields["co2"] == 612
    assert protocol.counters.snapshot()["lines_bad_parse"] == 1


def test_brackets_inside_json_strings_are_not_nesting():
    metric = parse("json", '{"s": "' + "[" * 100 + '", "v": 1}')
    assert metric.fields == {"s": "[" * 100, "v": 1}
    with pytest.raises(ValueError, match="nested deeper"):
        parse("json", '{"s": "\\"[", "v": ' + "[" * 40 + "]" * 40 + "}")


def json_documents():
    leaves = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                        max_leaves=30).map(lambda doc: json.dumps(doc))


CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n")
LINES = st.one_of(
    st.text(CHARS, max_size=120),
    st.text(st.sampled_from("=:, \t-+.e0123456789nafiovx\"\\[]{}"), max_size=120),
    st.lists(st.tuples(st.text(CHARS, min_size=1, max_size=8), st.text(CHARS, max_size=30)),
             max_size=6).map(lambda pairs: " ".join(f"{k}={v}" for k, v in pairs)),
    json_documents(),
    st.integers(0, 5000).map(lambda depth: "[" * depth + "]" * depth),
    st.builds(lambda digits, exponent: f"x={digits}e{exponent}",
              st.integers(), st.integers(-5000, 5000)),
)
FORMAT_OPTIONS = {
    "influx": {}, "kv": {"tag_keys": ["id"]}, "json": {"tag_keys": ["id"]},
    "csv": {"csv_column_names": ["id", "b", "c"], "tag_keys": ["id"]},
    "regex": {"regex": r"(?P<id>\w+)\W+(?P<v>\S+)", "tag_keys": ["id"]},
}


@settings(max_examples=600, deadline=None)
@given(data_format=st.sampled_from(sorted(FORMAT_OPTIONS)), line=LINES)
def test_no_text_line_raises_anything_but_valueerror_and_results_serialize(data_format, line):
    parser = make_parser(data_format, "serial", **FORMAT_OPTIONS[data_format])
    try:
        metric = parser.parse(line)
    except ValueError:
        return
    if metric is None:
        return
    metric.time = 1
    text = Serializer(uint_support=True).serialize_many([metric])
    assert parse_metrics(text) or text == "", "what a parser accepts is valid line protocol"


@settings(max_examples=300, deadline=None)
@given(data_format=st.sampled_from(sorted(FORMAT_OPTIONS)),
       data=st.lists(st.binary(max_size=200) | LINES.map(str.encode), max_size=8))
def test_any_bytes_are_counted_and_never_raise(data_format, data):
    counters = Counters()
    parser = make_parser(data_format, "serial", **FORMAT_OPTIONS[data_format])
    protocol = LinesProtocol(counters, parser, max_length=4096)
    protocol.feed(b"\n")
    stream = b"\n".join(data) + b"\n"
    for start in range(0, len(stream), 97):
        protocol.feed(stream[start:start + 97])
    lines = [line for line in stream.replace(b"\r", b"\n").split(b"\n") if line]
    stats = counters.snapshot()
    assert stats["lines_ok"] + stats["lines_bad_parse"] + stats["lines_bad_length"] == len(lines)
