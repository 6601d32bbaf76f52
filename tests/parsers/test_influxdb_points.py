"""InfluxDB's own reading of line protocol: the fast paths (plain splits, lines as received)
give exactly what the full scan gives, and the full scan's words are InfluxDB's. The real
InfluxDB 1.x is the judge in tests/inputs/influxdb_listener/test_parity.py; these are quick
checks of the parts."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.lineprotocol.parser import parse_metrics
from agent.parsers.influxdb_points import plain_lines, read_points
from agent.parsers.influxdb_scan import Invalid, scan_point

NAMES = st.text(string.ascii_letters + string.digits + "_-.:/", min_size=1, max_size=8)
VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(lambda v: f"{v}i"),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.integers(0, 2**64 - 1).map(lambda v: f"{v}u"),
)
LINES = st.builds(
    lambda name, tags, fields, stamp: (
        name + "".join(f",{k}={v}" for k, v in tags.items()) + " "
        + ",".join(f"{k}={v}" for k, v in fields.items())
        + ("" if stamp is None else f" {stamp}")),
    NAMES, st.dictionaries(NAMES, NAMES, max_size=3),
    st.dictionaries(NAMES, VALUES, min_size=1, max_size=4),
    st.one_of(st.none(), st.integers(-(2**63) + 2, 2**63 - 2)))


@settings(max_examples=400, deadline=None)
@given(LINES, st.booleans())
def test_the_fast_path_reads_what_the_full_scan_reads(line, uint):
    points = read_points(line + "\n", 1, 42, uint=uint)
    try:
        scanned = scan_point(line, 1, uint)
    except Invalid as err:
        assert points.metrics == [] and [r.reason for r in points.rejected] == [str(err)]
        return
    expected = scanned.metric
    if expected.time is None:
        expected.time = 42
    assert points.metrics == [expected] and points.rejected == []


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=5))
def test_lines_stored_as_received_mean_the_same_metrics(lines):
    body = "\n".join(lines) + "\n"
    stored = plain_lines(body, 1, 42, lambda keys: ",added=yes" if "added" not in keys else "")
    if stored is None:
        return  # not a plain body: the metric path takes it
    expected = read_points(body, 1, 42).metrics
    assert expected and not read_points(body, 1, 42).rejected
    for metric in expected:
        metric.tags.setdefault("added", "yes")
    assert parse_metrics("".join(stored)) == expected


@pytest.mark.parametrize("line,reason", [
    ("cpu value=", "missing field value"),
    ("cpu", "missing fields"),
    ("cpu,host= value=1", "missing tag value"),
    ("cpu,host value=1", "missing tag value"),
    ("cpu value=1 abc", "bad timestamp"),
    ('cpu value="unterminated', "unbalanced quotes"),
    ("cpu value=tru 1", "invalid boolean"),
    ("cpu value=1e 1", "invalid float"),
    ("cpu,a=1,a=2 value=1 1", "duplicate tags"),
    (",a=1 value=1", "missing measurement"),
    ("cpu value=1 1 extra", "point is invalid"),
    ("cpu value=1u 1", "invalid number"),
    ("a v=1 9223372036854775807", "time outside range -9223372036854775806 - "
                                  "9223372036854775806"),
    ("a v=NaN 1", "invalid number"),
    ("a v=+1 1", "invalid boolean"),
    ("a v=1,w 1", "invalid field format"),
    ("a =1 1", "missing field key"),
    ("a,=x v=1 1", "missing tag key"),
    ("a,t=a=b v=1 1", "invalid tag format"),
    ("a v=1\t1", "invalid number"),
    ("a v=1 1\r", "bad timestamp"),
    ("a v=99999999999999999999i 1", 'unable to parse integer 99999999999999999999: '
     'strconv.ParseInt: parsing "99999999999999999999": value out of range'),
])
def test_influxdb_words_for_refused_lines(line, reason):
    (rejected,) = read_points(line + "\n", 1, 0).rejected
    assert (rejected.reason, rejected.message) == (reason, f"unable to parse '{line}': {reason}")


def test_quotes_escapes_and_line_numbers():
    body = ('ok v=1 1\n\n# comment\nq s="a\\"b\\\\c\nd",w=2 2\nbad\nesc\\ m,t\\ k=v\\,w f\\=k=1 3\n'
            'cont v=1 4\\\ncont v=2 5\n')
    points = read_points(body, 1, 0)
    assert [m.fields for m in points.metrics[:2]] == [{"v": 1.0},
                                                     {"s": 'a"b\\c\nd', "w": 2.0}]
    assert (points.metrics[2].name, points.metrics[2].tags, points.metrics[2].fields) == (
        "esc m", {"t k": "v,w"}, {"f=k": 1.0})
    assert points.linenos == [1, 4, 7]
    assert [(r.lineno, r.text) for r in points.rejected] == [
        (6, "bad"), (8, "cont v=1 4\\\ncont v=2 5")]


def test_missing_timestamps_take_now_truncated_to_the_precision():
    points = read_points("a v=1\na v=2 7\n", 1_000_000_000, 12_345_678_901)
    assert [m.time for m in points.metrics] == [12_000_000_000, 7_000_000_000]


def test_plain_lines_refuse_what_must_be_read_as_metrics():
    added = lambda keys: ""  # noqa: E731
    assert plain_lines('m s="x" 1\n', 1, 0, added) is None  # quotes
    assert plain_lines("m v=5u 1\n", 1, 0, added) is None  # unsigned: the output may rewrite
    assert plain_lines("m v=1e3 1\n", 1, 0, added) is None  # exponent
    assert plain_lines("m,a=1,a=2 v=1 1\n", 1, 0, added) is None  # duplicate tags
    assert plain_lines("m v=1 1\n", 1, 0, lambda keys: None) is None  # refused by the caller
    assert plain_lines("  m v=1\n# c\n", 1000, 123456, added) == ["m v=1 123000\n"]
