"""The serial port: open it exclusively with a read timeout, read what is waiting, write, close.

pyserial is imported only when a port is opened, never at module import. Reads never use
readline() (one system call per byte): read(1) waits up to the read timeout for the first byte,
then in_waiting says how much more can be taken in one read(n). On a busy port, bytes are
left to gather a few milliseconds first, so one wake-up takes many lines.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

READ_TIMEOUT = 0.5  # seconds one read may block: idle wake-ups; stop() cancels the read
MAX_READ = 4096  # bytes taken from the driver per read
# A port whose previous chunk came less than BUSY seconds before this one is streaming: let
# SETTLE seconds of bytes gather before taking them (one wake-up per ~10 lines at 115200 baud
# instead of one per line or per FIFO burst). Sparse readings are taken at once, keeping their
# exact arrival times.
BUSY = 0.05
SETTLE = 0.02


class PortError(OSError):
    """The port could not be opened, read or written."""


@dataclass(frozen=True)
class PortSettings:
    url: str
    baud_rate: int = 9600
    data_bits: int = 8
    parity: str = "N"
    stop_bits: float = 1
    read_timeout: float = READ_TIMEOUT
    write_timeout: float = 1.0

    @property
    def byte_ns(self) -> int:
        """How long one character takes on the wire, in ns (start, data, parity, stop bits)."""
        bits = 1 + self.data_bits + (self.parity != "N") + self.stop_bits
        return round(bits * 1e9 / self.baud_rate)


def open_pyserial(settings: PortSettings) -> Any:
    """A pyserial port (device path or pyserial URL), opened exclusively."""
    import serial

    port = serial.serial_for_url(
        settings.url, do_not_open=True, baudrate=settings.baud_rate,
        bytesize=settings.data_bits, parity=settings.parity,
        stopbits=int(settings.stop_bits) if settings.stop_bits != 1.5 else 1.5,
        timeout=settings.read_timeout, write_timeout=settings.write_timeout, exclusive=True,
    )
    port.open()
    return port


Opener = Callable[[PortSettings], Any]


class Port:
    """One serial device; open() may be called again after close() (reconnects)."""

    def __init__(self, settings: PortSettings, opener: Optional[Opener] = None) -> None:
        self.settings = settings
        self._opener = opener or open_pyserial
        self._serial: Any = None
        self._lock = threading.Lock()  # open/close/write may come from different threads
        self._last_chunk = -BUSY  # time.monotonic() when the last read returned data

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        try:
            handle = self._opener(self.settings)
        except (OSError, ValueError) as err:  # SerialException is an OSError
            raise PortError(_reason(err)) from None
        with self._lock:
            self._serial = handle

    def read(self) -> bytes:
        """What the device sent: b"" after the read timeout with nothing received."""
        handle = self._serial
        if handle is None:
            raise PortError("port is not open")
        try:
            first = handle.read(1)
            if not first:
                return b""
            if time.monotonic() - self._last_chunk < BUSY:
                time.sleep(SETTLE)
            waiting = handle.in_waiting
            data = first + handle.read(min(waiting, MAX_READ)) if waiting else first
        except (OSError, ValueError, TypeError) as err:
            # pyserial raises TypeError/ValueError when the port is closed under it.
            raise PortError(_reason(err)) from None
        self._last_chunk = time.monotonic()
        return data

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._serial is None:
                raise PortError("port is not open")
            try:
                self._serial.write(data)
            except (OSError, ValueError, TypeError) as err:
                raise PortError(_reason(err)) from None

    def cancel_read(self) -> None:
        """Make a blocked read return now (pyserial's posix ports; others time out)."""
        cancel = getattr(self._serial, "cancel_read", None)
        if cancel is not None:
            try:
                cancel()
            except (OSError, ValueError, TypeError):
                pass

    def close(self) -> None:
        with self._lock:
            handle, self._serial = self._serial, None
        if handle is not None:
            try:
                handle.close()
            except (OSError, ValueError, TypeError):
                pass


def _reason(err: BaseException) -> str:
    return str(err) or type(err).__name__
