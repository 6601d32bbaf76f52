"""Telegraf's layouts: what MQTT messages a body of spooled lines becomes, on which topic.

- non-batch: one message per metric (its line, newline included), on the metric's topic;
- batch: the lines of one topic as one message;
- field: one message per field, on <topic>/<field>, the value as text (Telegraf's ToString:
  shortest decimal floats without exponent, true/false); tags and time are not sent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import List, Tuple

from agent.lineprotocol.metric import FieldValue
from agent.lineprotocol.parser import ParseError, parse_at, parse_metrics

LAYOUTS = ("non-batch", "batch", "field")
Message = Tuple[str, bytes]


def messages(layout: str, topic: str, body: str) -> List[Message]:
    if layout == "batch":
        return [(topic, body.encode("utf-8"))]
    if layout == "field":
        return [(f"{topic}/{key}", to_string(value).encode("utf-8"))
                for metric in parse_metrics(body) for key, value in metric.fields.items()]
    return [(topic, line.encode("utf-8")) for line in split_lines(body)]


def split_lines(body: str) -> List[str]:
    """The lines of a body, each with its newline; a string field may hold a newline."""
    if '"' not in body:
        return [line + "\n" for line in body.split("\n")[:-1]]
    lines, pos = [], 0
    while pos < len(body):
        result, end = parse_at(body, pos)
        if isinstance(result, ParseError) or end <= pos:
            raise ValueError(f"spooled line is not line protocol: {body[pos:pos + 200]!r}")
        end = body.find("\n", end) + 1 or len(body)  # the line's own newline
        lines.append(body[pos:end])
        pos = end
    return lines


def to_string(value: FieldValue) -> str:
    """Telegraf's internal.ToString for a field value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = format(Decimal(repr(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value) if not isinstance(value, int) else int.__repr__(value)
