"""The one line-protocol serializer, byte for byte as Telegraf's influx serializer.

Escaping, per element (Telegraf plugins/serializers/influx/escape.go):
- measurement: tab, newline, form feed, carriage return, comma and space;
- tag keys, tag values, field keys: the same plus the equals sign;
- string field values: double quote and backslash.
Tag keys/values lose trailing backslashes and are left out when empty; a field key that is
empty or ends in a backslash, and NaN/Inf floats, are left out; a metric left without fields
is dropped and counted. Floats never use an exponent and keep every significant digit.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

from agent.lineprotocol.fieldplan import (
    _STRING_ESCAPES,
    PlanCache,
    Render,
    build_plan,
    decline,
    format_float,
)
from agent.lineprotocol.metric import INT64_MAX, INT64_MIN, Metric, UInt

_CONTROL = {"\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_NAME_ESCAPES = str.maketrans({**_CONTROL, ",": "\\,", " ": "\\ "})
_KEY_ESCAPES = str.maketrans({**_CONTROL, ",": "\\,", " ": "\\ ", "=": "\\="})

_HEADER_CACHE_LIMIT = 4096


def escape_name(name: str) -> str:
    return name.translate(_NAME_ESCAPES)


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key."""
    return text.translate(_KEY_ESCAPES)


class SerializeStats:
    """What the serializer had to leave out, for inputs.internal and logs."""

    __slots__ = ("dropped_metrics", "dropped_fields")

    def __init__(self) -> None:
        self.dropped_metrics = 0
        self.dropped_fields = 0


class Serializer:
    """Metric -> line protocol text (str, one or more lines each ending in newline).

    The hot path is one cache lookup by series and field shape, giving the series header
    ('name,tags ') and the compiled render function of the shape (agent/fieldplan.py), and one
    call of it. Whatever it declines (NaN, out-of-range ints, ...) takes the general path.
    """

    def __init__(
        self,
        uint_support: bool = False,
        sort_fields: bool = False,
        max_line_bytes: int = 0,
    ) -> None:
        self.uint_support = uint_support
        self.sort_fields = sort_fields
        self.max_line_bytes = max_line_bytes
        self.stats = SerializeStats()
        self._headers: Dict[object, str] = {}
        self._field_keys: Dict[str, str] = {}
        self._plans: PlanCache = {}
        self._lines: Dict[Tuple, Tuple[str, Render]] = {}

    def serialize(self, metric: Metric) -> str:
        """The metric's line(s), or "" when it cannot be written (counted in stats)."""
        fields = metric.fields
        # Name, tag pairs, keys, kinds: unambiguous, as these are str, tuple, str, type.
        series_shape = (metric.name, *metric.tags.items(), *fields, *map(type, fields.values()))
        known = self._lines.get(series_shape)
        if known is None:
            known = self._learn(series_shape, metric)
        header, render = known
        line = render(header, fields.values(), metric.time)
        return line if line is not None else self._serialize_slowly(metric, header)

    def serialize_many(self, metrics: Iterable[Metric]) -> str:
        return "".join(map(self.serialize, metrics))

    def _learn(self, series_shape: Tuple, metric: Metric) -> Tuple[str, Render]:
        """The header and the render function of a new series and field shape."""
        header = self._header(metric.name, metric.tags)
        shape = series_shape[1 + len(metric.tags):]  # the keys and kinds
        render = self._plans.get(shape)
        if render is None:
            render = self._plans[shape] = self._plan(shape)
        for cache in (self._lines, self._plans, self._headers):
            if len(cache) >= _HEADER_CACHE_LIMIT:
                cache.clear()
        known = self._lines[series_shape] = (header, render if header else decline)
        return known

    def _plan(self, shape: Tuple) -> Render:
        if self.max_line_bytes:  # line splitting is the general path's
            return decline
        half = len(shape) // 2
        return build_plan(
            shape[:half], shape[half:], _field_prefix, self.uint_support, self.sort_fields)

    def _header(self, name: str, tags: Dict[str, str]) -> str:
        """'measurement,tag=value ' with tags sorted by key; "" when it cannot be written."""
        series = (name, *tags.items()) if tags else name
        header = self._headers.get(series)
        if header is None:
            header = self._headers[series] = _build_header(name, tags) or ""
        return header

    def _serialize_slowly(self, metric: Metric, header: str) -> str:
        """Every case, field by field: NaN, out-of-range ints, unwritable keys, line splits."""
        pairs = self._pairs(metric.fields) if header else []
        if not pairs:
            self.stats.dropped_metrics += 1
            return ""
        footer = f" {metric.time}\n" if metric.time is not None else "\n"
        if self.max_line_bytes > 0:
            return self._split(header, pairs, footer)
        return header + ",".join(pairs) + footer

    def _pairs(self, fields: Dict[str, object]) -> List[str]:
        """'key=value' for every field that can be written; the hot path of every gather."""
        prefixes = self._field_keys
        items = sorted(fields.items()) if self.sort_fields else fields.items()
        uint_suffix = "u" if self.uint_support else ""
        pairs: List[str] = []
        append = pairs.append
        for key, value in items:
            prefix = prefixes.get(key)
            if prefix is None:
                prefix = prefixes[key] = _field_prefix(key)
            kind = type(value)
            if kind is UInt and prefix:
                if uint_suffix:
                    append(f"{prefix}{value}u")
                else:
                    append(f"{prefix}{value if value <= INT64_MAX else INT64_MAX}i")
            elif kind is float and prefix and value - value == 0.0:  # NaN/Inf fail this
                append(prefix + format_float(value))
            else:
                text = self._value(value) if prefix else None
                if text is None:
                    self.stats.dropped_fields += 1
                else:
                    append(prefix + text)
        if len(prefixes) > _HEADER_CACHE_LIMIT:
            prefixes.clear()
        return pairs

    def _value(self, value: object) -> Optional[str]:
        """The kinds _pairs has no fast path for: int, bool, str; None drops the field
        (NaN/Inf floats, ints outside int64, unknown types)."""
        kind = type(value)
        if kind is int:
            return f"{value}i" if INT64_MIN <= value <= INT64_MAX else None
        if kind is bool:
            return "true" if value else "false"
        if kind is str:
            return '"' + value.translate(_STRING_ESCAPES) + '"'
        return None

    def _split(self, header: str, pairs: List[str], footer: str) -> str:
        """Telegraf's influx_max_line_bytes: start a new line before a pair would overflow.

        Like Telegraf, the running length leaves out the commas already written, so a line
        with n fields may overshoot the limit by up to n - 2 bytes.
        """
        limit = self.max_line_bytes
        fixed = len(header.encode()) + len(footer.encode())
        lines: List[str] = []
        current: List[str] = []
        pairs_len = 0
        for pair in pairs:
            size = len(pair.encode())
            if fixed + pairs_len + size + (1 if current else 0) > limit:
                if current:
                    lines.append(header + ",".join(current) + footer)
                    current, pairs_len = [], 0
                if fixed + size > limit:
                    self.stats.dropped_metrics += 1
                    return ""
            current.append(pair)
            pairs_len += size
        lines.append(header + ",".join(current) + footer)
        return "".join(lines)


def _build_header(name: str, tags: Dict[str, str]) -> Optional[str]:
    escaped_name = escape_name(name)
    if not escaped_name:
        return None
    parts = [escaped_name]
    for key in sorted(tags):
        tag_key = escape_key(key).rstrip("\\")
        tag_value = escape_key(tags[key]).rstrip("\\")
        if tag_key and tag_value:
            parts.append(f"{tag_key}={tag_value}")
    return ",".join(parts) + " "


def _field_prefix(key: str) -> str:
    """'escaped_key=', or "" for a key Telegraf cannot write (empty, trailing backslash)."""
    escaped = escape_key(key)
    if not escaped or escaped.endswith("\\"):
        return ""
    return escaped + "="
