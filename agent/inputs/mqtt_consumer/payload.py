"""Message payload -> metrics, per data_format: parse(payload: bytes) -> List[Metric].

influx: agent's strict line-protocol parser; the valid lines of a payload are kept and each
bad line is reported through on_error (Telegraf drops the whole message).

json: a minimal adapter until the shared JSON parser with Telegraf's json options
(agent/parsers, listeners issue) is on main: make_parser() is the one place to switch. It
takes an object or an array of objects, flattens nested keys with "_", makes numbers float
fields, keeps bools, keeps strings only for json_string_fields, and supports json_name_key,
tag_keys, and json_time_key with the unix* json_time_format values. json_query and Go time
layouts are refused at `agent check` until then.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from agent.lineprotocol.metric import Metric
from agent.lineprotocol.parser import ParseError, iter_parse
from agent.plugin.options import Option

FORMATS = ("influx", "json")
UNIX_FORMATS = {"unix": 1_000_000_000, "unix_ms": 1_000_000, "unix_us": 1_000, "unix_ns": 1}
Parse = Callable[[bytes], List[Metric]]

JSON_OPTIONS = (
    Option("json_name_key", "str", "", "json: the key whose value names the measurement"),
    Option("tag_keys", "str_list", [], "json: keys (globs) that become tags"),
    Option("json_string_fields", "str_list", [], "json: string keys (globs) kept as fields"),
    Option("json_time_key", "str", "", "json: the key holding the time"),
    Option("json_time_format", "str", "", "json: unix, unix_ms, unix_us or unix_ns"),
    Option("json_timezone", "str", "", "json: for Go time layouts (not supported yet)"),
    Option("json_query", "str", "", "json: GJSON path to the data (not supported yet)"),
    Option("json_strict", "bool", True, "json: an invalid array element fails the message"),
)


def check_options(options: Dict[str, Any]) -> Iterable[Tuple[str, str]]:
    if options["data_format"] != "json":
        return
    if options["json_query"]:
        yield "json_query", "not supported by this build's minimal JSON parser yet"
    if options["json_time_key"] and options["json_time_format"] not in UNIX_FORMATS:
        yield "json_time_format", (f"{options['json_time_format']!r}: use one of "
                                   f"{', '.join(UNIX_FORMATS)} (Go time layouts are not "
                                   "supported yet)")


def make_parser(options: Dict[str, Any], measurement: str,
                on_error: Callable[[str], None]) -> Parse:
    if options["data_format"] == "json":
        return JSONAdapter(options, measurement).parse
    return lambda payload: _influx(payload, on_error)


def _influx(payload: bytes, on_error: Callable[[str], None]) -> List[Metric]:
    metrics = []
    for _, result in iter_parse(payload.decode("utf-8", "replace")):
        if isinstance(result, ParseError):
            on_error(f"{result}: {result.text[:200]!r}")
        else:
            metrics.append(result)
    return metrics


class JSONAdapter:
    def __init__(self, options: Dict[str, Any], measurement: str) -> None:
        self.measurement = measurement
        self.name_key = options["json_name_key"]
        self.tag_keys = list(options["tag_keys"] or [])
        self.string_fields = list(options["json_string_fields"] or [])
        self.time_key = options["json_time_key"]
        self.time_scale = UNIX_FORMATS.get(options["json_time_format"], 1)

    def parse(self, payload: bytes) -> List[Metric]:
        try:
            document = json.loads(payload)
        except ValueError as err:
            raise ValueError(f"invalid JSON: {err}") from None
        items = document if isinstance(document, list) else [document]
        if not all(isinstance(item, dict) for item in items):
            raise ValueError("expected a JSON object or an array of objects")
        return [m for m in map(self._metric, items) if m is not None]

    def _metric(self, item: Dict[str, Any]) -> Optional[Metric]:
        name, time, tags, fields = self.measurement, None, {}, {}
        for key, value in _flatten(item, ""):
            if key == self.name_key and isinstance(value, str):
                name = value
            elif key == self.time_key and self.time_key:
                time = _timestamp(value, self.time_scale)
            elif _matches(key, self.tag_keys):
                tags[key] = value if isinstance(value, str) else json.dumps(value)
            elif isinstance(value, (bool, int, float)):
                fields[key] = value if isinstance(value, bool) else float(value)
            elif isinstance(value, str) and _matches(key, self.string_fields):
                fields[key] = value
        return Metric(name, fields, tags, time) if fields else None


def _flatten(value: Dict[str, Any], prefix: str):
    for key, item in value.items():
        name = f"{prefix}_{key}" if prefix else str(key)
        if isinstance(item, dict):
            yield from _flatten(item, name)
        elif isinstance(item, list):
            yield from _flatten({str(i): v for i, v in enumerate(item)}, name)
        elif item is not None:
            yield name, item


def _matches(key: str, patterns: List[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns)


def _timestamp(value: Any, scale: int) -> int:
    from decimal import Decimal, InvalidOperation

    try:
        return int(Decimal(str(value)) * scale)  # exact: no float rounding of ns
    except (TypeError, ValueError, InvalidOperation):
        raise ValueError(f"json_time_key value {value!r} is not a number") from None
