"""Text lines: split on \\r\\n, \\n or \\r, drop the first line after each (re)open, cap length.

Opening a port resets many boards (Arduino) and may start mid-line, so everything up to the
first line end after an open is dropped. A line longer than max_line_length is dropped whole
(the bytes are not kept while waiting for its end): memory stays bounded on a noisy line.
"""

from __future__ import annotations

import logging
from typing import List, Tuple

from agent.inputs.serial.counters import Counters
from agent.inputs.serial.protocol import Protocol, Reading
from agent.inputs.serial.textformats import TextParser


class LineSplitter:
    def __init__(self, counters: Counters, max_length: int = 4096) -> None:
        self.counters = counters
        self.max_length = max_length
        self.reset()

    def reset(self) -> None:
        self.discarded = b""  # the first line after the last open, if any was dropped
        self._partial = b""
        self._first = True  # the next line end closes the line to discard
        self._overflow = False  # the current line is already too long: drop it at its end

    def feed(self, data: bytes) -> List[Tuple[int, bytes]]:
        """Complete, non-empty lines as (bytes after the line end in data, line)."""
        if b"\r" in data:
            data = data.replace(b"\r", b"\n")
        parts = data.split(b"\n")
        if len(parts) == 1:
            self._keep(self._partial + data)
            return []
        lines, end, pos = [], len(data), -1
        for part in parts[:-1]:
            pos += len(part) + 1  # where this line's end is in data
            lines.append((end - pos - 1, part))
        lines[0] = (lines[0][0], self._partial + parts[0])
        kept = self._select(lines)
        self._keep(parts[-1])
        return kept

    def _select(self, lines: List[Tuple[int, bytes]]) -> List[Tuple[int, bytes]]:
        kept = []
        for after, line in lines:
            if self._first:
                self._first = False
                self._overflow = False
                if line:
                    self.discarded = line
                    self.counters.add("lines_discarded")
            elif self._overflow or len(line) > self.max_length:
                self._overflow = False
                self.counters.add("lines_bad_length")
            elif line:
                kept.append((after, line))
        return kept

    def _keep(self, partial: bytes) -> None:
        if len(partial) > self.max_length:
            self._overflow = True
            partial = b""
        self._partial = partial


class LinesProtocol(Protocol):
    """Text lines parsed by a data_format into readings."""

    name = "serial"

    def __init__(self, counters: Counters, parser: TextParser, max_length: int = 4096,
                 log=None) -> None:
        super().__init__(counters)
        self.parser = parser
        self.splitter = LineSplitter(counters, max_length)
        self.log = log or logging.getLogger("agent.inputs.serial")
        self._unexpected: set = set()  # kinds of parser failure other than ValueError, logged

    def reset(self) -> bytes:
        self.splitter.reset()
        return b""

    def feed(self, data: bytes) -> List[Reading]:
        readings = []
        parse, ok, bad = self.parser.parse, 0, 0
        lines = self.splitter.feed(data)
        if self.splitter.discarded:
            # A board that resets on open prints its CSV header first: keep it if it is one.
            self._guarded(self.parser.offer_header, self.splitter.discarded)
            self.splitter.discarded = b""
        for after, line in lines:
            try:
                metric = parse(line.decode("utf-8", "replace"))
            except ValueError:
                bad += 1
                continue
            except Exception as err:  # noqa: BLE001 - one line never stops the reader
                self._unexpected_error(err)
                bad += 1
                continue
            ok += 1
            if metric is not None:
                readings.append((after, metric))
        if ok:
            self.counters.add("lines_ok", ok)
        if bad:
            self.counters.add("lines_bad_parse", bad)
        return readings

    def _guarded(self, call, line: bytes) -> None:
        try:
            call(line.decode("utf-8", "replace"))
        except Exception as err:  # noqa: BLE001 - a bad first line is only a bad line
            self._unexpected_error(err)

    def _unexpected_error(self, err: Exception) -> None:
        """The parsers raise only ValueError (tests fuzz them); anything else is a bug, said
        once per kind of error, and the line counts as a bad parse."""
        kind = type(err).__name__
        if kind not in self._unexpected:
            self._unexpected.add(kind)
            self.log.warning("%s failed on a line (%s: %.200s); counted in lines_bad_parse, "
                             "reading on", type(self.parser).__name__, kind, err)
