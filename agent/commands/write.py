"""`agent write [FILE|-]`: line protocol in, validated, spooled and delivered to the outputs as
it is read (from a pipe, lines are spooled and sent while the producer still writes).

Exit codes (what they promise):
  0   every line was valid and every output acknowledged all of them;
  65  some lines were invalid (each reported with its line number on stderr: bad syntax, not
      UTF-8, too long) or refused by a server (in dead-letter.lp); all the valid, accepted
      lines were delivered;
  66  the input cannot be read (no such file, a directory, no permission): nothing was sent;
  75  not everything was delivered. Either not within [agent] shutdown_timeout: with the disk
      buffer the rest is kept and goes out with the next `agent run` or `agent write` on the
      same config (with the memory buffer it is lost, and the count said). Or reading stopped
      early, and the error names the first line not taken (every line before it is delivered
      or spooled): a SIGTERM/SIGINT, a spool that stayed full for shutdown_timeout (the server
      is down: old lines are never dropped to make room), a full disk; or the buffer directory
      is held by another process (nothing read);
  78  the config is wrong.

Common lines (see agent/lineprotocol/linecheck.py) are validated with one regular expression
and spooled byte for byte; the others are parsed strictly and re-encoded by each output's
serializer.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, List, Optional, Tuple

from agent.commands.write_chunk import Chunk
from agent.commands.write_input import InputError, LineReader, SignalStop, open_source
from agent.config.model import Config
from agent.delivery.owners import DirectoryBusy
from agent.delivery.sqlite_file import StorageFull
from agent.engine.running import RunningOutput
from agent.lineprotocol.linecheck import timestamped_block
from agent.lineprotocol.metric import Metric
from agent.plugin.base import BufferedOutput, NotStored

log = logging.getLogger("agent")
EX_DATAERR = 65
EX_NOINPUT = 66
EX_TEMPFAIL = 75
CHUNK = 5000
CARRY_LIMIT = 4 << 20  # an open string field longer than this is an error, not a wait
ROOM_STEP = 1.0  # waiting for room is checked for SIGTERM this often


def run_write(config: Config, source: str) -> int:
    try:
        fd = open_source(source)
    except InputError as err:
        log.error("%s", err)
        return EX_NOINPUT
    outputs = [RunningOutput(p, config) for p in config.outputs]
    try:
        _connect(outputs)
    except DirectoryBusy as err:
        log.error("%s: nothing was read. A daemon on this directory delivers what is spooled "
                  "itself; to send lines while it runs, give `agent write` a config with "
                  "another buffer_directory", err)
        return EX_TEMPFAIL
    wait = config.agent["shutdown_timeout"]
    try:
        with SignalStop() as stop:
            feed = _Feed(outputs, wait, stop)
            complete = feed.run(LineReader(fd, stop))
            delivered, refused = _flush(outputs, wait)
    finally:
        for output in outputs:
            output.close()
        if fd:
            os.close(fd)
    if not (complete and delivered):
        return EX_TEMPFAIL
    return EX_DATAERR if feed.invalid or refused else 0


def _connect(outputs: List[RunningOutput]) -> None:
    for index, output in enumerate(outputs):
        try:
            output.connect()
        except BaseException:
            for connected in outputs[:index]:
                connected.close()
            raise


def _takes_raw(output: RunningOutput) -> bool:
    plugin = output.plugin
    return isinstance(plugin, BufferedOutput) and plugin.takes_raw_lines() and not \
        output.filter.active


class _Feed:
    """Takes the input block by block, in chunks of about one batch: a chunk of timestamped
    simple lines is checked with one regular expression and spooled as it is; any other chunk
    line by line. `stopped_at`: the first line not taken, when it stopped early."""

    def __init__(self, outputs: List[RunningOutput], wait: float, stop: SignalStop) -> None:
        self.outputs = outputs
        self.wait = wait
        self.stop = stop
        self.raw_ok = bool(outputs) and all(_takes_raw(o) for o in outputs)
        self.stamp = f" {time.time_ns()}\n"
        self.invalid = 0
        self.stopped_at: Optional[int] = None

    def run(self, reader: LineReader) -> bool:
        """Whether every line was taken."""
        carry, carry_line = "", 1
        for block in reader.blocks():
            for lineno, problem in block.bad_lines:
                self.invalid += 1
                log.error("line %d: %s", lineno, problem)
            start = carry_line if carry else block.first_line
            carry, carry_line = self.take(carry + block.text, start, len(carry) > CARRY_LIMIT)
            if self.stopped_at is not None:
                return False
        if self.stop.signal is not None:
            self._stopped(carry_line if carry else reader.next_line, f"{self.stop.signal} "
                          "received")
            return False
        if carry:
            self.take(carry, carry_line, final=True)
        if self.invalid:
            log.error("%d invalid line(s) skipped", self.invalid)
        return self.stopped_at is None

    def take(self, text: str, lineno: int, final: bool) -> Tuple[str, int]:
        """Spool the statements of text; (what waits for more input, its first line)."""
        chunk_chars = _chunk_chars(text, self.outputs)
        pos = 0
        while pos < len(text):
            if self.stop.signal is not None:
                self._stopped(lineno, f"{self.stop.signal} received")
                return "", lineno
            end = text.find("\n", pos + chunk_chars - 1) + 1 or len(text)
            count = text.count("\n", pos, end)
            if not self._make_room(count, lineno):
                return "", lineno
            if self.raw_ok and timestamped_block(text, pos, end):
                piece = text[pos:end]
                if not self._spool(_put_text, (piece, count), lineno):
                    return "", lineno
                pos, lineno = end, lineno + count
                continue
            chunk = Chunk(lineno)
            after = chunk.read(text, pos, end, self.raw_ok, self.stamp, final)
            if not (self._spool(_put_lines, (chunk.lines,), lineno)
                    and self._spool(_put_metrics, (chunk.metrics,), lineno)):
                return "", lineno
            self.invalid += chunk.invalid
            if chunk.open_at is not None:  # a string field still open: wait for more input
                return text[chunk.open_at:], chunk.lineno
            pos, lineno = after, chunk.lineno
        return "", lineno

    def _make_room(self, count: int, lineno: int) -> bool:
        """Wait until count more lines fit in every spool: `agent write` never drops old lines."""
        for output in self.outputs:
            plugin = output.plugin
            if not isinstance(plugin, BufferedOutput):
                continue
            deadline = time.monotonic() + self.wait
            while not plugin.wait_for_room(count, min(ROOM_STEP, self.wait)):
                if self.stop.signal is not None:
                    return self._stopped(lineno, f"{self.stop.signal} received")
                if time.monotonic() >= deadline:
                    return self._stopped(lineno, f"{output.label} is not taking data and its "
                                         f"buffer is full (metric_buffer_limit = "
                                         f"{plugin.buffer_limit})")
        return True

    def _spool(self, put: Callable[..., None], args: tuple, lineno: int) -> bool:
        """put() into every output; on a full disk deliver what is spooled and try once more."""
        if not args[0]:
            return True
        for output in self.outputs:
            try:
                put(output, *args)
            except (StorageFull, NotStored):
                if isinstance(output.plugin, BufferedOutput):
                    output.plugin.flush(self.wait)
                try:
                    put(output, *args)
                except (StorageFull, NotStored) as err:
                    return self._stopped(lineno, f"{output.label} cannot spool: {err}")
        return True

    def _stopped(self, lineno: int, why: str) -> bool:
        self.stopped_at = lineno
        log.error("%s: stopped before line %d; the lines before it are spooled or delivered",
                  why, lineno)
        return False


def _put_text(output: RunningOutput, text: str, count: int) -> None:
    output.plugin.write_text(text, count)


def _put_lines(output: RunningOutput, lines: List[str]) -> None:
    output.plugin.write_lines(lines)


def _put_metrics(output: RunningOutput, metrics: List[Metric]) -> None:
    output.store(metrics)


def _chunk_chars(text: str, outputs: List[RunningOutput]) -> int:
    """Characters per chunk: about one batch of the smallest batch (and spool) size."""
    sizes = [min(o.plugin.batch_size, o.plugin.buffer_limit) for o in outputs
             if isinstance(o.plugin, BufferedOutput)] or [CHUNK]
    average_line = len(text) / max(1, text.count("\n"))
    return max(1, int(min(sizes) * average_line * 0.95))


def _flush(outputs: List[RunningOutput], timeout: float) -> Tuple[bool, bool]:
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
