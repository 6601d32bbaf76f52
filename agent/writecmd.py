"""`agent write [FILE|-]`: line protocol in, validated, spooled and delivered to the outputs.

Exit codes (what they promise):
  0   every line was valid and every output acknowledged all of them;
  65  some lines were invalid (each reported with its line number on stderr) or refused by a
      server (in dead-letter.lp); all the valid, accepted lines were delivered;
  75  not everything was delivered within [agent] shutdown_timeout; with the disk buffer the
      rest is kept and goes out with the next `agent run` or `agent write` on the same config;
  78  the config is wrong.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import List

from agent.config import Config
from agent.lineparser import ParseError, iter_parse
from agent.metric import Metric
from agent.running import RunningOutput

log = logging.getLogger("agent")
EX_DATAERR = 65
EX_TEMPFAIL = 75
CHUNK = 5000


def run_write(config: Config, source: str) -> int:
    text = _read(source)
    outputs = [RunningOutput(p, config) for p in config.outputs]
    for output in outputs:
        output.connect()
    invalid = _deliver_valid_lines(text, outputs)
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


def _deliver_valid_lines(text: str, outputs: List[RunningOutput]) -> int:
    now = time.time_ns()
    batch: List[Metric] = []
    invalid = 0
    for lineno, result in iter_parse(text):
        if isinstance(result, ParseError):
            invalid += 1
            log.error("line %d: %s: %s", lineno, result.reason, result.text[:200])
            continue
        if result.time is None:
            result.time = now
        batch.append(result)
        if len(batch) >= CHUNK:
            _write(outputs, batch)
            batch = []
    _write(outputs, batch)
    if invalid:
        log.error("%d invalid line(s) skipped", invalid)
    return invalid


def _write(outputs: List[RunningOutput], metrics: List[Metric]) -> None:
    for output in outputs:
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
