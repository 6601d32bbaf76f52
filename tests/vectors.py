"""Loads tests/data/vectors/telegraf_line_protocol.txt: Telegraf's own line-protocol test cases."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from agent.lineprotocol.metric import Metric, UInt

REPO = Path(__file__).resolve().parent.parent
VECTORS = REPO / "tests" / "data" / "vectors"  # everything a test reads is in the repository

_CASE = re.compile(r"^\[(?P<id>[A-Z]\d+)\] (?P<title>.*?)(?:\s+\[(?P<opts>[^\]]*)\])?$")
_STRING = r'"(?:[^"\\]|\\.)*"'
_METRIC = re.compile(
    rf"measurement=(?P<name>{_STRING}) tags=\{{(?P<tags>.*?)\}} "
    rf"fields=\{{(?P<fields>.*)\}} time=(?P<time>\S+)"
)
_PAIR = re.compile(rf"(?P<key>{_STRING})=(?P<value>(?:\w+:)?(?:{_STRING}|[^,\s]+))")


@dataclass
class Case:
    id: str
    title: str
    options: Dict[str, str] = field(default_factory=dict)
    input: Optional[str] = None
    lines: List[Tuple[bool, object]] = field(default_factory=list)  # (valid, Metric | reason)
    metric: Optional[Metric] = None
    output: Optional[str] = None  # None: the serializer must drop the metric


def load_cases() -> List[Case]:
    cases: List[Case] = []
    text = (VECTORS / "telegraf_line_protocol.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        stripped = line.strip()
        match = _CASE.match(line)
        if match:
            opts = dict(o.split("=", 1) for o in (match["opts"] or "").split(", ") if o)
            cases.append(Case(match["id"], match["title"], opts))
        elif stripped.startswith("INPUT: "):
            cases[-1].input = json.loads(stripped[len("INPUT: "):])
        elif stripped.startswith("LINE "):
            body = stripped.split(": ", 1)[1]
            if body.startswith("VALID"):
                cases[-1].lines.append((True, parse_metric(body)))
            else:
                cases[-1].lines.append((False, body[len("INVALID "):]))
        elif stripped.startswith("METRIC: "):
            cases[-1].metric = parse_metric(stripped)
        elif stripped.startswith("OUTPUT: "):
            out = stripped[len("OUTPUT: "):]
            cases[-1].output = None if out.startswith("<error") else json.loads(out)
    return cases


def parse_metric(text: str) -> Metric:
    match = _METRIC.search(text)
    assert match, text
    tags = {json.loads(m["key"]): json.loads(m["value"]) for m in _PAIR.finditer(match["tags"])}
    fields = {json.loads(m["key"]): _value(m["value"]) for m in _PAIR.finditer(match["fields"])}
    time = None if match["time"] == "NOW" else int(match["time"])
    return Metric(json.loads(match["name"]), fields, tags, time)


def _value(text: str):
    kind, raw = text.split(":", 1)
    if kind == "float":
        return {"nan": math.nan, "inf": math.inf}.get(raw) or float(raw)
    if kind == "int":
        return int(raw)
    if kind == "uint":
        return UInt(int(raw))
    if kind == "bool":
        return raw == "true"
    if kind == "string":
        return json.loads(raw)
    raise ValueError(text)
