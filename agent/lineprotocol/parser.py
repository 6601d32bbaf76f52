"""A strict line-protocol parser with Telegraf's grammar and error messages.

Used by `agent write` to validate input before it is spooled, and by the tests as the judge of
round trips. Errors name the line: the parser recovers at the next newline, like Telegraf's.
"""

from __future__ import annotations

import re
from typing import Iterator, List, Optional, Tuple, Union

from agent.lineprotocol.metric import INT64_MAX, INT64_MIN, UINT64_MAX, Metric, UInt

_WS = " \t"
# Characters that end a measurement, tag key/value or field key when not escaped.
_NAME_STOP = frozenset(" ,\t\n\r\f")
_KEY_STOP = frozenset(" ,=\t\n\r\f")
_VALUE_STOP = frozenset(" ,\t\n\r")

_FLOAT = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_INT = re.compile(r"-?\d+i")
_UINT = re.compile(r"\d+u")
_TIMESTAMP = re.compile(r"-?\d{1,19}")
_BOOLS = {
    **dict.fromkeys(("t", "T", "true", "True", "TRUE"), True),
    **dict.fromkeys(("f", "F", "false", "False", "FALSE"), False),
}
_UNESCAPE_NAME = re.compile(r"\\([, ])")
_UNESCAPE_KEY = re.compile(r'\\([, ="])')
_UNESCAPE_STRING = re.compile(r'\\(["\\])')
_KEY_SPECIALS = re.compile(r"[ ,=]")


class ParseError(ValueError):
    """One invalid line: its number (1-based) and Telegraf's reason. `incomplete`: a string
    field is still open where the data ends (a reader of a stream may wait for more)."""

    def __init__(self, lineno: int, reason: str, text: str = "",
                 incomplete: bool = False) -> None:
        super().__init__(f"line {lineno}: {reason}")
        self.lineno = lineno
        self.reason = reason
        self.text = text
        self.incomplete = incomplete


class _Invalid(Exception):
    def __init__(self, reason: str, pos: int, incomplete: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pos = pos
        self.incomplete = incomplete


Result = Union[Metric, ParseError]


def parse(data: str) -> List[Result]:
    return [result for _, result in iter_parse(data)]


def parse_metrics(data: str) -> List[Metric]:
    """Every metric in data; raises the first ParseError."""
    metrics = []
    for _, result in iter_parse(data):
        if isinstance(result, ParseError):
            raise result
        metrics.append(result)
    return metrics


def iter_parse(data: str) -> Iterator[Tuple[int, Result]]:
    """Yield (line number, Metric or ParseError) for each non-blank, non-comment line."""
    pos, end, lineno = 0, len(data), 1
    while pos < end:
        newline = data.find("\n", pos)
        stop = end if newline < 0 else newline
        line = data[pos:stop]
        if '"' not in line and "\\" not in line:
            text = line.strip(" \t\r")
            metric = _fast_line(text) if text and text[0] != "#" else None
            if metric is not None or not text or text[0] == "#":
                if metric is not None:
                    yield lineno, metric
                pos, lineno = stop + 1, lineno + 1
                continue
        if line.lstrip(" \t\r").startswith("#"):
            pos = stop
            continue
        start = pos
        result, pos = parse_at(data, pos)
        if isinstance(result, ParseError):
            result.lineno = lineno
            result.args = (f"line {lineno}: {result.reason}",)
        yield lineno, result
        lineno += data.count("\n", start, pos)


def parse_at(data: str, pos: int) -> Tuple[Result, int]:
    """Parse the one line starting at pos; (Metric or ParseError, position of its end).
    The ParseError's lineno is 0: the caller knows the line number."""
    while pos < len(data) and data[pos] in " \t\r":
        pos += 1
    start = pos
    try:
        return _parse_line(data, pos)
    except _Invalid as err:
        end = _line_end(data, err.pos)
        return ParseError(0, err.reason, data[start:end], err.incomplete), end


def _fast_line(text: str) -> Optional[Metric]:
    """The common line (no quotes, backslashes, tabs, repeated spaces) by splitting; None
    sends the line to the full parser, which also words any error."""
    parts = text.split(" ")
    if not 2 <= len(parts) <= 3 or "\t" in text or "\f" in text or "\r" in text:
        return None
    pieces = parts[0].split(",")
    if not pieces[0]:
        return None
    tags = {}
    for piece in pieces[1:]:
        key, _, value = piece.partition("=")
        if not key or not value or "=" in value:
            return None
        tags[key] = value
    fields = {}
    try:
        for piece in parts[1].split(","):
            key, _, raw = piece.partition("=")
            if not key or not raw or "=" in raw:
                return None
            fields[key] = _scalar(raw, 0)
    except _Invalid:
        return None
    time = None
    if len(parts) == 3:
        if not _TIMESTAMP.fullmatch(parts[2]):
            return None
        time = int(parts[2])
        if not INT64_MIN <= time <= INT64_MAX:
            return None
    return Metric(pieces[0], fields, tags, time)


def _line_end(data: str, pos: int) -> int:
    newline = data.find("\n", pos)
    return len(data) if newline < 0 else newline


def _parse_line(data: str, pos: int) -> Tuple[Metric, int]:
    raw, pos = _token(data, pos, _NAME_STOP, pair_backslashes=True)
    if not raw:
        raise _Invalid("expected measurement name", pos)
    name = _UNESCAPE_NAME.sub(r"\1", raw)
    tags = {}
    while _at(data, pos) == ",":
        key, pos = _key(data, pos + 1, "expected tag")
        value, pos = _token(data, pos, _KEY_STOP)
        if not value:
            raise _Invalid("expected tag", pos)
        tags[key] = _unescape_key(value)
    if _at(data, pos) not in _WS or pos >= len(data):
        raise _Invalid("expected tag", pos)
    fields, pos = _fields(data, _skip_ws(data, pos))
    time, pos = _timestamp(data, pos)
    return Metric(name, fields, tags, time), pos


def _at(data: str, pos: int) -> str:
    return data[pos] if pos < len(data) else ""


def _skip_ws(data: str, pos: int) -> int:
    while pos < len(data) and data[pos] in _WS:
        pos += 1
    return pos


def _token(data: str, pos: int, stop: frozenset, pair_backslashes: bool = False) -> Tuple[str, int]:
    r"""Scan up to an unescaped stop character.

    A backslash escapes the next character, except that in keys and tag values a backslash
    before a backslash is a plain character: Telegraf reads the tag value `two\\ words` as
    `two\ words`, but the measurement `cpu\\` followed by a space as `cpu\\`.
    """
    start, end = pos, len(data)
    while pos < end:
        char = data[pos]
        if char in stop:
            break
        if char == "\\" and pos + 1 < end:
            after = data[pos + 1]
            if after != "\n" and (after != "\\" or pair_backslashes):
                pos += 1
        pos += 1
    return data[start:pos], pos


def _key(data: str, pos: int, reason: str) -> Tuple[str, int]:
    raw, pos = _token(data, pos, _KEY_STOP)
    if not raw or _at(data, pos) != "=":
        raise _Invalid(reason, pos)
    return _unescape_key(raw), pos + 1


def _unescape_key(raw: str) -> str:
    """Telegraf unescapes \\, \\" \\space \\= only when the raw text holds a space, comma or =."""
    return _UNESCAPE_KEY.sub(r"\1", raw) if _KEY_SPECIALS.search(raw) else raw


def _fields(data: str, pos: int) -> Tuple[dict, int]:
    fields = {}
    while True:
        key, pos = _key(data, pos, "expected field")
        fields[key], pos = _field_value(data, pos)
        if _at(data, pos) != ",":
            return fields, pos
        pos += 1


def _field_value(data: str, pos: int):
    if _at(data, pos) == '"':
        return _string(data, pos + 1)
    raw, end = _token(data, pos, _VALUE_STOP)
    return _scalar(raw, pos), end


def _scalar(raw: str, pos: int):
    """A number or boolean field value."""
    last = raw[-1:]
    if last == "i" and _INT.fullmatch(raw):
        return _in_range(int(raw[:-1]), INT64_MIN, INT64_MAX, pos)
    if last == "u" and _UINT.fullmatch(raw):
        return UInt(_in_range(int(raw[:-1]), 0, UINT64_MAX, pos))
    if _FLOAT.fullmatch(raw):
        return float(raw)
    if raw in _BOOLS:
        return _BOOLS[raw]
    raise _Invalid("expected field", pos)


def _in_range(value: int, low: int, high: int, pos: int) -> int:
    if not low <= value <= high:
        raise _Invalid("value out of range", pos)
    return value


def _string(data: str, pos: int) -> Tuple[str, int]:
    start, end = pos, len(data)
    while pos < end:
        char = data[pos]
        if char == '"':
            return _UNESCAPE_STRING.sub(r"\1", data[start:pos]), pos + 1
        pos += 2 if char == "\\" else 1
    raise _Invalid("expected field", start, incomplete=True)


def _timestamp(data: str, pos: int) -> Tuple[Optional[int], int]:
    pos = _skip_ws(data, pos)
    if pos >= len(data) or data[pos] in "\r\n":
        return None, _end_of_line(data, pos)
    raw, end = _token(data, pos, _VALUE_STOP)
    if not _TIMESTAMP.fullmatch(raw):
        raise _Invalid("expected timestamp", pos)
    value = int(raw)
    if not INT64_MIN <= value <= INT64_MAX:
        raise _Invalid("expected timestamp", pos)
    return value, _end_of_line(data, _skip_ws(data, end))


def _end_of_line(data: str, pos: int) -> int:
    if data.startswith("\r\n", pos):
        pos += 1
    if pos < len(data) and data[pos] != "\n":
        raise _Invalid("expected timestamp", pos)
    return pos
