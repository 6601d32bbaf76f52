"""Telegraf's own serializer (section C) and parser (sections A, B) test vectors."""

import math

import pytest

from agent.lineprotocol.parser import ParseError, parse
from agent.lineprotocol.serializer import Serializer
from tests.vectors import load_cases

CASES = load_cases()
SERIALIZER_CASES = [c for c in CASES if c.id.startswith("C")]
PARSER_CASES = [c for c in CASES if c.id[0] in "AB"]


def test_vectors_loaded():
    assert len(SERIALIZER_CASES) >= 30
    assert len(PARSER_CASES) >= 90


@pytest.mark.parametrize("case", SERIALIZER_CASES, ids=lambda c: f"{c.id} {c.title}")
def test_serializer_matches_telegraf(case):
    serializer = Serializer(
        uint_support=case.options.get("influx_uint_support") == "true",
        sort_fields=True,
        max_line_bytes=int(case.options.get("influx_max_line_bytes", 0)),
    )
    out = serializer.serialize(case.metric)
    if case.output is None:
        assert out == ""
        assert serializer.stats.dropped_metrics == 1
    else:
        assert out == case.output
        assert serializer.stats.dropped_metrics == 0


@pytest.mark.parametrize("case", PARSER_CASES, ids=lambda c: f"{c.id} {c.title}")
def test_parser_matches_telegraf(case):
    results = parse(case.input)
    assert len(results) == len(case.lines), results
    for result, (valid, expected) in zip(results, case.lines):
        if valid:
            assert not isinstance(result, ParseError), result
            assert result == expected
            assert _kinds(result.fields) == _kinds(expected.fields)
        else:
            assert isinstance(result, ParseError)
            assert result.reason == expected


def _kinds(fields):
    return {k: type(v) for k, v in fields.items()}


def test_parse_error_names_its_line_after_multiline_string():
    results = parse('a s="x\ny" 1\nb value=oops\nc v=1')
    assert isinstance(results[1], ParseError)
    assert results[1].lineno == 3
    assert results[1].text == "b value=oops"
    assert results[2].name == "c"


@pytest.mark.parametrize(
    "value,text",
    [
        (0.1, "0.1"),
        (1e21, "1000000000000000000000"),
        (1.5e-7, "0.00000015"),
        (-0.0, "-0"),
        (123456789.123456789, "123456789.12345679"),
        (2.0**63, "9223372036854776000"),  # Go pads the shortest digits
        (5e-324, "0." + "0" * 323 + "5"),
    ],
)
def test_floats_are_positional_and_exact(value, text):
    line = Serializer().serialize(_metric(value))
    assert line == f"m v={text} 1\n"
    assert float(text) == value and not math.isnan(value)


def test_int_out_of_int64_range_is_dropped_not_wrapped():
    serializer = Serializer()
    assert serializer.serialize(_metric(2**63)) == ""
    assert serializer.stats.dropped_fields == 1


def _metric(value):
    from agent.lineprotocol.metric import Metric

    return Metric("m", {"v": value}, {}, 1)
