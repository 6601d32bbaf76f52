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

from decimal import Decimal
from typing import Dict, Iterable, List, Optional, Tuple

from agent.metric import INT64_MAX, INT64_MIN, Metric, UInt

_CONTROL = {"\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_NAME_ESCAPES = str.maketrans({**_CONTROL, ",": "\\,", " ": "\\ "})
_KEY_ESCAPES = str.maketrans({**_CONTROL, ",": "\\,", " ": "\\ ", "=": "\\="})
_STRING_ESCAPES = str.maketrans({'"': '\\"', "\\": "\\\\"})

_HEADER_CACHE_LIMIT = 4096


def escape_name(name: str) -> str:
    return name.translate(_NAME_ESCAPES)


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key."""
    return text.translate(_KEY_ESCAPES)


def format_float(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, no exponent."""
    text = repr(value)
    if text.endswith(".0"):
        return text[:-2]
    if "e" in text:
        text = format(Decimal(text), "f")
    return text


class SerializeStats:
    """What the serializer had to leave out, for inputs.internal and logs."""

    __slots__ = ("dropped_metrics", "dropped_fields")

    def __init__(self) -> None:
        self.dropped_metrics = 0
        self.dropped_fields = 0


class Serializer:
    """Metric -> line protocol text (str, one or more lines each ending in newline)."""

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
        self._headers: Dict[Tuple, Optional[str]] = {}
        self._field_keys: Dict[str, str] = {}

    def serialize(self, metric: Metric) -> str:
        """The metric's line(s), or "" when it cannot be written (counted in stats)."""
        header = self._header(metric.name, metric.tags)
        pairs = self._pairs(metric.fields) if header is not None else []
        if not pairs:
            self.stats.dropped_metrics += 1
            return ""
        footer = f" {metric.time}\n" if metric.time is not None else "\n"
        if self.max_line_bytes > 0:
            return self._split(header, pairs, footer)
        return header + ",".join(pairs) + footer

    def serialize_many(self, metrics: Iterable[Metric]) -> str:
        serialize = self.serialize
        return "".join([serialize(m) for m in metrics])

    def _header(self, name: str, tags: Dict[str, str]) -> Optional[str]:
        """'measurement,tag=value ' with tags sorted by key; cached per series."""
        cache_key = (name, *tags.items()) if tags else name
        header = self._headers.get(cache_key, False)
        if header is False:
            header = _build_header(name, tags)
            if len(self._headers) >= _HEADER_CACHE_LIMIT:
                self._headers.clear()
            self._headers[cache_key] = header
        return header

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
