"""Message payload -> metrics, per data_format: parse(payload: bytes) -> List[Metric].

influx: agent's strict line-protocol parser; the valid lines of a payload are kept and each
bad line is reported through on_error (Telegraf drops the whole message).

json: Telegraf's json parser with its options (agent/parsers/json, shared with
http_listener_v2): json_name_key, tag_keys, json_string_fields, json_time_key and
json_time_format (unix* and Go layouts), json_timezone, json_query (a GJSON subset), json_strict.
A payload that cannot be parsed raises ValueError with the reason.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Tuple

from agent.lineprotocol.metric import Metric
from agent.lineprotocol.parser import ParseError, iter_parse
from agent.parsers.formats import DATA_FORMATS as FORMATS
from agent.parsers.formats import check_parser_options
from agent.parsers.formats import make_parser as make_document_parser
from agent.parsers.json import JSON_OPTIONS

__all__ = ["FORMATS", "JSON_OPTIONS", "check_options", "make_parser"]
Parse = Callable[[bytes], List[Metric]]


def check_options(options: Dict[str, Any]) -> Iterable[Tuple[str, str]]:
    return check_parser_options(options)


def make_parser(options: Dict[str, Any], measurement: str,
                on_error: Callable[[str], None]) -> Parse:
    if options["data_format"] == "json":
        return make_document_parser(options, measurement).parse
    return lambda payload: _influx(payload, on_error)


def _influx(payload: bytes, on_error: Callable[[str], None]) -> List[Metric]:
    metrics = []
    for _, result in iter_parse(payload.decode("utf-8", "replace")):
        if isinstance(result, ParseError):
            on_error(f"{result}: {result.text[:200]!r}")
        else:
            metrics.append(result)
    return metrics
