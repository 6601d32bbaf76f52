"""The json data format against Telegraf's own json parser and timestamp test cases."""

from __future__ import annotations

import calendar
import datetime
import json
import re
from pathlib import Path

import pytest

from agent.parsers.json import JSON_OPTIONS, JSONError, JSONParser, check_options
from agent.parsers.json.timestamps import TimestampParser

DATA = Path(__file__).resolve().parents[1] / "data" / "telegraf_json"
PARSER_CASES = json.loads((DATA / "parser_cases.json").read_text())
TIME_CASES = json.loads((DATA / "timestamp_cases.json").read_text())
DEFAULTS = {option.name: option.default for option in JSON_OPTIONS}


def make_parser(config: dict) -> JSONParser:
    options = {**DEFAULTS, **config}
    return JSONParser(options.pop("metric_name"), **options)


@pytest.mark.parametrize("case", PARSER_CASES, ids=[c["source"] for c in PARSER_CASES])
def test_telegraf_parser_cases(case):
    parser = make_parser(case["config"])
    if "error" in case:
        with pytest.raises(JSONError) as raised:
            parser.parse(case["input"].encode())
        if isinstance(case["error"], str):
            assert case["error"] in str(raised.value)
        return
    metrics = parser.parse(case["input"].encode())
    got = [{"name": m.name, "tags": m.tags, "fields": m.fields,
            **({"time": m.time} if m.time is not None else {})} for m in metrics]
    assert got == case["expected"]
    for metric in metrics:  # every JSON number is a float, as Go decodes it
        assert all(type(v) in (float, str, bool) for v in metric.fields.values())


_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?"
                      r"(Z|([+-])(\d\d):(\d\d))")


def _instant(text: str, year: int) -> int:
    """ns since the epoch of an RFC 3339 time; year 0000 becomes `year` (what the json
    parser makes of a layout without a year)."""
    parts = _RFC3339.fullmatch(text).groups()
    date = [int(p) for p in parts[:6]]
    date[0] = date[0] or year
    seconds = calendar.timegm((*date, 0, 0, 0))
    if parts[7] != "Z":
        offset = int(parts[9]) * 3600 + int(parts[10]) * 60
        seconds -= offset if parts[8] == "+" else -offset
    return seconds * 10**9 + int((parts[6] or "").ljust(9, "0"))


@pytest.mark.parametrize("case", TIME_CASES, ids=[c["source"] for c in TIME_CASES])
def test_telegraf_timestamp_cases(case):
    parser = TimestampParser(case["format"], case.get("location", ""))
    if "error" in case:
        with pytest.raises(ValueError) as raised:
            parser(case["timestamp"])
        assert case["error"] in str(raised.value)
        return
    got = parser(case["timestamp"])
    if "expected_unix" in case:
        assert got // 10**9 == case["expected_unix"]
    else:
        year = datetime.datetime.now(datetime.timezone.utc).year
        assert got == _instant(case["expected"], year)


def test_a_layout_without_a_year_takes_the_current_one():
    parser = TimestampParser("Jan _2 15:04:05", clock=lambda: 1_700_000_000.0)  # in 2023
    assert parser("Feb 29 10:00:00") == _instant("2023-03-01T10:00:00Z", 2023)  # rolls over
    assert parser("Mar  3 10:00:00") == _instant("2023-03-03T10:00:00Z", 2023)


@pytest.mark.parametrize("layout,value,expected", [
    ("2006-01-02T15:04:05Z07:00", "2024-05-06T07:08:09+02:00", "2024-05-06T05:08:09Z"),
    ("2006-01-02T15:04:05Z07:00", "2024-05-06T07:08:09Z", "2024-05-06T07:08:09Z"),
    ("2006-01-02 15:04:05", "2024-05-06 07:08:09.125", "2024-05-06T07:08:09.125Z"),
    ("2006-01-02 15:04:05.000", "2024-05-06 07:08:09.125", "2024-05-06T07:08:09.125Z"),
    ("01/02/2006 03:04:05 PM", "12/31/2023 11:59:58 PM", "2023-12-31T23:59:58Z"),
    ("01/02/2006 3:04 pm", "01/01/2024 12:05 am", "2024-01-01T00:05:00Z"),
    ("Monday, January 2, 2006 15:04 -0700", "Sunday, March 3, 2024 09:30 -0130",
     "2024-03-03T11:00:00Z"),
    ("2006-002", "2024-060", "2024-02-29T00:00:00Z"),
])
def test_go_layouts(layout, value, expected):
    assert TimestampParser(layout)(value) == _instant(expected, 2024)


@pytest.mark.parametrize("layout,value", [
    ("2006-01-02", "2024-02-30"), ("2006-01-02", "2024-13-01"), ("15:04", "24:00"),
    ("2006-01-02", "2024-01-02 extra"), ("Jan 2", "Foo 2"),
])
def test_go_layout_mismatches_are_errors(layout, value):
    with pytest.raises(ValueError):
        TimestampParser(layout)(value)


def test_timezone_applies_only_without_an_offset():
    berlin = TimestampParser("2006-01-02 15:04", "Europe/Berlin")
    assert berlin("2024-07-01 12:00") == _instant("2024-07-01T10:00:00Z", 2024)  # CEST
    assert berlin("2024-01-01 12:00") == _instant("2024-01-01T11:00:00Z", 2024)  # CET
    with_offset = TimestampParser("2006-01-02 15:04 -0700", "Europe/Berlin")
    assert with_offset("2024-07-01 12:00 +0000") == _instant("2024-07-01T12:00:00Z", 2024)


def test_the_co2_sensor_post_becomes_one_metric():
    (metric,) = make_parser({"metric_name": "http_listener_v2"}).parse(
        b'{"co2": 550, "temperature": 24.2, "humidity": 48.2}')
    assert (metric.name, metric.tags, metric.fields, metric.time) == (
        "http_listener_v2", {}, {"co2": 550.0, "temperature": 24.2, "humidity": 48.2}, None)


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"{} {}", b'{"a": NaN}',
                                  b'{"a": 1e999}'])
def test_what_go_refuses_is_refused(body):
    with pytest.raises(JSONError):
        make_parser({"metric_name": "m"}).parse(body)


@pytest.mark.parametrize("options,key", [
    ({"json_time_key": "t"}, "json_time_format"),
    ({"json_time_key": "t", "json_time_format": "yesterday"}, "json_time_format"),
    ({"json_timezone": "Mars/Olympus"}, "json_timezone"),
    ({"json_query": "a|b"}, "json_query"),
    ({"json_query": "@reverse"}, "json_query"),
])
def test_check_names_the_bad_option(options, key):
    problems = check_options({**DEFAULTS, **options})
    assert [k for k, _ in problems] == [key]


def test_good_options_have_no_problems():
    assert check_options({**DEFAULTS, "json_time_key": "t", "json_time_format": "unix_ms",
                          "json_timezone": "Local", "json_query": "a.#(b==1)#.c"}) == []
