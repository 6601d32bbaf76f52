"""[[inputs.mqtt_consumer.topic_parsing]]: measurement, tags and fields from topic levels, with
Telegraf's rules (plugins/inputs/mqtt_consumer/topic_parser.go).

`topic` selects the messages: literal levels must match, "+" matches one level, one "#" any
number. measurement, tags and fields are "/"-separated like the topic: "_" (or empty) skips a
level, a name takes it, "#" stands for the variable part (names after it count from the end).
Fields are strings unless [types] makes them int, uint or float.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

from agent.lineprotocol.metric import INT64_MAX, INT64_MIN, UINT64_MAX, Metric, UInt

KEYS = ("topic", "measurement", "tags", "fields", "types")
TYPES = ("int", "uint", "float")


class _Selection:
    """Names picked from levels of a pattern, by index (negative after a "#")."""

    def __init__(self, pattern: str) -> None:
        parts = pattern.split("/")
        self.length = 0
        self.indices: Dict[str, int] = {}
        after_hash = False
        for i, name in enumerate(parts):
            if name in ("_", ""):
                self.length += 1
            elif name == "#":
                after_hash = True
            else:
                self.indices[name] = i - len(parts) if after_hash else i
                self.length += 1


class TopicParser:
    def __init__(self, table: Dict[str, Any]) -> None:
        topic = str(table.get("topic", ""))
        self.types: Dict[str, str] = dict(table.get("types") or {})
        self.literals: Dict[str, int] = {}
        self.variable = False
        length = 0
        parts = topic.split("/")
        for i, level in enumerate(parts):
            if level == "#":
                if self.variable:
                    raise ValueError("topic can only contain one hash")
                self.variable = True
                continue
            if level != "+":
                self.literals[level] = i - len(parts) if self.variable else i
            length += 1
        measurement = _Selection(str(table.get("measurement", "")))
        if len(measurement.indices) > 1:
            raise ValueError("measurement can only contain one element")
        self.measurement = next(iter(measurement.indices.values()), None)
        self.tags = _Selection(str(table.get("tags", "")))
        self.fields = _Selection(str(table.get("fields", "")))
        if not self.variable:
            if self.measurement is not None and measurement.length != length:
                raise ValueError("measurement length does not equal topic length")
            if table.get("fields") and self.fields.length != length:
                raise ValueError("fields length does not equal topic length")
            if table.get("tags") and self.tags.length != length:
                raise ValueError("tags length does not equal topic length")
        self.min_length = max(length, measurement.length, self.tags.length, self.fields.length)

    def apply(self, metric: Metric, topic: str) -> None:
        """Rename, tag and add fields from topic (when it matches); ValueError when a typed
        field does not convert."""
        levels = topic.split("/")
        if (len(levels) < self.min_length) if self.variable else \
                (len(levels) != self.min_length):
            return
        if any(levels[i] != literal for literal, i in self.literals.items()):
            return
        if self.measurement is not None:
            metric.name = levels[self.measurement]
        for key, i in self.tags.indices.items():
            metric.tags[key] = levels[i]
        for key, i in self.fields.indices.items():
            metric.fields[key] = self._convert(key, levels[i])

    def _convert(self, key: str, raw: str):
        kind = self.types.get(key)
        if kind is None:
            return raw
        try:
            return _CONVERT[kind](raw)
        except ValueError:
            raise ValueError(f"unable to convert field {raw!r} to type {kind}") from None


def _to_int(text: str) -> int:
    """Go's strconv.ParseInt(text, 10, 64): a sign is allowed, spaces and "_" are not."""
    if "_" in text or text != text.strip():
        raise ValueError(text)
    value = int(text, 10)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(text)
    return value


def _to_uint(text: str) -> UInt:
    if not text.isdigit():
        raise ValueError(text)
    value = int(text)
    if value > UINT64_MAX:
        raise ValueError(text)
    return UInt(value)


def _to_float(text: str) -> float:
    if "_" in text or text != text.strip():
        raise ValueError(text)
    return float(text)


_CONVERT = {"int": _to_int, "uint": _to_uint, "float": _to_float}


def check_tables(tables: Optional[List[Dict[str, Any]]]) -> Iterable[Tuple[str, str]]:
    """(key, problem) for `agent check`: unknown keys, bad types, inconsistent patterns."""
    for number, table in enumerate(tables or [], 1):
        where = f"topic_parsing #{number}"
        for key in table:
            if key not in KEYS:
                yield where, f"unknown key {key!r} (known: {', '.join(KEYS)})"
        for key in ("topic", "measurement", "tags", "fields"):
            if not isinstance(table.get(key, ""), str):
                yield where, f"{key} must be a string"
        types = table.get("types") or {}
        if not isinstance(types, dict):
            yield where, "types must be a table of field = type"
            continue
        for field, kind in types.items():
            if kind not in TYPES:
                yield where, (f"types.{field}: converting to the type {kind} is not "
                              "supported: use int, uint, or float")
        try:
            TopicParser(table)
        except (ValueError, TypeError) as err:
            yield where, f"config error topic parsing: {err}"
