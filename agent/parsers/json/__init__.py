"""Telegraf's json data format (plugins/parsers/json): an object, or an array of objects, per
document; each object one metric.

Nested keys are joined with "_" (arrays by index: tags_array_0_mytag); every number is a float
field; strings and booleans are dropped unless json_string_fields names them (they keep their
type) or tag_keys makes them tags (floats as shortest decimal, booleans true/false). Both take
glob patterns. json_name_key picks the measurement from a string field, json_time_key the time
(json_time_format, json_timezone), json_query a part of the document (a GJSON path subset, see
gjson.py). json_strict: one bad object in an array fails the whole document.
"""

from __future__ import annotations

import fnmatch
import json
import re
from decimal import Decimal
from typing import Any, Dict, Iterable, List, Optional, Pattern, Tuple

from agent.lineprotocol.metric import Metric
from agent.parsers.json import gjson
from agent.parsers.json.timestamps import TimestampParser, check_format, load_zone
from agent.plugin.options import Option

JSON_OPTIONS: Tuple[Option, ...] = (
    Option("json_strict", "bool", True, "json: one bad object in an array fails the document"),
    Option("json_query", "str", "", "json: a GJSON path to the part to parse (a subset: keys, "
           "indexes, #, #.key, #(key==value), wildcards)"),
    Option("tag_keys", "str_list", [], "json: keys (globs) that become tags"),
    Option("json_string_fields", "str_list", [], "json: string or boolean keys (globs) kept as "
           "fields"),
    Option("json_name_key", "str", "", "json: the key whose string value is the measurement"),
    Option("json_time_key", "str", "", "json: the key holding the time"),
    Option("json_time_format", "str", "", "json: unix, unix_ms, unix_us, unix_ns or a Go layout "
           "(2006-01-02T15:04:05Z07:00)"),
    Option("json_timezone", "str", "", "json: zone of times without an offset: UTC (default), "
           "Local or a tz database name"),
)
_BOM = "\ufeff"


class JSONError(ValueError):
    """The document cannot be parsed; str() says why."""


def check_options(options: Dict[str, Any]) -> List[Tuple[str, str]]:
    """(key, problem) pairs for `agent check`."""
    problems = []
    if options["json_time_key"] and not options["json_time_format"]:
        problems.append(("json_time_format", "required with json_time_key (unix, unix_ms, "
                         "unix_us, unix_ns or a Go layout)"))
    if options["json_time_format"]:
        reason = check_format(options["json_time_format"])
        if reason:
            problems.append(("json_time_format", reason))
    try:
        load_zone(options["json_timezone"])
    except ValueError as err:
        problems.append(("json_timezone", str(err)))
    if options["json_query"]:
        try:
            gjson.compile_path(options["json_query"])
        except gjson.PathError as err:
            problems.append(("json_query", str(err)))
    return problems


def _globs(patterns: Iterable[str]) -> Optional[Pattern]:
    patterns = list(patterns)
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


class JSONParser:
    def __init__(self, metric_name: str, *, json_strict: bool = True, json_query: str = "",
                 tag_keys: Iterable[str] = (), json_string_fields: Iterable[str] = (),
                 json_name_key: str = "", json_time_key: str = "", json_time_format: str = "",
                 json_timezone: str = "", **_other: object) -> None:
        self.metric_name = metric_name
        self.strict = json_strict
        self.query = gjson.compile_path(json_query) if json_query else None
        self.tag_keys = _globs(tag_keys)
        self.string_fields = _globs(json_string_fields)
        self.name_key = json_name_key
        self.time_key = json_time_key
        self.times = (TimestampParser(json_time_format, json_timezone)
                      if json_time_key and json_time_format else None)

    def parse(self, data: bytes) -> List[Metric]:
        """The metrics of one document (time None: stamped by the agent); JSONError."""
        document = _load(data)
        if self.query is not None:
            document = gjson.query(document, self.query)
            if document is gjson.MISSING or document is None:
                return []
            if not isinstance(document, (dict, list)):
                raise JSONError("query path must lead to a JSON object, array of objects or "
                                f"null, but lead to: {_gjson_type(document)}")
        if document is None or document is _EMPTY:
            return []
        if isinstance(document, dict):
            return [self._metric(document)]
        if isinstance(document, list):
            return self._array(document)
        raise JSONError("must be an object or an array of objects")

    def _array(self, items: List[Any]) -> List[Metric]:
        metrics = []
        for item in items:
            if not isinstance(item, dict):
                raise JSONError("must be an object or an array of objects")
            try:
                metrics.append(self._metric(item))
            except JSONError:
                if self.strict:
                    raise
        return metrics

    def _metric(self, document: Dict[str, Any]) -> Metric:
        fields: Dict[str, Any] = {}
        _flatten("", document, fields)
        name = self.metric_name
        named = fields.get(self.name_key) if self.name_key else None
        if isinstance(named, str):
            name = named
        time = self._time(fields) if self.time_key else None
        tags = {}
        for key in list(fields):
            value = fields[key]
            if self.tag_keys is not None and self.tag_keys.match(key):
                tags[key] = _tag_text(value)
                del fields[key]
            elif isinstance(value, (str, bool)) and not (
                    self.string_fields is not None and self.string_fields.match(key)):
                del fields[key]
        return Metric(name, fields, tags, time)

    def _time(self, fields: Dict[str, Any]) -> int:
        if self.times is None:
            raise JSONError("use of 'json_time_key' requires 'json_time_format'")
        if fields.get(self.time_key) is None:
            raise JSONError("'json_time_key' could not be found")
        try:
            stamp = self.times(fields.pop(self.time_key))
        except ValueError as err:
            raise JSONError(str(err)) from None
        return stamp


_EMPTY = object()


def _load(data: bytes) -> Any:
    text = data.decode("utf-8", "replace").strip().lstrip(_BOM).strip()
    if not text:
        return _EMPTY
    try:
        return json.loads(text, parse_int=_finite, parse_constant=_no_constant,
                          parse_float=_finite)
    except ValueError as err:
        raise JSONError(f"invalid JSON: {err}") from None


def _no_constant(name: str) -> float:
    raise ValueError(f"invalid character {name!r} looking for beginning of value")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text} out of range of float64")
    return value


def _flatten(prefix: str, value: Any, fields: Dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _flatten(f"{prefix}_{key}" if prefix else key, child, fields)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _flatten(f"{prefix}_{index}" if prefix else str(index), child, fields)
    elif value is not None:
        fields[prefix] = value


def _tag_text(value: Any) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64) for numbers, true/false for booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = format(Decimal(repr(value)), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    return str(value)


def _gjson_type(value: Any) -> str:
    if value is True:
        return "True"
    if value is False:
        return "False"
    return "Number" if isinstance(value, (int, float)) else "String"
