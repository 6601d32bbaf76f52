"""Stderr logging in three dialects: Telegraf's execd prefixes, journald priorities, human.

- execd: every line starts with "E! ", "W! ", "I! " or "D! " so Telegraf's execd keeps the level
  (even when a Telegraf under systemd passes JOURNAL_STREAM down to us);
- journal: "<3>"..."<7>" priorities, used when JOURNAL_STREAM names our stderr;
- human: "2026-11-23T08:00:00Z E! [inputs.mem] message", the line Telegraf itself writes.
One record is always one line, shorter than 64 KiB.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Optional, TextIO

MAX_LINE = 60 * 1024
_LETTERS = {logging.DEBUG: "D", logging.INFO: "I", logging.WARNING: "W", logging.ERROR: "E"}
_PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}


def _letter(level: int) -> str:
    if level >= logging.ERROR:
        return "E"
    return _LETTERS.get(level, "D" if level < logging.INFO else "W")


def _context(record: logging.LogRecord) -> str:
    """The plugin a record is about: logger "agent.inputs.mem" -> "[inputs.mem] "."""
    plugin = getattr(record, "plugin", None)
    if plugin is None and record.name.count(".") >= 2:
        plugin = record.name.split(".", 1)[1]
    return f"[{plugin}] " if plugin else ""


def _one_line(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\n", " | ").replace("\r", " ")
    if len(text) > MAX_LINE:
        text = text[:MAX_LINE] + "...(truncated)"
    return text


class _Formatter(logging.Formatter):
    def __init__(self, dialect: str) -> None:
        super().__init__()
        self.dialect = dialect

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.levelno <= logging.DEBUG:
            message += " " + self.formatException(record.exc_info)
        message = _one_line(_context(record) + message)
        if self.dialect == "journal":
            return f"<{_PRIORITIES.get(record.levelno, 6)}>{message}"
        prefix = f"{_letter(record.levelno)}! "
        if self.dialect == "execd":
            return prefix + message
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        return f"{stamp} {prefix}{message}"


def choose_dialect(execd: bool, stream: TextIO = sys.stderr) -> str:
    if execd:
        return "execd"
    return "journal" if _stderr_is_journal(stream) else "human"


def _stderr_is_journal(stream: TextIO) -> bool:
    """systemd's documented check: JOURNAL_STREAM=<dev>:<inode> of our stderr."""
    value = os.environ.get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in value.split(":"))
        stat = os.fstat(stream.fileno())
    except (ValueError, OSError):
        return False
    return stat.st_dev == device and stat.st_ino == inode


def setup(dialect: str, debug: bool = False, quiet: bool = False,
          stream: Optional[TextIO] = None) -> logging.Logger:
    """Configure the "agent" logger; other libraries' loggers stay quiet unless they warn."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_Formatter(dialect))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logger = logging.getLogger("agent")
    logger.setLevel(logging.DEBUG if debug else logging.ERROR if quiet else logging.INFO)
    return logger


def set_level(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.ERROR if quiet else logging.INFO
    logging.getLogger("agent").setLevel(level)
