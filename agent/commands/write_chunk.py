"""One chunk of `agent write`'s input read line by line: the lines that pass the one-regex check
as they are, the others parsed strictly into metrics, the invalid ones reported by number."""

from __future__ import annotations

import logging
from typing import List, Optional

from agent.lineprotocol.linecheck import simple_line
from agent.lineprotocol.metric import Metric
from agent.lineprotocol.parser import ParseError, parse_at

log = logging.getLogger("agent")


class Chunk:
    def __init__(self, lineno: int) -> None:
        self.lineno = lineno
        self.lines: List[str] = []
        self.metrics: List[Metric] = []
        self.invalid = 0
        # Where a statement with a string field still open at the end of the text starts:
        # more input may close it (a string field may hold newlines).
        self.open_at: Optional[int] = None

    def read(self, text: str, pos: int, end: int, raw_ok: bool, stamp: str,
             final: bool = True) -> int:
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
                if result.incomplete and not final:
                    self.open_at = pos
                    return len(text)
                self.invalid += 1
                log.error("line %d: %s: %s", self.lineno, result.reason, result.text[:200])
            else:
                if result.time is None:
                    result.time = now
                self.metrics.append(result)
            self.lineno += text.count("\n", pos, after)
            pos = after
        return pos
