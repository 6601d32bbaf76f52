"""The background reader: keeps the port open (reopening with backoff), feeds the protocol,
stamps each reading with the time its last byte arrived, hands readings to a sink."""

from __future__ import annotations

import time
from typing import Callable, List, Optional

from agent.inputs.serial.counters import Counters
from agent.inputs.serial.port import Port, PortError
from agent.inputs.serial.protocol import Protocol, Reading
from agent.lineprotocol.metric import Metric
from agent.system.backoff import Backoff
from agent.system.worker import Supervisor, Worker

# A read returns within the port's read timeout (0.5 s) even when the device is silent: a read
# (or a parse) busy for this long is a hung driver, reported as stuck to the watchdog.
STALL_AFTER = 30.0


class Reader:
    """One supervised worker per port. A read error closes the port and logs one warning;
    reopening is retried with backoff (reset once data flows) and logged at debug level; when
    data flows again, one info line says so. Anything unexpected (a bug, not the port) is the
    worker's: logged with context, counted, and the reader restarts with its own backoff."""

    def __init__(self, port: Port, protocol: Protocol, sink: Callable[[List[Metric]], None],
                 counters: Counters, log, clock: Callable[[], int] = time.time_ns,
                 backoff: Optional[Backoff] = None,
                 supervisor: Optional[Supervisor] = None) -> None:
        self.port = port
        self.protocol = protocol
        self.sink = sink
        self.counters = counters
        self.log = log
        self.clock = clock
        self.backoff = backoff or Backoff(first=1.0, cap=30.0)
        self.byte_ns = port.settings.byte_ns
        self.worker = Worker(f"serial {port.settings.url}", self._run, logger=log,
                             stall_after=STALL_AFTER, supervisor=supervisor)
        self._failing = False  # an outage has been logged; cleared when data flows again
        self._was_open = False
        self._last_time = 0

    def start(self) -> None:
        """Try to open right away (so a first gather can already ask), then read in a worker
        (started even when that first open fails unexpectedly: the worker retries it)."""
        try:
            self._open()
        finally:
            self.worker.start()

    def stop(self, timeout: float = 0.9) -> None:
        self.worker.stopping.set()
        self.port.cancel_read()
        if self.worker.stop(timeout):
            self.port.close()

    def write(self, data: bytes) -> bool:
        """Send bytes if the port is open; False if it is not (or the write failed)."""
        try:
            self.port.write(data)
        except PortError as err:
            self.log.debug("write to %s failed: %s", self.port.settings.url, err)
            return False
        return True

    def _run(self, worker: Worker) -> None:
        try:
            while not worker.stopping.is_set():
                # Absent at start, or lost: wait, then try again.
                if not self.port.is_open and (worker.sleep(self.backoff.next_delay())
                                              or not self._open()):
                    continue
                try:
                    data = self.port.read()  # returns within the read timeout
                except PortError as err:
                    self._lost(err)
                    continue
                worker.beat()
                if data:
                    self._received(data, self.clock())
        finally:
            self.port.close()

    def _open(self) -> bool:
        url = self.port.settings.url
        try:
            self.port.open()
            greeting = self.protocol.reset()
            if greeting:
                self.port.write(greeting)
        except PortError as err:
            self.port.close()
            self.counters.add("open_errors")
            self._trouble("Cannot open %s: %s; retrying in the background", url, err)
            return False
        self.counters.add("opens")
        if self._was_open:
            self.counters.add("reconnects")
        self._was_open = True
        self.log.debug("opened %s", url)
        return True

    def _lost(self, err: PortError) -> None:
        self.port.close()
        self.counters.add("read_errors")
        self._trouble("Lost %s: %s; reopening with backoff", self.port.settings.url, err)

    def _trouble(self, message: str, *args: object) -> None:
        """One warning per outage; the retries that follow are logged at debug level."""
        if self._failing:
            self.log.debug(message, *args)
        else:
            self._failing = True
            self.log.warning(message, *args)

    def _received(self, data: bytes, now: int) -> None:
        self.counters.add("bytes_read", len(data))
        if self._failing:
            self._failing = False
            self.log.info("Reading %s again", self.port.settings.url)
        self.backoff.reset()
        readings = self.protocol.feed(data)
        if readings:
            self._last_time = stamp(readings, now, self.byte_ns, self._last_time)
            self.sink([metric for _, metric in readings])


def stamp(readings: List[Reading], now: int, byte_ns: int, previous: int) -> int:
    """Give each reading without a time the moment its last byte arrived: `after` characters
    before the read that ended at `now`. Times never repeat or go back (readings of one chunk
    must not overwrite each other in InfluxDB). Returns the last time given."""
    for after, metric in readings:
        if metric.time is None:
            previous = metric.time = max(now - after * byte_ns, previous + 1)
    return previous
