"""Serial sensors on the far side of a pty: MH-Z19, PMS5003, SDS011 and an Arduino printing lines.

Each device owns the master side of an os.openpty() pair and runs in its own thread; the agent
opens the slave path like a real /dev/ttyUSB0. unplug() closes the master: the agent's next read
fails like a pulled USB cable. A Link is a symlink like /dev/serial/by-id/... that can be pointed
at a new device (a replug). Frames are built here from the datasheets, independently of agent/.

Also a command line, for docs and benchmarks (runs until SIGTERM or --count lines/frames):
    python -m tests.serial_emulator pms5003 --link /tmp/ttyPMS --period 1
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import select
import signal
import struct
import threading
import time
import tty
from typing import Callable, Iterable, Iterator, List, Optional, Sequence

MHZ19_READ = bytes.fromhex("ff 01 86 00 00 00 00 00 79")
SDS011_QUERY_PREFIX = bytes.fromhex("aa b4 04")
PMS_FIELDS = ("pm1_0_cf1", "pm2_5_cf1", "pm10_cf1", "pm1_0", "pm2_5", "pm10",
              "gt0_3um", "gt0_5um", "gt1_0um", "gt2_5um", "gt5_0um", "gt10um")


def mhz19_frame(co2: int) -> bytes:
    body = bytes((0xFF, 0x86, co2 >> 8, co2 & 0xFF, 0x47, 0, 0, 0))
    return body + bytes((-sum(body[1:]) & 0xFF,))


def pms5003_frame(values: Sequence[int]) -> bytes:
    body = b"BM" + struct.pack(">H13H", 28, *values, 0x9700)
    return body + struct.pack(">H", sum(body) & 0xFFFF)


def pms5003_reply(command: int, data: int) -> bytes:
    body = b"BM" + bytes((0, 4, command, data))
    return body + struct.pack(">H", sum(body))


def sds011_frame(pm2_5: float, pm10: float, device_id: bytes = b"\x58\xd9") -> bytes:
    body = struct.pack("<HH", round(pm2_5 * 10), round(pm10 * 10)) + device_id
    return b"\xaa\xc0" + body + bytes((sum(body) & 0xFF, 0xAB))


class Device(threading.Thread):
    """A pty pair: the emulator keeps the master and a raw-mode slave fd (so the termios and
    the pty live while the agent has it closed); `path` is what the agent opens."""

    def __init__(self, baud: Optional[int] = None) -> None:
        super().__init__(daemon=True, name=type(self).__name__)
        self.master, self._keeper = os.openpty()
        tty.setraw(self._keeper)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._keeper)
        self.baud = baud
        self.received = bytearray()
        self.dropped = 0  # bytes not written because nobody read them (like an overrun)
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._due = 0.0  # when the last byte written would have left a UART at `baud`

    def write(self, data: bytes) -> None:
        """Send bytes to the agent; at `baud`, paced like a UART (10 bits per byte)."""
        with self._lock:
            if self.master < 0:
                return
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(self.master, view):]
                except BlockingIOError:
                    self.dropped += len(view)
                    break
                except OSError:
                    return
        if self.baud:
            now = time.monotonic()
            self._due = max(self._due, now - 0.05) + len(data) * 10 / self.baud
            time.sleep(max(0.0, self._due - now))

    def run(self) -> None:
        next_tick = time.monotonic()
        while not self._halt.is_set():
            timeout = max(0.0, next_tick - time.monotonic())
            data = self._read(min(timeout, 0.05))
            if data:
                self.received += data
                self.on_bytes(data)
            if time.monotonic() >= next_tick:
                period = self.tick()
                next_tick = time.monotonic() + 0.05 if period is None else next_tick + period
                next_tick = max(next_tick, time.monotonic() - 1)

    def _read(self, timeout: float) -> bytes:
        try:
            ready, _, _ = select.select([self.master], [], [], timeout)
            return os.read(self.master, 4096) if ready else b""
        except (OSError, ValueError):
            self._halt.wait(timeout)
            return b""

    def on_bytes(self, data: bytes) -> None:
        """Bytes the agent wrote (commands)."""

    def tick(self) -> Optional[float]:
        """Periodic work (streaming); returns seconds until the next tick, None for idle."""
        return None

    def unplug(self) -> None:
        """Pull the cable: stop, close the master (the agent's reads fail) and the slave."""
        self._halt.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(2)
        with self._lock:
            for fd in (self.master, self._keeper):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.master = self._keeper = -1

    def __enter__(self) -> Device:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.unplug()


class MHZ19(Device):
    """Answers each read command with the next CO2 value (passive, as the real sensor)."""

    def __init__(self, values: Iterable[int] = (608,), **kwargs) -> None:
        super().__init__(**kwargs)
        self.values = _cycle(values)
        self.commands = 0
        self._pending = bytearray()

    def on_bytes(self, data: bytes) -> None:
        self._pending += data
        while len(self._pending) >= 9:
            start = self._pending.find(b"\xff\x01")
            if start < 0:
                self._pending.clear()
                return
            del self._pending[:start]
            if len(self._pending) < 9:
                return
            command = bytes(self._pending[:9])
            del self._pending[:9]
            if command == MHZ19_READ:
                self.commands += 1
                self.write(mhz19_frame(next(self.values)))


class SDS011(Device):
    """Answers queries (aa b4 04 ...) with the next (pm2_5, pm10); streams if period is set."""

    def __init__(self, values: Iterable[tuple] = ((0.6, 0.6),), period: Optional[float] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.values = _cycle(values)
        self.period = period
        self.queries = 0
        self._pending = bytearray()

    def on_bytes(self, data: bytes) -> None:
        self._pending += data
        while True:
            start = self._pending.find(SDS011_QUERY_PREFIX)
            if start < 0 or len(self._pending) < start + 19:
                return
            command = bytes(self._pending[start:start + 19])
            del self._pending[:start + 19]
            if command[18] == 0xAB and sum(command[2:17]) & 0xFF == command[17]:
                self.queries += 1
                self.write(sds011_frame(*next(self.values)))

    def tick(self) -> Optional[float]:
        if self.period:
            self.write(sds011_frame(*next(self.values)))
        return self.period


class PMS5003(Device):
    """Streams a frame every `period` seconds in active mode; answers read requests in passive
    mode; obeys the mode command (42 4d e1 00 0X) with the sensor's reply frame."""

    def __init__(self, values: Iterable[Sequence[int]] = ((0,) * 12,), period: float = 1.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.values = _cycle(values)
        self.period = period
        self.active = True
        self.reads = 0
        self.streamed = 0  # frames sent by itself in active mode
        self._pending = bytearray()

    def on_bytes(self, data: bytes) -> None:
        self._pending += data
        while True:
            start = self._pending.find(b"BM")
            if start < 0 or len(self._pending) < start + 7:
                return
            command = bytes(self._pending[start:start + 7])
            del self._pending[:start + 7]
            if struct.unpack(">H", command[5:])[0] != sum(command[:5]):
                continue
            if command[2] == 0xE1:
                self.active = command[4] == 1
                self.write(pms5003_reply(0xE1, command[4]))
            elif command[2] == 0xE2 and not self.active:
                self.reads += 1
                self.write(pms5003_frame(next(self.values)))

    def tick(self) -> Optional[float]:
        if self.active:
            self.write(pms5003_frame(next(self.values)))
            self.streamed += 1
        return self.period


class Arduino(Device):
    """Prints one line every `period` seconds (Serial.println: \\r\\n), or as fast as `baud`
    allows when period is 0. `chunk` splits writes in random pieces, like a UART's FIFO."""

    def __init__(self, lines: Iterable[str], period: float = 0.05, chunk: int = 0,
                 seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lines = iter(lines)
        self.period = period
        self.chunk = chunk
        self.sent = 0
        self._random = random.Random(seed)
        self.done = threading.Event()

    def tick(self) -> Optional[float]:
        line = next(self.lines, None)
        if line is None:
            self.done.set()
            return None
        data = line.encode() + b"\r\n"
        self.sent += 1
        if not self.chunk:
            self.write(data)
        while self.chunk and data:
            size = self._random.randint(1, self.chunk)
            self.write(data[:size])
            data = data[size:]
        return self.period


class Link:
    """A symlink standing for a stable device name (/dev/serial/by-id/usb-...)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def point_to(self, target: str) -> None:
        temporary = f"{self.path}.new"
        if os.path.lexists(temporary):
            os.unlink(temporary)
        os.symlink(target, temporary)
        os.replace(temporary, self.path)


def _cycle(values: Iterable) -> Iterator:
    items: List = list(values)
    while True:
        yield from items


def wait_for(condition: Callable[[], object], timeout: float = 10.0, step: float = 0.01):
    """Poll until condition() is true; its value, or None after timeout (a functional bound)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return None


_TEXT = {
    "kv": lambda i: f"co2={600 + i % 50} t={21 + i % 10 / 10:.2f} rh={40 + i % 7}",
    "plotter": lambda i: f"co2:{600 + i % 50}\tt:{21 + i % 10 / 10:.2f}\trh:{40 + i % 7:.2f}",
    "influx": lambda i: f"climate,room=lab co2={600 + i % 50}i,t={21 + i % 10 / 10:.2f}",
    "json": lambda i: f'{{"co2":{600 + i % 50},"env":{{"t":{21 + i % 10 / 10:.2f},"rh":40}}}}',
    "csv": lambda i: "co2,t,rh" if i % 20 == 0 else f"{600 + i % 50},{21 + i % 10 / 10:.2f},40",
    "sentence": lambda i: f"CO2 {600 + i % 50} ppm, {21 + i % 10 / 10:.2f} C",
}


def _device(args: argparse.Namespace) -> Device:
    baud = args.baud or None
    if args.kind == "mhz19":
        return MHZ19(values=(608, 636, 635), baud=baud)
    if args.kind == "sds011":
        return SDS011(values=((0.6, 0.6), (0.9, 0.9), (432.5, 531.1)), baud=baud)
    if args.kind == "pms5003":
        frames = ((0, 8, 8, 0, 8, 8, 210, 70, 45, 30, 0, 0), (0, 7, 7, 0, 7, 7, 189, 63, 42, 27,
                                                              0, 0))
        return PMS5003(values=frames, period=args.period, baud=baud)
    text = _TEXT[args.kind]
    indexes = range(args.count) if args.count else itertools.count()
    return Arduino((text(i) for i in indexes), period=args.period, baud=baud)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=("mhz19", "pms5003", "sds011", *_TEXT))
    parser.add_argument("--link", required=True, help="symlink to create for the device")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between readings")
    parser.add_argument("--baud", type=int, default=0, help="pace writes like this baud rate")
    parser.add_argument("--count", type=int, default=0, help="lines to print, then exit")
    args = parser.parse_args(argv)
    device = _device(args)
    Link(args.link).point_to(device.path)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    device.start()
    try:
        while not stop.is_set():
            if isinstance(device, Arduino) and device.done.is_set():
                break
            stop.wait(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        device.unplug()
        os.unlink(args.link)


if __name__ == "__main__":
    main()
