"""Parsers for one text line: influx (line protocol), kv, csv, json and regex.

Outside line protocol, integral text becomes an int and other numbers a float; Arduino's nan,
inf and ovf (and empty values) are dropped; other text stays a string. Once a field has been a
float, later integral values of it are floats too, so "21" after "21.5" cannot turn into a
type conflict in InfluxDB.

Hostile input: every parser raises ValueError and nothing else for a line it cannot take (one
`lines_bad_parse`), whatever the line holds: a number beyond float64 is refused (not turned
into an OverflowError or an infinity), JSON deeper than MAX_DEPTH is refused before it is
parsed (no RecursionError), and numbers are converted in linear time.
"""

from __future__ import annotations

import json
import re
from typing import Dict, Iterable, List, Optional, Tuple

from agent.lineprotocol.metric import INT64_MAX, INT64_MIN, Metric
from agent.lineprotocol.parser import ParseError, parse_metrics

FORMATS = ("influx", "kv", "csv", "json", "regex")
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_NOT_NUMBERS = frozenset({"nan", "inf", "infinity", "ovf"})
_KV_SPLIT = re.compile(r"[\s,]+")
_KV_PAIR = re.compile(r"([^=:]+)[=:](.*)")
_MAX_FLOAT_FIELDS = 1024
_INT64_DIGITS = 19  # more digits than this never fit an int64: converted as a float instead
MAX_DEPTH = 32  # JSON nesting accepted (objects and arrays)
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')


def convert(text: str):
    """A field value from text: int, float or str; None to drop it (nan, inf, ovf, empty).
    ValueError for a number beyond float64's range."""
    text = text.strip()
    if _INT.fullmatch(text):
        if len(text.lstrip("+-")) <= _INT64_DIGITS:
            value = int(text)
            if INT64_MIN <= value <= INT64_MAX:
                return value
        return _finite(float(text), text)  # float() is linear; int() of a long text is not
    if _FLOAT.fullmatch(text):
        return _finite(float(text), text)
    if not text or text.lstrip("+-").lower() in _NOT_NUMBERS:
        return None
    return text


def _finite(value: float, text: str) -> float:
    if value in (_INF, -_INF):
        raise ValueError(f"number out of range: {text if len(text) <= 20 else text[:20] + '...'}")
    return value


_INF = float("inf")


class TextParser:
    """parse(line) -> Metric, or None for a line with no usable field; ValueError if invalid."""

    typed = False  # pairs() gives typed JSON values instead of text

    def __init__(self, measurement: str, tag_keys: Iterable[str] = ()) -> None:
        self.measurement = measurement
        self.tag_keys = frozenset(tag_keys)
        self._floats: set = set()

    def parse(self, line: str) -> Optional[Metric]:
        return self.metric(self.pairs(line))

    def offer_header(self, line: str) -> None:
        """A line that was dropped (the first after open): formats with headers may use it."""

    def pairs(self, line: str) -> List[Tuple[str, object]]:
        """(key, raw value) pairs; raw values are str (converted here) or JSON values."""
        raise NotImplementedError

    def metric(self, pairs: List[Tuple[str, object]]) -> Optional[Metric]:
        fields, tags = {}, {}
        for key, raw in pairs:
            if key in self.tag_keys:
                tags[key] = raw if isinstance(raw, str) else json.dumps(raw)
                continue
            value = _json_value(raw) if self.typed else convert(raw)
            if value is not None:
                fields[key] = self._stable(key, value)
        return Metric(self.measurement, fields, tags) if fields else None

    def _stable(self, key: str, value):
        if type(value) is float:
            if len(self._floats) < _MAX_FLOAT_FIELDS:
                self._floats.add(key)
        elif type(value) is int and key in self._floats:
            return float(value)
        return value


class InfluxParser(TextParser):
    def parse(self, line: str) -> Optional[Metric]:
        try:
            metrics = parse_metrics(line)
        except ParseError as err:
            raise ValueError(err.reason) from None
        if len(metrics) > 1:
            raise ValueError("expected one metric")
        return metrics[0] if metrics else None  # a comment


class KVParser(TextParser):
    """key=value or label:value pairs separated by spaces, tabs or commas."""

    def pairs(self, line: str) -> List[Tuple[str, object]]:
        pairs = []
        for token in filter(None, _KV_SPLIT.split(line)):
            match = _KV_PAIR.fullmatch(token)
            if not match:
                raise ValueError(f"expected key=value or label:value, got {token[:40]!r}")
            pairs.append((match[1], match[2]))
        return pairs


class CSVParser(TextParser):
    """Columns named by csv_column_names, or by the last header line (no numeric cell) seen."""

    def __init__(self, measurement: str, tag_keys: Iterable[str] = (),
                 columns: Iterable[str] = (), delimiter: str = ",") -> None:
        super().__init__(measurement, tag_keys)
        self.fixed = bool(list(columns))
        self.columns = [c.strip() for c in columns]
        self.delimiter = delimiter

    def offer_header(self, line: str) -> None:
        cells = [cell.strip() for cell in line.split(self.delimiter)]
        if not self.fixed and _is_header(cells):
            self.columns = cells

    def parse(self, line: str) -> Optional[Metric]:
        cells = [cell.strip() for cell in line.split(self.delimiter)]
        if _is_header(cells):
            if not self.fixed:
                self.columns = cells
            elif cells != self.columns:
                raise ValueError("header does not match csv_column_names")
            return None
        if not self.columns:
            raise ValueError("no header line seen yet and no csv_column_names")
        if len(cells) != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} columns, got {len(cells)}")
        return self.metric(list(zip(self.columns, cells)))


class JSONParser(TextParser):
    """A JSON object per line; nested keys joined with "_", list items by index."""

    typed = True

    def pairs(self, line: str) -> List[Tuple[str, object]]:
        _check_depth(line)
        try:
            document = json.loads(line, parse_int=_json_int, parse_float=_json_float)
        except ValueError as err:
            raise ValueError(f"invalid JSON: {err}") from None
        if not isinstance(document, dict):
            raise ValueError("expected a JSON object")
        return list(_flatten(document, ""))


class RegexParser(TextParser):
    """The named groups of the first match of a regular expression."""

    def __init__(self, measurement: str, tag_keys: Iterable[str] = (), regex: str = "") -> None:
        super().__init__(measurement, tag_keys)
        self.regex = re.compile(regex)

    def pairs(self, line: str) -> List[Tuple[str, object]]:
        match = self.regex.search(line)
        if not match:
            raise ValueError("line does not match regex")
        return [(k, v) for k, v in match.groupdict().items() if v is not None]


def make_parser(data_format: str, measurement: str, tag_keys: Iterable[str] = (),
                csv_column_names: Iterable[str] = (), csv_delimiter: str = ",",
                regex: str = "") -> TextParser:
    if data_format == "influx":
        return InfluxParser(measurement)
    if data_format == "kv":
        return KVParser(measurement, tag_keys)
    if data_format == "csv":
        return CSVParser(measurement, tag_keys, csv_column_names, csv_delimiter)
    if data_format == "json":
        return JSONParser(measurement, tag_keys)
    if data_format == "regex":
        return RegexParser(measurement, tag_keys, regex)
    raise ValueError(f"unknown data_format {data_format!r}")


def check_regex(pattern: str) -> Optional[str]:
    """Why a regex option is unusable, or None."""
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        return f"invalid regular expression: {err}"
    return None if compiled.groupindex else "needs named groups, like (?P<co2>\\d+)"


def _is_header(cells: List[str]) -> bool:
    names = [c for c in cells if c]
    return (len(names) == len(cells) and len(set(names)) == len(names)
            and all(not _is_number(c) and c.lower() not in _NOT_NUMBERS for c in names))


def _is_number(text: str) -> bool:
    try:
        return isinstance(convert(text), (int, float))
    except ValueError:
        return True  # a number, if out of range


def _check_depth(line: str) -> None:
    """ValueError when JSON nests deeper than MAX_DEPTH (brackets inside strings aside)."""
    if line.count("[") + line.count("{") <= MAX_DEPTH:
        return  # the usual case, without a scan
    depth = 0
    for token in _JSON_TOKENS.findall(line):
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
        elif token in ("]", "}"):
            depth -= 1


def _json_int(text: str):
    """JSON integers: int64 as int, bigger as float (converted in linear time), or refused."""
    if len(text.lstrip("-")) <= _INT64_DIGITS:
        value = int(text)
        if INT64_MIN <= value <= INT64_MAX:
            return value
    return _finite(float(text), text)


def _json_float(text: str) -> float:
    return _finite(float(text), text)


def _flatten(value: Dict[str, object], prefix: str):
    for key, item in value.items():
        name = f"{prefix}_{key}" if prefix else str(key)
        if isinstance(item, dict):
            yield from _flatten(item, name)
        elif isinstance(item, list):
            yield from _flatten({str(i): v for i, v in enumerate(item)}, name)
        else:
            yield name, item


def _json_value(value):
    """JSON numbers keep their kind (int or float); bools stay bools; null, NaN, Inf dropped."""
    if value is None:
        return None
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value
