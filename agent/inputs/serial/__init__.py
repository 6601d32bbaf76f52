"""inputs.serial: sensors on a UART or USB serial port, read in the background.

Protocols: text `lines` (data_format influx, kv, csv, json, regex) and the binary frames of the
MH-Z19 (CO2), PMS5003 and SDS011 (particulates). A read error closes the port, logs one warning
and reopening is retried with backoff; a device absent at start is not fatal. Readings carry the
time their last byte arrived; each gather emits those since the previous one (reduce = "all"),
or the last / mean, min, max and count per field. stats() gives counters for a flaky cable.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from agent.inputs.serial.counters import STATS, Counters
from agent.inputs.serial.lines import LinesProtocol
from agent.inputs.serial.mhz19 import MHZ19
from agent.inputs.serial.pms5003 import PMS5003
from agent.inputs.serial.port import Opener, Port, PortSettings
from agent.inputs.serial.protocol import Protocol
from agent.inputs.serial.reader import Reader
from agent.inputs.serial.reduce import MODES, Reducer
from agent.inputs.serial.sds011 import SDS011
from agent.inputs.serial.textformats import FORMATS, check_regex, make_parser
from agent.lineprotocol.metric import Metric
from agent.plugin import extras
from agent.plugin.base import Accumulator, ServiceInput
from agent.plugin.options import Option
from agent.system.backoff import Backoff
from agent.system.worker import Supervisor

__all__ = ["STATS", "SerialInput"]

FRAME_PROTOCOLS = {"mhz19": MHZ19, "pms5003": PMS5003, "sds011": SDS011}
PROTOCOLS = ("lines", *FRAME_PROTOCOLS)
MODES_BY_PROTOCOL = {"lines": LinesProtocol.modes,
                     **{name: cls.modes for name, cls in FRAME_PROTOCOLS.items()}}


class SerialInput(ServiceInput):
    name = "serial"
    description = "sensors on a serial port: text lines, MH-Z19 CO2, PMS5003 and SDS011 dust"
    options = (
        Option("port", "str", "", "device path (/dev/serial0, /dev/serial/by-id/...) or pyserial "
               "URL (rfc2217://, socket://)"),
        Option("baud_rate", "int", 9600, "bits per second", minimum=1, maximum=12_000_000),
        Option("data_bits", "int", 8, "5, 6, 7 or 8"),
        Option("parity", "str", "N", "N (none), E (even), O (odd), M (mark), S (space)",
               choices=("N", "E", "O", "M", "S")),
        Option("stop_bits", "float", 1.0, "1, 1.5 or 2"),
        Option("protocol", "str", "lines", "lines, mhz19, pms5003 or sds011", choices=PROTOCOLS),
        Option("mode", "str", "", "active (the device streams) or passive (asked at each "
               "gather); empty: mhz19 and sds011 passive, the others active",
               choices=("", "active", "passive")),
        Option("timeout", "duration", 1.0, "how long a gather waits for a passive sensor's "
               "answer; also the write timeout", minimum=0.001, maximum=60.0),
        Option("reduce", "str", "all", "all (every reading), last, or mean (mean, min, max, "
               "count per field)", choices=MODES),
        Option("max_readings", "int", 10000, "readings kept between gathers (reduce = all); "
               "beyond, the oldest are dropped", minimum=1, maximum=1_000_000),
        Option("data_format", "str", "influx", "lines: influx, kv, csv, json or regex",
               choices=FORMATS),
        Option("csv_column_names", "str_list", None, "csv: column names; empty: from the "
               "device's header line"),
        Option("csv_delimiter", "str", ",", "csv: the separator between columns"),
        Option("regex", "str", "", "regex: a regular expression with named groups"),
        Option("tag_keys", "str_list", None, "kv, csv, json, regex: keys that become tags"),
        Option("max_line_length", "size", 4096, "lines: longer lines are dropped", minimum=16,
               maximum=16 * 2 ** 20),
    )
    requires = (("serial", "serial"),)  # pyserial
    sample_config = """\
# Sensors on a serial port (UART or USB): text lines, MH-Z19, PMS5003, SDS011.
[[inputs.serial]]
  ## Device path or pyserial URL; prefer /dev/serial/by-id/... for USB adapters.
  port = "/dev/serial0"
  # baud_rate = 9600
  # data_bits = 8
  # parity = "N"
  # stop_bits = 1
  ## lines, mhz19 (CO2), pms5003 or sds011 (particulates).
  # protocol = "lines"
  ## active: the device streams; passive: asked at each gather. Empty: the protocol's usual.
  # mode = ""
  ## How long a gather waits for a passive sensor's answer.
  # timeout = "1s"
  ## all: every reading since the last gather; last; or mean (mean, min, max, count).
  # reduce = "all"
  ## lines: influx (line protocol), kv (key=value / label:value), csv, json or regex.
  # data_format = "influx"
  # csv_column_names = []
  # regex = '(?P<co2>\\d+) ppm'
  # tag_keys = []
"""

    def __init__(self, opener: Optional[Opener] = None,
                 clock: Callable[[], int] = time.time_ns,
                 backoff: Tuple[float, float] = (1.0, 30.0),
                 supervisor: Optional[Supervisor] = None, **options: object) -> None:
        super().__init__(**options)
        self._opener = opener
        self._supervisor = supervisor
        self._clock = clock
        self._backoff = backoff
        self._counters = Counters()
        self._cond = threading.Condition()
        self._received = 0
        self._reader: Optional[Reader] = None
        self._protocol: Optional[Protocol] = None
        self._reducer = Reducer(self.reduce, self.max_readings,
                                lambda n: self._counters.add("readings_dropped", n))
        self._silent = False  # a passive sensor missed a reply: warned once
        self._drops_warned = False

    @staticmethod
    def check_options(options: Dict[str, object]) -> List[Tuple[str, str]]:
        problems = []
        if not options["port"]:
            problems.append(("port", "required: the device, like /dev/serial0 or "
                                     "/dev/serial/by-id/usb-..."))
        if options["data_bits"] not in (5, 6, 7, 8):
            problems.append(("data_bits", f"must be 5, 6, 7 or 8, got {options['data_bits']}"))
        if options["stop_bits"] not in (1, 1.5, 2):
            problems.append(("stop_bits", f"must be 1, 1.5 or 2, got {options['stop_bits']}"))
        modes = MODES_BY_PROTOCOL[str(options["protocol"])]
        if options["mode"] and options["mode"] not in modes:
            problems.append(("mode", f"protocol {options['protocol']} supports "
                                     f"{' or '.join(modes)}, got {options['mode']!r}"))
        if options["protocol"] == "lines" and options["data_format"] == "regex":
            reason = check_regex(str(options["regex"]))
            if reason:
                problems.append(("regex", reason))
        if not options["csv_delimiter"]:
            problems.append(("csv_delimiter", "must not be empty"))
        return problems

    def start(self, accumulator: Optional[Accumulator] = None) -> None:
        if self._opener is None:
            _require_pyserial()
        self._protocol = self._make_protocol()
        settings = PortSettings(self.port, self.baud_rate, self.data_bits, self.parity,
                                self.stop_bits, write_timeout=self.timeout)
        self._reader = Reader(Port(settings, self._opener), self._protocol, self._deliver,
                              self._counters, self.log, self._clock,
                              Backoff(first=self._backoff[0], cap=self._backoff[1]),
                              self._supervisor)
        self._reader.start()

    def gather(self) -> List[Metric]:
        if self._reader is None or self._protocol is None:
            raise RuntimeError("not started")
        if self._protocol.passive:
            self._ask(self._protocol.request)
        with self._cond:
            metrics = self._reducer.take()
        self._warn_drops()
        return metrics

    def stop(self) -> None:
        if self._reader is not None:
            self._reader.stop()

    def stats(self) -> Dict[str, int]:
        """Counters since start (names and meanings: agent.inputs.serial.STATS)."""
        return self._counters.snapshot()

    def _make_protocol(self) -> Protocol:
        if self.protocol != "lines":
            return FRAME_PROTOCOLS[self.protocol](self._counters, self.mode)
        parser = make_parser(self.data_format, LinesProtocol.name, self.tag_keys or (),
                             self.csv_column_names or (), self.csv_delimiter, self.regex)
        return LinesProtocol(self._counters, parser, self.max_line_length, self.log)

    def _deliver(self, metrics: List[Metric]) -> None:
        """Called by the reader thread with freshly stamped readings."""
        with self._cond:
            for metric in metrics:
                metric.tags.setdefault("port", self.port)
                self._reducer.add(metric)
            self._received += len(metrics)
            self._cond.notify_all()

    def _ask(self, request: bytes) -> None:
        """Send a passive sensor's read command and wait up to timeout for its answer."""
        with self._cond:
            seen = self._received
        if not self._reader.write(request):
            return  # the port is down; the reader has said so
        self._counters.add("requests_sent")
        with self._cond:
            answered = self._cond.wait_for(lambda: self._received > seen, self.timeout)
        if answered and self._silent:
            self._silent = False
            self.log.info("%s answers again", self.port)
        elif not answered:
            self._counters.add("replies_missing")
            if not self._silent:
                self._silent = True
                self.log.warning("No answer from %s within %gs (wiring TX/RX, baud rate, "
                                 "protocol?)", self.port, self.timeout)

    def _warn_drops(self) -> None:
        if not self._drops_warned and self._counters.snapshot()["readings_dropped"]:
            self._drops_warned = True
            self.log.warning("More than max_readings = %d readings between gathers; the oldest "
                             "were dropped (gather more often or set reduce)", self.max_readings)


def _require_pyserial() -> None:
    try:
        import serial  # noqa: F401 - pyserial, imported only when a serial input runs
    except ImportError:
        raise RuntimeError("pyserial is not installed: " + extras.install_hint("serial")
                           + " or apt install python3-serial") from None
