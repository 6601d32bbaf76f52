"""Line protocol as InfluxDB's own /write reads it (models.ParsePointsWithPrecision in
InfluxDB 1.x and 2.x), for the listeners that stand in for InfluxDB: the lines it accepts
become metrics with the values it would store; the lines it refuses come back with its words,
"unable to parse '<line>': <reason>", and their line numbers.

InfluxDB's grammar is not Telegraf's (agent.lineprotocol.parser): it refuses NaN and unsigned
integers (unless asked), lets a quoted string run over newlines, takes a backslash before a
newline as an escape. Common lines take a fast path of plain splits; anything unusual (quotes,
backslashes, tabs, exponents, errors) goes through the full scan in influxdb_scan.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from agent.lineprotocol.metric import Metric, UInt
from agent.parsers.influxdb_scan import MAX_NANO, MIN_NANO, Invalid, scan_point

# The common line: no quotes, backslashes, tabs, exponents; 18-digit ints (never out of
# range); what it lets through, InfluxDB accepts with these values.
_NAME = r'[^ ,\\"\t\r\n\x00]+'
_KEY = r'[^ ,=\\"\t\r\n\x00]+'
# At most 308 integer digits: a float that cannot overflow (InfluxDB: "invalid float").
_NUMBER = r"-?\d{1,18}i|-?(?:\d{1,308}(?:\.\d*)?|\.\d+)"
_BOOL = r"[tTfF]|true|True|TRUE|false|False|FALSE"


def _line_expression(uint: bool) -> re.Pattern:
    value = f"{_NUMBER}|\\d{{1,19}}u|{_BOOL}" if uint else f"{_NUMBER}|{_BOOL}"
    field = f"{_KEY}=(?:{value})"
    return re.compile(f"({_NAME})((?:,{_KEY}={_KEY})*) +({field}(?:,{field})*)"
                      f"(?: +(-?\\d{{1,19}}))? *")


_LINE = _line_expression(False)
_LINE_UINT = _line_expression(True)
_PAIR = re.compile(r"([^,=]+)=([^,]+)")
_BOOLS = {"t": True, "T": True, "true": True, "True": True, "TRUE": True,
          "f": False, "F": False, "false": False, "False": False, "FALSE": False}
_FAST_LINE_LIMIT = 60000  # longer lines may exceed InfluxDB's key length: full scan


class Rejected(NamedTuple):
    """A line InfluxDB would refuse: its number (1-based), its text, InfluxDB's reason."""

    lineno: int
    text: str
    reason: str

    @property
    def message(self) -> str:
        return f"unable to parse '{self.text}': {self.reason}"


class Points(NamedTuple):
    metrics: List[Metric]
    linenos: List[int]  # the line each metric came from
    rejected: List[Rejected]
    # For a metric whose line named a field twice: every field in line order, (key, type).
    field_orders: Dict[int, List[Tuple[str, type]]]


def read_points(data: str, multiplier: int, now_ns: int, uint: bool = False) -> Points:
    """Every line of data: metrics for those InfluxDB accepts, Rejected for the others.
    multiplier: ns per timestamp unit (the request's precision); lines without a timestamp get
    now_ns truncated to that unit, as InfluxDB stamps them."""
    default_time = now_ns - now_ns % multiplier
    metrics: List[Metric] = []
    linenos: List[int] = []
    rejected: List[Rejected] = []
    orders: Dict[int, List[Tuple[str, type]]] = {}
    tag_cache: dict = {}
    for lineno, line in _lines(data):
        metric = _fast_point(line, multiplier, uint, tag_cache)
        if metric is None:
            try:
                scanned = scan_point(line, multiplier, uint)
            except Invalid as err:
                rejected.append(Rejected(lineno, line, str(err)))
                continue
            metric = scanned.metric
            if scanned.field_order is not None:
                orders[len(metrics)] = scanned.field_order
        if metric.time is None:
            metric.time = default_time
        metrics.append(metric)
        linenos.append(lineno)
    return Points(metrics, linenos, rejected, orders)


def plain_lines(data: str, multiplier: int, now_ns: int,
                added_tags: Callable[[frozenset], Optional[str]]) -> Optional[List[str]]:
    """Every line of data as it is to be stored, when all of them are plain (no quotes,
    escapes, exponents, unsigned integers, duplicate tags): valid for InfluxDB as received and
    written by the serializer the same way, so only tags are added (added_tags(tag keys of
    the line) -> ",k=v..." or None to refuse) and the time in ns. None when any line is not
    plain, or refused: use read_points()."""
    if '"' in data or "\\" in data:
        return None
    default_time = now_ns - now_ns % multiplier
    added_of: dict = {}
    lines = []
    fullmatch = _LINE.fullmatch
    for line in data.split("\n"):
        if not line or line[0] in " \t\x00#":
            line = line.lstrip(" \t\x00")
            if not line or line[0] == "#":
                continue
        match = fullmatch(line)
        if match is None or len(line) > _FAST_LINE_LIMIT:
            return None
        name, tag_text, field_text, stamp = match.groups()
        added = added_of.get(tag_text)
        if added is None:
            added = added_of[tag_text] = _added(tag_text, added_tags)
            if added is None:
                return None
        time = default_time if stamp is None else int(stamp) * multiplier
        if not MIN_NANO <= time <= MAX_NANO:
            return None
        lines.append(f"{name}{tag_text}{added} {field_text} {time}\n")
    return lines


def _added(tag_text: str, added_tags: Callable[[frozenset], Optional[str]]) -> Optional[str]:
    names = [piece.partition("=")[0] for piece in tag_text[1:].split(",")] if tag_text else []
    keys = frozenset(names)
    if len(keys) != len(names):
        return None  # duplicate tags: InfluxDB refuses the line
    return added_tags(keys)


def _lines(data: str) -> Iterator[Tuple[int, str]]:
    """(line number, line without leading blanks) for each line that is not blank or a
    comment; a line ends at a newline outside quotes that no backslash escapes."""
    if '"' not in data and "\\" not in data:
        for lineno, block in enumerate(data.split("\n"), 1):
            line = block.lstrip(" \t\x00")
            if line and line[0] != "#":
                yield lineno, line
        return
    pos, end, lineno = 0, len(data), 1
    while pos < end:
        newline = data.find("\n", pos)
        stop = end if newline < 0 else newline
        if '"' in data[pos:stop] or "\\" in data[pos:stop]:
            stop = _scan_line(data, pos)
        line = data[pos:stop].lstrip(" \t\x00")
        if line.endswith("\n"):  # an unbalanced quote ran to the end
            line = line[:-1]
        if line and line[0] != "#":
            yield lineno, line
        lineno += data.count("\n", pos, stop) + 1
        pos = stop + 1


def _scan_line(data: str, i: int) -> int:
    """InfluxDB's scanLine: where the line starting at i ends."""
    quoted = fields = False
    equals = commas = 0
    end = len(data)
    while i < end:
        char = data[i]
        if char == "\\":
            i += 2
            continue
        if char == " ":
            fields = True
        if fields and not quoted and char in "=,":
            equals += char == "="
            commas += char == ","
            i += 1
            continue
        if fields and char == '"' and equals > commas:
            quoted = not quoted
            i += 1
            continue
        if char == "\n" and not quoted:
            break
        i += 1
    return min(i, end)


def _fast_point(line: str, multiplier: int, uint: bool, tag_cache: dict) -> Optional[Metric]:
    """The common line, checked by one regular expression and taken apart by splits; None
    sends it to the full scan (which also words the errors). tag_cache: parsed tag texts of
    this request (lines of one series repeat them)."""
    match = (_LINE_UINT if uint else _LINE).fullmatch(line)
    if match is None or len(line) > _FAST_LINE_LIMIT:
        return None
    name, tag_text, field_text, stamp = match.groups()
    tags = tag_cache.get(tag_text)
    if tags is None:
        pieces = tag_text[1:].split(",") if tag_text else []
        tags = dict(piece.split("=") for piece in pieces)
        if len(tags) != len(pieces):
            return None  # duplicate tags
        tag_cache[tag_text] = tags
    pairs = _PAIR.findall(field_text)
    bools = _BOOLS
    fields = {key: (int(raw[:-1]) if raw[-1] == "i" else UInt(int(raw[:-1])) if raw[-1] == "u"
                    else bools[raw] if raw in bools else float(raw)) for key, raw in pairs}
    if len(fields) != len(pairs):
        return None  # a key twice
    if stamp is None:
        return Metric(name, fields, dict(tags))
    time = int(stamp) * multiplier
    return Metric(name, fields, dict(tags), time) if MIN_NANO <= time <= MAX_NANO else None
