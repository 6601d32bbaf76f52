"""The data_format registry of the inputs that receive documents (http_listener_v2 now,
mqtt_consumer later): Telegraf's format names, each with its options, and one parse(bytes)
-> metrics interface. A document that cannot be parsed raises ValueError with the reason.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from agent.lineprotocol.metric import Metric
from agent.lineprotocol.parser import parse_metrics
from agent.parsers.json import JSON_OPTIONS, JSONParser
from agent.parsers.json import check_options as check_json_options
from agent.plugin.options import Option

DATA_FORMATS = ("influx", "json")
PARSER_OPTIONS: Tuple[Option, ...] = (
    Option("data_format", "str", "influx", "influx (line protocol) or json",
           choices=DATA_FORMATS),
    *JSON_OPTIONS,
)


class InfluxParser:
    """Telegraf's influx format (its grammar and messages): one bad line fails the document;
    lines without a timestamp are stamped by the agent."""

    def parse(self, data: bytes) -> List[Metric]:
        return parse_metrics(data.decode("utf-8", "replace"))


def check_parser_options(options: Dict[str, Any]) -> List[Tuple[str, str]]:
    """(key, problem) pairs for `agent check`; json options are checked for data_format json."""
    if options["data_format"] == "json":
        return check_json_options(options)
    return []


def make_parser(options: Dict[str, Any], metric_name: str):
    """The parser for options["data_format"]; metric_name names what carries no name of its
    own (a JSON document: the input's name, as in Telegraf)."""
    if options["data_format"] == "json":
        return JSONParser(metric_name, **{o.name: options[o.name] for o in JSON_OPTIONS})
    return InfluxParser()
