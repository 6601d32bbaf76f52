"""The input of `agent write`: bytes from a file or a pipe, in blocks of whole lines, as they come.

A file and the same bytes on stdin are read the same way: bytes, split only at `\\n` (a `\\r`
inside a string field stays; a CR-only file is one long line either way). Each block is decoded
strictly: a line that is not UTF-8 is replaced by an empty line and reported with its number,
never written with U+FFFD in it. A pipe is read as it streams: a block is handed over as soon
as nothing more is waiting, so what a producer writes is spooled and delivered while it runs.
A SIGTERM or SIGINT ends the reading (`stopped_by`; the caller checks it between chunks);
memory stays bounded by the
block size and the longest line accepted.
"""

from __future__ import annotations

import os
import select
import signal
import stat
from typing import Iterator, List, NamedTuple, Optional, Tuple

BLOCK_BYTES = 1 << 20
MAX_LINE_BYTES = 1 << 20  # longer lines are reported and skipped (InfluxDB takes 64 KiB strings)


class InputError(Exception):
    """The input cannot be read at all (missing, a directory, no permission): one line."""


class Block(NamedTuple):
    text: str  # whole lines, each ending in "\n"
    first_line: int  # the number of its first line
    bad_lines: List[Tuple[int, str]]  # (line number, problem): left out of text (as "")


def open_source(source: str) -> int:
    """A file descriptor for FILE, or stdin for "-"; InputError in words otherwise."""
    if source == "-":
        return 0
    try:
        fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise InputError(f"cannot read {source}: {(err.strerror or str(err)).lower()}") from None
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(f"cannot read {source}: it is a directory")
    return fd


class LineReader:
    """Blocks of whole lines from fd until EOF, or until SIGTERM/SIGINT (then `stopped_by`
    names the signal and `next_line` is the first line not handed over)."""

    def __init__(self, fd: int, stop: SignalStop, block_bytes: int = BLOCK_BYTES,
                 max_line: int = MAX_LINE_BYTES) -> None:
        self.fd = fd
        self.stop = stop
        self.block_bytes = block_bytes
        self.max_line = max_line
        self.next_line = 1
        self._pending = b""
        self._skipping = False  # inside a line longer than max_line

    @property
    def stopped_by(self) -> Optional[str]:
        """SIGTERM or SIGINT when one came while reading (the lines after are not taken)."""
        return self.stop.signal

    def blocks(self) -> Iterator[Block]:
        stop = self.stop
        while stop.signal is None:
            data = self._read_some(stop)
            if stop.signal is not None:
                return
            if data is None:  # EOF
                if self._pending:
                    yield self._block(self._pending + b"\n")  # a last line without \n
                    self._pending = b""
                return
            block = self._take_lines(data)
            if block is not None:
                yield block

    def _read_some(self, stop: SignalStop) -> Optional[bytes]:
        """What is there to read now, up to a block (waits for at least some); None at EOF."""
        chunks: List[bytes] = []
        size = 0
        while size < self.block_bytes:
            if not stop.wait_readable(self.fd, block=not chunks):
                break
            if stop.signal is not None:
                return b""
            chunk = os.read(self.fd, self.block_bytes - size)
            if not chunk:
                if chunks:
                    break
                return None
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)

    def _take_lines(self, data: bytes) -> Optional[Block]:
        """Whole lines of pending + data as a block; the rest waits for more."""
        data = self._pending + data
        cut = data.rfind(b"\n") + 1
        if self._skipping:
            skip = data.find(b"\n")
            if skip < 0:
                self._pending = b""
                return None
            self._skipping = False
            data, cut = data[skip + 1:], cut - skip - 1
        if cut == 0 and len(data) > self.max_line:
            self._skipping, self._pending = True, b""
            bad = [(self.next_line, f"longer than {self.max_line} bytes; skipped")]
            self.next_line += 1
            return Block("\n", self.next_line - 1, bad)
        self._pending = data[cut:]
        return self._block(data[:cut]) if cut else None

    def _block(self, data: bytes) -> Block:
        first = self.next_line
        text, bad = decode_lines(data, first)
        self.next_line += data.count(b"\n")
        return Block(text, first, bad)


def decode_lines(data: bytes, first_line: int) -> Tuple[str, List[Tuple[int, str]]]:
    """Whole lines as text; a line that is not UTF-8 becomes empty and is reported."""
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    lines, bad = data.split(b"\n")[:-1], []
    for index, raw in enumerate(lines):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            bad.append((first_line + index, f"invalid UTF-8 (byte {err.start + 1} of the line)"))
            lines[index] = b""
    return b"\n".join(lines).decode("utf-8") + "\n", bad


class SignalStop:
    """SIGTERM/SIGINT while `agent write` runs: noted (not fatal: what was taken is flushed and
    reported), and a blocked wait for input wakes up at once (the wakeup fd); the previous
    handlers come back afterwards."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signal: Optional[str] = None
        self._old: list = []
        self._wakeup = (-1, -1)
        self._old_wakeup = -1

    def __enter__(self) -> SignalStop:
        self._wakeup = os.pipe()
        for fd in self._wakeup:
            os.set_blocking(fd, False)
        self._old_wakeup = signal.set_wakeup_fd(self._wakeup[1])
        self._old = [(s, signal.signal(s, self._handle)) for s in self.SIGNALS]
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        self.signal = signal.Signals(signum).name

    def wait_readable(self, fd: int, block: bool) -> bool:
        """Whether fd has data (or EOF); with block, wait for it or for a signal."""
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        poller.register(self._wakeup[0], select.POLLIN)
        events = poller.poll(None if block else 0)
        return any(ready == fd for ready, _ in events) or self.signal is not None

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._old:
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._old_wakeup)
        for fd in self._wakeup:
            os.close(fd)
