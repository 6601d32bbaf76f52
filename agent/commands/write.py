"""`agent write [FILE|-]`: line protocol in, validated, spooled and delivered to the outputs.

Exit codes (what they promise):
  0   every line was valid and every output acknowledged all of them;
  65  some lines were invalid (each reported with its line number on stderr) or refused by a
      server (in dead-letter.lp); all the valid, accepted lines were delivered;
  75  not everything was delivered within [agent] shutdown_timeout; with the disk buffer the
      rest is kept and goes out with the next `agent run` or `agent write` on the same config.
      Old lines are never dropped to make room: when a spool stays full for shutdown_timeout
      (the server is down), reading stops and the error names the first line not taken;

  78  the config is wrong.

Common lines (see agent/linecheck.py) are validated with one regular expression and spooled
byte for byte; the others are parsed strictly and re-encoded by each output's serializer.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import List, Tuple

from agent.config.model import Config
from agent.engine.running import RunningOutput
from agent.lineprotocol.linecheck import simple_line, timestamped_block
from agent.lineprotocol.metric import Metric
from agent.lineprotocol.parser import ParseError, parse_at
from agent.plugin.base import BufferedOutput

log = logging.getLogger("agent")
EX_DATAERR = 65
EX_TEMPFAIL = 75
CHUNK = 5000


def run_write(config: Config, source: str) -> int:
    text = _read(source)
    outputs = [RunningOutput(p, config) for p in config.outputs]
    for output in outputs:
        output.connect()
    wait = config.agent["shutdown_timeout"]
    invalid, complete = _deliver(text, outputs, wait)
    delivered, refused = _flush(outputs, wait)
    for output in outputs:
        output.close()
    if not (complete and delivered):
        return EX_TEMPFAIL
    return EX_DATAERR if invalid or refused else 0


def _read(source: str) -> str:
    if source == "-":
        text = sys.stdin.buffer.read().decode("utf-8", "replace")
    else:
        with open(source, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    return text if not text or text.endswith("\n") else text + "\n"


def _takes_raw(output: RunningOutput) -> bool:
    plugin = output.plugin
    return isinstance(plugin, BufferedOutput) and plugin.takes_raw_lines() and not \
        output.filter.active


def _deliver(text: str, outputs: List[RunningOutput], wait: float) -> Tuple[int, bool]:
    """(invalid lines, whether every valid line went into the outputs) for the whole text,
    in chunks of about one batch: a chunk of timestamped simple lines is checked with one
    regular expression and spooled as it is; any other chunk line by line."""
    raw_ok = bool(outputs) and all(_takes_raw(o) for o in outputs)
    stamp = f" {time.time_ns()}\n"
    chunk_chars = _chunk_chars(text, outputs)
    invalid, pos, lineno = 0, 0, 1
    while pos < len(text):
        end = text.find("\n", pos + chunk_chars - 1) + 1 or len(text)
        count = text.count("\n", pos, end)
        if not _make_room(outputs, count, wait, lineno):
            return invalid, False
        if raw_ok and timestamped_block(text, pos, end):
            for output in outputs:
                output.plugin.write_text(text[pos:end], count)
            pos, lineno = end, lineno + count
            continue
        chunk = _Chunk(lineno)
        pos = chunk.read(text, pos, end, raw_ok, stamp)
        _write(outputs, chunk.lines, chunk.metrics)
        invalid, lineno = invalid + chunk.invalid, chunk.lineno
    if invalid:
        log.error("%d invalid line(s) skipped", invalid)
    return invalid, True


def _chunk_chars(text: str, outputs: List[RunningOutput]) -> int:
    """Characters per chunk: about one batch of the smallest batch (and spool) size."""
    sizes = [min(o.plugin.batch_size, o.plugin.buffer_limit) for o in outputs
             if isinstance(o.plugin, BufferedOutput)] or [CHUNK]
    average_line = len(text) / max(1, text.count("\n"))
    return max(1, int(min(sizes) * average_line * 0.95))


def _make_room(outputs: List[RunningOutput], count: int, wait: float, lineno: int) -> bool:
    """Wait until count more lines fit in every spool: `agent write` never drops old lines."""
    for output in outputs:
        plugin = output.plugin
        if isinstance(plugin, BufferedOutput) and not plugin.wait_for_room(count, wait):
            log.error("%s is not taking data and its buffer is full (metric_buffer_limit = %d):"
                      " stopped before line %d; the lines before it are spooled or delivered",
                      output.label, plugin.buffer_limit, lineno)
            return False
    return True


class _Chunk:
    """The statements of one chunk read line by line: raw lines, parsed metrics, errors."""

    def __init__(self, lineno: int) -> None:
        self.lineno = lineno
        self.lines: List[str] = []
        self.metrics: List[Metric] = []
        self.invalid = 0

    def read(self, text: str, pos: int, end: int, raw_ok: bool, stamp: str) -> int:
        """Read every statement starting before end; returns where the next chunk starts (a
        string field with a newline inside may carry the last statement past end)."""
        now = int(stamp)
        while pos < end:
            newline = text.find("\n", pos)
            stop = len(text) if newline < 0 else newline
            line = text[pos:stop].strip(" \t\r")
            kind = simple_line(line) if raw_ok and line else None
            if kind is not None or not line or line[0] == "#":
                if kind is not None:
                    self.lines.append(line + "\n" if kind else line + stamp)
                pos, self.lineno = stop + 1, self.lineno + 1
                continue
            result, after = parse_at(text, pos)
            if isinstance(result, ParseError):
                self.invalid += 1
                log.error("line %d: %s: %s", self.lineno, result.reason, result.text[:200])
            else:
                if result.time is None:
                    result.time = now
                self.metrics.append(result)
            self.lineno += text.count("\n", pos, after)
            pos = after
        return pos


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
        plugin = output.plugin
        if not isinstance(plugin, BufferedOutput):
            continue
        delivered &= plugin.flush(max(0.0, deadline - time.monotonic()))
        refused |= bool(plugin.dead_letter_count)
    return delivered, refused
