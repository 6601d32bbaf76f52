"""One line of line protocol, scanned the way InfluxDB's server does (models/points.go of
InfluxDB 1.x and 2.x): the same lines accepted, the same values, the same reasons for the
lines refused ("missing tag value", "invalid boolean", "bad timestamp", ...).

A port of its rules, not of its code, for the lines the fast path in influxdb_points leaves
to it: anything with quotes, backslashes, tabs, exponents or errors.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from agent.lineprotocol.metric import INT64_MAX, INT64_MIN, Metric
from agent.parsers.influxdb_values import (
    NUMERIC,
    Invalid,
    field_values,
    scan_boolean,
    scan_number,
    unescape,
)

__all__ = ["MAX_NANO", "MIN_NANO", "Invalid", "Scanned", "check_time", "scan_point"]

MAX_KEY_LENGTH = 65535
MIN_NANO = INT64_MIN + 2  # InfluxDB's models.MinNanoTime
MAX_NANO = INT64_MAX - 1  # models.MaxNanoTime
_TAGS, _FIELDS = 0, 2
_DIGITS = frozenset("0123456789")


class Scanned:
    """A line that parsed: its metric (time None: the server's now) and, when a field key
    came twice, every field in line order as (key, type) (InfluxDB checks each of them)."""

    __slots__ = ("metric", "field_order")

    def __init__(self, metric: Metric,
                 field_order: Optional[List[Tuple[str, type]]] = None) -> None:
        self.metric = metric
        self.field_order = field_order


def scan_point(buf: str, multiplier: int, uint: bool) -> Scanned:
    """Parse one line (leading whitespace and the newline removed); raises Invalid."""
    pos, key, tag_keys = _scan_key(buf)
    if not key:
        raise Invalid("missing measurement")
    key_size = len(key.encode())
    if key_size > MAX_KEY_LENGTH:
        raise Invalid(f"max key length exceeded: {key_size} > {MAX_KEY_LENGTH}")
    pos, fields_raw = _scan_fields(buf, pos, uint)
    if not fields_raw:
        raise Invalid("missing fields")
    pairs = _walk_fields(fields_raw)
    for field_key, _ in pairs:
        size = key_size + 4 + len(field_key.encode())
        if size > MAX_KEY_LENGTH:
            raise Invalid(f"max key length exceeded: {size} > {MAX_KEY_LENGTH}")
    time = _scan_time(buf, pos, multiplier)
    fields, order = field_values(pairs)
    return Scanned(Metric(_measurement(key, tag_keys), fields, _tags(key, tag_keys), time),
                   order if len(order) != len(fields) else None)


def check_time(timestamp: int, multiplier: int) -> int:
    """The timestamp in ns (InfluxDB's SafeCalcTime); Invalid when out of its range."""
    value = timestamp * multiplier
    if not MIN_NANO <= value <= MAX_NANO:
        raise Invalid(f"time outside range {MIN_NANO} - {MAX_NANO}")
    return value


def _escaped(buf: str, i: int) -> bool:
    return i > 0 and buf[i - 1] == "\\"


def _scan_key(buf: str) -> Tuple[int, str, List[int]]:
    """(end, raw key, start of each tag) after the measurement and tags."""
    state, i = _scan_measurement(buf)
    starts: List[int] = []
    while state == _TAGS:
        starts.append(i)
        i = _scan_tag_key(buf, i)
        state, i = _scan_tag_value(buf, i)
    names = [buf[s:_scan_to(buf, s, "=")] for s in starts]
    if len(set(names)) != len(names):
        raise Invalid("duplicate tags")
    return i, buf[:i], starts


def _scan_measurement(buf: str) -> Tuple[int, int]:
    if not buf or buf[0] == ",":
        raise Invalid("missing measurement")
    i = 0
    while True:
        i += 1
        if i >= len(buf):
            raise Invalid("missing fields")
        if buf[i - 1] == "\\":
            continue
        if buf[i] == ",":
            return _TAGS, i + 1
        if buf[i] == " ":
            return _FIELDS, i


def _scan_tag_key(buf: str, i: int) -> int:
    if i >= len(buf) or buf[i] in " ,=":
        raise Invalid("missing tag key")
    while True:
        i += 1
        if i >= len(buf) or (buf[i] in " ," and buf[i - 1] != "\\"):
            raise Invalid("missing tag value")
        if buf[i] == "=" and buf[i - 1] != "\\":
            return i + 1


def _scan_tag_value(buf: str, i: int) -> Tuple[int, int]:
    if i >= len(buf) or buf[i] in ", ":
        raise Invalid("missing tag value")
    while True:
        i += 1
        if i >= len(buf):
            raise Invalid("missing fields")
        if buf[i - 1] == "\\":
            continue
        if buf[i] == "=":
            raise Invalid("invalid tag format")
        if buf[i] == ",":
            return _TAGS, i + 1
        if buf[i] == " ":
            return _FIELDS, i


def _skip_whitespace(buf: str, i: int) -> int:
    while i < len(buf) and buf[i] in " \t\x00":
        i += 1
    return i


def _scan_fields(buf: str, i: int, uint: bool) -> Tuple[int, str]:
    start = i = _skip_whitespace(buf, i)
    quoted, equals, commas = False, 0, 0
    while i < len(buf):
        char = buf[i]
        if char == "\\" and i + 1 < len(buf):
            i += 2
            continue
        if char == '"' and equals > commas:
            quoted = not quoted
            i += 1
            continue
        if char == "=" and not quoted:
            equals += 1
            end = _check_field_value(buf, i, uint)
            if end is not None:
                i = end
                continue
        if char == "," and not quoted:
            commas += 1
        if char == " " and not quoted:
            break
        i += 1
    if quoted:
        raise Invalid("unbalanced quotes")
    if equals == 0 or commas != equals - 1:
        raise Invalid("invalid field format")
    return i, buf[start:i]


def _check_field_value(buf: str, i: int, uint: bool) -> Optional[int]:
    """At an unquoted '=': the end of a number or boolean value; None for a string."""
    before = buf[i - 1]
    if before in " ," and (i < 2 or buf[i - 2] != "\\"):
        raise Invalid("missing field key")
    if i + 1 >= len(buf) or buf[i + 1] in ", ":
        raise Invalid("missing field value")
    after = buf[i + 1]
    if after in NUMERIC or after in "-Nn":
        return scan_number(buf, i + 1, uint)
    if after != '"':
        return scan_boolean(buf, i + 1)
    return None


def _scan_time(buf: str, i: int, multiplier: int) -> Optional[int]:
    start = i = _skip_whitespace(buf, i)
    while i < len(buf) and buf[i] not in "\n ":
        if not (i == start and buf[i] == "-") and buf[i] not in _DIGITS:
            raise Invalid("bad timestamp")
        i += 1
    raw = buf[start:i]
    if not raw:
        return None
    if raw == "-":
        raise Invalid('strconv.ParseInt: parsing "-": invalid syntax')
    value = int(raw)
    if not INT64_MIN <= value <= INT64_MAX:
        raise Invalid(f'strconv.ParseInt: parsing "{raw}": value out of range')
    if buf[i:].strip(" "):
        check_time(value, multiplier)
        raise Invalid("point is invalid")
    return check_time(value, multiplier)


def _scan_to(buf: str, i: int, stop: str) -> int:
    while i < len(buf) and not (buf[i] == stop and not _escaped(buf, i)):
        i += 1
    return i


def _walk_fields(raw: str) -> List[Tuple[str, str]]:
    pairs = []
    while raw:
        end = _scan_to(raw, 0, "=")
        key, raw = raw[:end], raw[end + 1:]
        end = _scan_field_value(raw)
        pairs.append((key, raw[:end]))
        raw = raw[end + 1:]
    return pairs


def _scan_field_value(raw: str) -> int:
    i, quoted = 0, False
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw) and raw[i + 1] in '"\\':
            i += 2
            continue
        if raw[i] == '"':
            quoted = not quoted
        elif raw[i] == "," and not quoted:
            break
        i += 1
    return i


def _measurement(key: str, tag_starts: List[int]) -> str:
    name = key[:tag_starts[0] - 1] if tag_starts else key
    return unescape(name, ', ')


def _tags(key: str, tag_starts: List[int]) -> Dict[str, str]:
    tags = {}
    ends = [s - 1 for s in tag_starts[1:]] + [len(key)]
    for start, end in zip(tag_starts, ends):
        raw = key[start:end]
        split = _scan_to(raw, 0, "=")
        tags[unescape(raw[:split], ', =')] = unescape(raw[split + 1:], ', =')
    return tags
