"""inputs.serial against emulated devices on real ptys: request/answer sensors, streams, text
formats, noise, unplug and replug at a stable path, a device absent at start, exclusivity."""

import logging
import random
import time

import pytest

from agent.inputs.serial import STATS, SerialInput
from agent.inputs.serial.counters import Counters
from agent.inputs.serial.port import Port, PortSettings
from agent.inputs.serial.protocol import Protocol
from agent.inputs.serial.reader import Reader
from agent.lineprotocol.metric import Metric
from agent.system.backoff import Backoff
from agent.system.worker import Supervisor
from tests.inputs.serial.test_serial_frames import build_stream, cut
from tests.serial_emulator import (
    MHZ19,
    PMS5003,
    SDS011,
    Arduino,
    Device,
    Link,
    mhz19_frame,
    pms5003_frame,
    wait_for,
)

PMS_VALUES = [(0, 8, 8, 0, 8, 8, 210, 70, 45, 30, 0, 0), (0, 7, 7, 0, 7, 7, 189, 63, 42, 27, 0, 0)]
PMS_FIELDS = ("pm1_0_cf1", "pm2_5_cf1", "pm10_cf1", "pm1_0", "pm2_5", "pm10", "gt0_3um",
              "gt0_5um", "gt1_0um", "gt2_5um", "gt5_0um", "gt10um")


def make_input(port, supervisor=None, **options):
    values = {o.name: o.default for o in SerialInput.options}
    values.update({"port": str(port), "timeout": 2.0, **options})
    return SerialInput(backoff=(0.05, 0.2), supervisor=supervisor or Supervisor(), **values)


@pytest.fixture
def started():
    """Start inputs and always stop them."""
    running = []

    def start(plugin):
        plugin.start()
        running.append(plugin)
        return plugin

    yield start
    for plugin in running:
        plugin.stop()


class Collector:
    """Gathers until a condition holds on everything gathered so far (a functional bound)."""

    def __init__(self, plugin):
        self.plugin = plugin
        self.metrics = []

    def until(self, predicate, timeout=10.0):
        def check():
            self.metrics += self.plugin.gather()
            return predicate(self.metrics)

        assert wait_for(check, timeout, step=0.02), (self.metrics[-5:], self.plugin.stats())
        return self.metrics


def warnings(caplog, text=""):
    return [r for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


# Sensors that answer requests

def test_mhz19_answers_the_read_command_sent_at_each_gather(started):
    with MHZ19(values=(608, 636, 635)) as device:
        plugin = started(make_input(device.path, protocol="mhz19"))
        gathered = [plugin.gather() for _ in range(3)]
    assert [[m.fields for m in batch] for batch in gathered] == [
        [{"co2": 608}], [{"co2": 636}], [{"co2": 635}]]
    metric = gathered[0][0]
    assert metric.name == "mhz19" and metric.tags == {"port": device.path}
    assert type(metric.fields["co2"]) is int and metric.time > 0
    assert device.commands == 3
    stats = plugin.stats()
    assert stats["requests_sent"] == 3 and stats["frames_ok"] == 3
    assert stats["replies_missing"] == 0
    assert set(stats) == set(STATS) and all(type(v) is int for v in stats.values())


def test_a_silent_sensor_costs_one_warning_and_a_counter(started, caplog):
    caplog.set_level(logging.DEBUG, logger="agent")
    with Device() as device:  # wired, but never answers
        plugin = started(make_input(device.path, protocol="mhz19", timeout=0.1))
        assert plugin.gather() == [] and plugin.gather() == []
    assert plugin.stats()["replies_missing"] == 2
    assert len(warnings(caplog, "No answer")) == 1


def test_sds011_answers_queries(started):
    with SDS011(values=((0.6, 0.6), (432.5, 531.1))) as device:
        plugin = started(make_input(device.path, protocol="sds011"))
        first, second = plugin.gather(), plugin.gather()
    assert [m.fields for m in first + second] == [{"pm2_5": 0.6, "pm10": 0.6},
                                                  {"pm2_5": 432.5, "pm10": 531.1}]
    assert first[0].name == "sds011" and device.queries == 2


def test_pms5003_passive_mode_is_set_on_open_and_read_on_request(started):
    with PMS5003(values=PMS_VALUES, period=0.02) as device:
        plugin = started(make_input(device.path, protocol="pms5003", mode="passive"))
        assert wait_for(lambda: not device.active)
        plugin.gather()  # whatever streamed before the mode changed
        batches = [plugin.gather() for _ in range(3)]
    assert [len(batch) for batch in batches] == [1, 1, 1]
    assert device.reads >= 3


# Streams

def test_pms5003_streams_every_frame_with_its_own_increasing_time(started):
    before = time.time_ns() - 100_000_000  # a reading may be dated back by its read's length
    with PMS5003(values=PMS_VALUES, period=0.02) as device:
        plugin = started(make_input(device.path, protocol="pms5003"))
        metrics = Collector(plugin).until(lambda m: len(m) >= 10)
        after = time.time_ns()
    assert {m.name for m in metrics} == {"pms5003"}
    for metric in metrics:
        assert tuple(metric.fields) == PMS_FIELDS
        assert all(type(v) is int for v in metric.fields.values())
        assert tuple(metric.fields.values()) in PMS_VALUES
    times = [m.time for m in metrics]
    assert times == sorted(set(times)) and before < times[0] and times[-1] <= after
    assert device.active


TEXT_CASES = {
    "kv": ("kv", {}, lambda i: f"co2={600 + i} t={21 + i / 10:.2f} rh={40 + i % 3}",
           lambda i: {"co2": 600 + i, "t": round(21 + i / 10, 2), "rh": 40 + i % 3}),
    "plotter": ("kv", {}, lambda i: f"co2:{600 + i}\tt:{21 + i / 10:.2f},rh:nan",
                lambda i: {"co2": 600 + i, "t": round(21 + i / 10, 2)}),
    "influx": ("influx", {}, lambda i: f"climate,room=lab co2={600 + i}i,t={21 + i / 10:.2f}",
               lambda i: {"co2": 600 + i, "t": round(21 + i / 10, 2)}),
    "csv": ("csv", {}, lambda i: "co2;t" if i % 5 == 0 else f"{600 + i};{21 + i / 10:.2f}",
            lambda i: None if i % 5 == 0 else {"co2": 600 + i, "t": round(21 + i / 10, 2)}),
    "json": ("json", {}, lambda i: f'{{"co2":{600 + i},"env":{{"t":{21 + i / 10:.2f}}}}}',
             lambda i: {"co2": 600 + i, "env_t": round(21 + i / 10, 2)}),
    "regex": ("regex", {"regex": r"CO2 (?P<co2>\d+) ppm, (?P<t>\S+) C"},
              lambda i: f"CO2 {600 + i} ppm, {21 + i / 10:.2f} C",
              lambda i: {"co2": 600 + i, "t": round(21 + i / 10, 2)}),
}


@pytest.mark.parametrize("case", sorted(TEXT_CASES))
def test_an_arduino_printing_each_text_format(started, case):
    data_format, extra, line, fields = TEXT_CASES[case]
    if data_format == "csv":
        extra = {"csv_delimiter": ";"}
    count = 40
    device = Arduino((line(i) for i in range(count)), period=0.005, chunk=7)
    plugin = started(make_input(device.path, data_format=data_format, **extra))
    assert wait_for(lambda: plugin.stats()["opens"])
    with device:  # starts printing once the port is open
        assert wait_for(device.done.is_set)
        stats = wait_for(lambda: (s := plugin.stats())["lines_ok"] + s["lines_discarded"]
                         >= count and s)
    metrics = plugin.gather()
    expected = [fields(i) for i in range(1, count) if fields(i) is not None]
    assert [m.fields for m in metrics] == expected
    assert stats["lines_bad_parse"] == 0 and stats["lines_discarded"] == 1
    name = "climate" if data_format == "influx" else "serial"
    assert {m.name for m in metrics} == {name}
    assert all(m.tags["port"] == device.path for m in metrics)


def test_the_first_line_after_open_is_dropped(started):
    with Device() as device:
        plugin = started(make_input(device.path, data_format="kv"))
        assert wait_for(lambda: plugin.stats()["opens"])
        device.write(b"1.5 rh=4")  # a board reset mid-line
        device.write(b"0\r\nco2=612\r\n")
        metrics = Collector(plugin).until(lambda m: m)
    assert [m.fields for m in metrics] == [{"co2": 612}]
    stats = plugin.stats()
    assert stats["lines_discarded"] == 1 and stats["lines_bad_parse"] == 0


@pytest.mark.parametrize("protocol", ["mhz19", "pms5003", "sds011"])
def test_frames_in_noise_split_across_reads_over_a_pty(started, protocol):
    stream, sent, bad = build_stream(protocol, seed=11, pieces=60)
    rng = random.Random(3)
    with Device() as device:
        plugin = started(make_input(device.path, protocol=protocol, timeout=0.1))
        assert wait_for(lambda: plugin.stats()["opens"])
        for chunk in cut(stream, rng):
            device.write(chunk)
            time.sleep(rng.choice((0, 0, 0.001)))
        assert wait_for(lambda: plugin.stats()["bytes_read"] >= len(stream))
        metrics = plugin.gather()
    assert [m.fields for m in metrics] == [fields for _, fields in sent]
    stats = plugin.stats()
    assert stats["frames_bad_checksum"] >= bad and stats["bytes_skipped"] > 0


# Unplug, replug, absent, exclusive

def kv_device(base, period=0.01):
    return Arduino((f"co2={base + i % 100}" for i in range(100000)), period=period)


def test_unplug_then_replug_at_the_same_path_resumes_reading(started, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="agent")
    link = Link(str(tmp_path / "usb-Arduino_Uno_123-if00"))
    first = kv_device(1000)
    link.point_to(first.path)
    first.start()
    plugin = started(make_input(link.path, data_format="kv"))
    collector = Collector(plugin)
    collector.until(lambda m: len(m) >= 3)
    first.unplug()
    assert wait_for(lambda: plugin.stats()["read_errors"] == 1)
    assert wait_for(lambda: plugin.stats()["open_errors"] >= 3)  # it keeps trying, quietly
    second = kv_device(2000)
    link.point_to(second.path)
    with second:  # (its unplug at the end is a second outage: check before)
        collector.until(lambda m: m[-1].fields["co2"] >= 2000, timeout=5)
        stats = plugin.stats()
        assert stats["reconnects"] == 1 and stats["opens"] == 2 and stats["read_errors"] == 1
        assert len(warnings(caplog)) == 1 and warnings(caplog, "Lost")
        assert [r for r in caplog.records if "again" in r.getMessage()][0].levelno == logging.INFO
    assert {m.tags["port"] for m in collector.metrics} == {link.path}


def test_a_device_absent_at_start_is_read_once_it_appears(started, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="agent")
    link = Link(str(tmp_path / "ttyUSB-sensor"))
    link.point_to(str(tmp_path / "nothing-here"))
    plugin = started(make_input(link.path, protocol="pms5003"))
    assert plugin.gather() == []
    assert wait_for(lambda: plugin.stats()["open_errors"] >= 3)
    with PMS5003(values=PMS_VALUES, period=0.02) as device:
        link.point_to(device.path)
        Collector(plugin).until(lambda m: len(m) >= 2, timeout=5)
        assert len(warnings(caplog)) == 1 and warnings(caplog, "Cannot open")
        assert plugin.stats()["reconnects"] == 0


def test_the_port_is_opened_exclusively(started, caplog):
    serial = pytest.importorskip("serial")
    with PMS5003(values=PMS_VALUES, period=0.05) as device:
        first = started(make_input(device.path, protocol="pms5003"))
        Collector(first).until(lambda m: m)
        with pytest.raises(serial.SerialException, match="exclusively"):
            serial.Serial(device.path, exclusive=True)
        second = started(make_input(device.path, protocol="pms5003"))
        assert wait_for(lambda: second.stats()["open_errors"] >= 1)
    assert second.stats()["opens"] == 0


def test_stop_returns_promptly_and_releases_the_port(started):
    with Arduino(iter(lambda: "a=1", None), period=0.01) as device:
        plugin = make_input(device.path, data_format="kv")
        plugin.start()
        Collector(plugin).until(lambda m: m)
        begun = time.monotonic()
        plugin.stop()
        assert time.monotonic() - begun < 1.0  # the runner gives stop() one second
        started(make_input(device.path, data_format="kv"))  # free to open again


# reduce

def test_reduce_mean_and_last_over_a_stream(started):
    values = [600, 610, 620, 630, 641]
    for mode, expected in (
        ("mean", {"co2_count": 4, "co2_max": 641, "co2_mean": 625.25, "co2_min": 610,
                  "t_count": 4, "t_max": 21.5, "t_mean": 21.5, "t_min": 21.5}),
        ("last", {"co2": 641, "t": 21.5}),
    ):
        device = Arduino((f"co2={v} t=21.50" for v in values), period=0.005)
        plugin = started(make_input(device.path, data_format="kv", reduce=mode))
        assert wait_for(lambda p=plugin: p.stats()["opens"])
        with device:
            assert wait_for(lambda p=plugin: p.stats()["lines_ok"] == 4)
            (metric,) = plugin.gather()
        assert metric == Metric("serial", expected, {"port": device.path}, metric.time)


def test_passive_sensor_on_a_missing_port_gathers_nothing_quickly(started, tmp_path):
    plugin = started(make_input(tmp_path / "absent", protocol="mhz19"))
    begun = time.monotonic()
    assert plugin.gather() == []
    assert time.monotonic() - begun < 1.0
    assert plugin.stats()["requests_sent"] == 0


def test_frames_written_before_open_are_not_mistaken(started):
    with Device() as device:
        device.write(mhz19_frame(999) + pms5003_frame(range(12)))
        plugin = started(make_input(device.path, protocol="mhz19"))
        assert plugin.gather() == []  # stale bytes are flushed at open; no one answers


# Hostile lines and a broken protocol (issue 11 item 10): the reader never dies silently

@pytest.mark.parametrize(("data_format", "hostile"), [
    ("kv", b"x=" + b"9" * 400),  # was OverflowError: reading stopped for good
    ("json", b"[" * 3000),  # was RecursionError
])
def test_a_hostile_line_is_one_bad_parse_and_reading_goes_on(started, data_format, hostile):
    supervisor = Supervisor()
    good = {"kv": b"co2=%d", "json": b'{"co2":%d}'}[data_format]
    with Device() as device:
        plugin = started(make_input(device.path, data_format=data_format,
                                    supervisor=supervisor))
        assert wait_for(lambda: plugin.stats()["opens"])

        def send(line, counter, count):
            # One line at a time: a pty holds about 4 KiB, more would be dropped unread.
            device.write(line + b"\r\n")
            assert wait_for(lambda: plugin.stats()[counter] == count), plugin.stats()

        send(b"boot", "lines_discarded", 1)
        send(good % 1, "lines_ok", 1)
        send(hostile, "lines_bad_parse", 1)  # before: the reader thread died here
        send(good % 2, "lines_ok", 2)
        send(hostile, "lines_bad_parse", 2)
        send(good % 3, "lines_ok", 3)
        metrics = plugin.gather()
        stats = plugin.stats()  # before the pty closes: its closing is a read error of its own
        assert device.dropped == 0
    assert [m.fields["co2"] for m in metrics] == [1, 2, 3]
    assert stats["lines_bad_parse"] == 2 and stats["lines_ok"] == 3
    assert stats["read_errors"] == 0 and supervisor.failures == 0


class BrokenOnce(Protocol):
    """A protocol with a bug: it raises on every feed until the port is reopened."""

    def __init__(self, counters):
        super().__init__(counters)
        self.opens = 0

    def reset(self):
        self.opens += 1
        return b""

    def feed(self, data):
        if self.opens == 1:
            raise ZeroDivisionError("a bug in a protocol")
        return [(0, Metric("broken", {"bytes": len(data)}))]


def test_an_unexpected_error_restarts_the_reader_with_context_and_a_count(caplog):
    supervisor, counters, got = Supervisor(), Counters(), []
    log = logging.getLogger("agent.inputs.serial")
    with Device() as device:
        reader = Reader(Port(PortSettings(device.path), None), BrokenOnce(counters), got.extend,
                        counters, log, backoff=Backoff(first=0.05, cap=0.1),
                        supervisor=supervisor)
        reader.worker.backoff = Backoff(first=0.05, cap=0.1)
        reader.start()
        try:
            device.write(b"x")
            assert wait_for(lambda: supervisor.failures == 1)
            assert wait_for(lambda: counters.snapshot()["opens"] == 2), "reopened after it"
            assert wait_for(lambda: (device.write(b"y"), got)[1])
            assert supervisor.stats() == [{"worker": f"serial {device.path}", "errors": 1,
                                           "restarts": 1, "healthy": 1}]
        finally:
            reader.stop()
    (failure,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.startswith(f"serial {device.path} failed: ZeroDivisionError: a bug in a "
                              "protocol (at ")
    assert "test_serial_input.py" in failure and "restarting in" in failure
    assert supervisor.restarts == 1 and not supervisor.fatal.is_set()
