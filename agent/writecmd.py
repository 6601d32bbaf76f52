"""`agent write [FILE|-]`: line protocol in, validated, spooled and delivered to the outputs.

Exit codes (what they promise):
  0   every line was valid and every output acknowledged all of them;
  65  some lines were invalid (each reported with its line number on stderr) or refused by a
      server (in dead-letter.lp); all the valid, accepted lines were delivered;
  75  not everything was delivered within [agent] shutdown_timeout; with the disk buffer the
      rest is kept and goes out with the next `agent run` or `agent write` on the same config;
  78  the config is wrong.

Common lines (see agent/linecheck.py) are validated with one regular expression and spooled
byte for byte; the others are parsed strictly and re-encoded by each output's serializer.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Iterator, List, Tuple, Union

from agent.config import Config
from agent.linecheck import simple_line
from agent.lineparser import ParseError, parse_at
from agent.metric import Metric
from agent.running import RunningOutput

log = logging.getLogger("agent")
EX_DATAERR = 65
EX_TEMPFAIL = 75
CHUNK = 5000
Item = Union[str, Metric, ParseError]


def run_write(config: Config, source: str) -> int:
    text = _read(source)
    outputs = [RunningOutput(p, config) for p in config.outputs]
    for output in outputs:
        output.connect()
    invalid = _deliver(text, outputs)
    delivered, refused = _flush(outputs, config.agent["shutdown_timeout"])
    for output in outputs:
        output.close()
    if not delivered:
        return EX_TEMPFAIL
    return EX_DATAERR if invalid or refused else 0


def _read(source: str) -> str:
    if source == "-":
        return sys.stdin.buffer.read().decode("utf-8", "replace")
    with open(source, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def _takes_raw(output: RunningOutput) -> bool:
    takes = getattr(output.plugin, "takes_raw_lines", None)
    return bool(takes and takes() and not output.filter.active)


def _deliver(text: str, outputs: List[RunningOutput]) -> int:
    raw_ok = bool(outputs) and all(_takes_raw(o) for o in outputs)
    stamp = f" {time.time_ns()}\n"
    lines: List[str] = []
    metrics: List[Metric] = []
    invalid = 0
    for lineno, item in _items(text, raw_ok, stamp):
        if isinstance(item, str):
            lines.append(item)
        elif isinstance(item, ParseError):
            invalid += 1
            log.error("line %d: %s: %s", lineno, item.reason, item.text[:200])
        else:
            metrics.append(item)
        if len(lines) + len(metrics) >= CHUNK:
            _write(outputs, lines, metrics)
            lines, metrics = [], []
    _write(outputs, lines, metrics)
    if invalid:
        log.error("%d invalid line(s) skipped", invalid)
    return invalid


def _items(text: str, raw_ok: bool, stamp: str) -> Iterator[Tuple[int, Item]]:
    """(line number, raw line | Metric | ParseError) for every statement in text."""
    pos, end, lineno = 0, len(text), 1
    now = int(stamp)
    while pos < end:
        newline = text.find("\n", pos)
        stop = end if newline < 0 else newline
        line = text[pos:stop].strip(" \t\r")
        kind = simple_line(line) if raw_ok and line else None
        if kind is not None or not line or line[0] == "#":
            if kind is not None:
                yield lineno, line + "\n" if kind else line + stamp
            pos, lineno = stop + 1, lineno + 1
            continue
        result, after = parse_at(text, pos)
        if isinstance(result, Metric) and result.time is None:
            result.time = now
        yield lineno, result
        lineno += text.count("\n", pos, after)
        pos = after


def _write(outputs: List[RunningOutput], lines: List[str], metrics: List[Metric]) -> None:
    for output in outputs:
        if lines:
            output.plugin.write_lines(lines)
        if metrics:
            output.write(metrics)


def _flush(outputs: List[RunningOutput], timeout: float):
    """(everything acknowledged?, anything dead-lettered?) after at most timeout seconds."""
    deadline = time.monotonic() + timeout
    delivered, refused = True, False
    for output in outputs:
        flush = getattr(output.plugin, "flush", None)
        if flush is None:
            continue
        delivered &= flush(max(0.0, deadline - time.monotonic()))
        writer = getattr(output.plugin, "writer", None)
        refused |= bool(writer and writer.dead_letters.count)
    return delivered, refused
