"""Benchmark inputs.serial: CPU seconds per 10k text lines of a 115200-baud stream, per 1k
PMS5003 frames (back to back, and one every 0.1 s), per minute on an idle port; and pyserial's
readline() on the same text stream, for comparison.

    python tests/benchmarks/bench_serial.py [--lines 10000] [--frames 1000] [--no-readline]

The emulator (tests/serial_emulator.py) runs in a child process on the master side of a pty and
paces its writes like a UART at 115200 baud, so this process's getrusage(RUSAGE_SELF) is the
input's cost alone: the reader thread plus a gather every second, as the runner would do.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.inputs.serial import SerialInput  # noqa: E402

BAUD = 115200


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def emulator(kind: str, link: str, period: float = 0.0) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.serial_emulator", kind, "--link", link,
         "--period", str(period), "--baud", str(BAUD)], cwd=ROOT)
    deadline = time.monotonic() + 10
    while not os.path.lexists(link):
        if time.monotonic() > deadline:
            raise SystemExit("emulator did not start")
        time.sleep(0.01)
    return child


def make_input(port: str, **options) -> SerialInput:
    values = {o.name: o.default for o in SerialInput.options}
    values.update({"port": port, "baud_rate": BAUD, **options})
    return SerialInput(**values)


def measure(plugin: SerialInput, counter: str, count: int) -> tuple:
    """CPU and wall seconds while `count` more items of `counter` arrive, gathering every 1 s."""
    plugin.start()
    try:
        while plugin.stats()[counter] < 1:
            time.sleep(0.01)
        plugin.gather()
        start_items, start_cpu, start_wall = plugin.stats()[counter], cpu_seconds(), time.time()
        gathered, next_gather = 0, time.time() + 1
        while plugin.stats()[counter] < start_items + count:
            time.sleep(0.1)
            if time.time() >= next_gather:
                gathered += len(plugin.gather())
                next_gather += 1
        items = plugin.stats()[counter] - start_items
        gathered += len(plugin.gather())
        return cpu_seconds() - start_cpu, time.time() - start_wall, items, plugin.stats()
    finally:
        plugin.stop()


def bench_lines(link: str, count: int) -> None:
    child = emulator("kv", link)
    try:
        cpu, wall, lines, stats = measure(make_input(link, data_format="kv"), "lines_ok", count)
    finally:
        child.terminate()
        child.wait()
    report(f"{lines} kv lines at {BAUD} baud", cpu, wall, lines, 10_000, "10k lines")
    print(f"    lines: {lines / wall:.0f}/s, bytes read: {stats['bytes_read']}, "
          f"bad parse: {stats['lines_bad_parse']}")


def bench_readline(link: str, count: int) -> None:
    """The loop the issue warns about: pyserial's readline(), one read(1) per byte."""
    import serial

    child = emulator("kv", link)
    try:
        port = serial.Serial(link, BAUD, timeout=0.1)
        port.readline()
        start_cpu, start_wall = cpu_seconds(), time.time()
        for _ in range(count):
            port.readline()
        cpu, wall = cpu_seconds() - start_cpu, time.time() - start_wall
        port.close()
    finally:
        child.terminate()
        child.wait()
    report(f"{count} lines with readline() (for comparison)", cpu, wall, count, 10_000,
           "10k lines")


def bench_frames(link: str, count: int, period: float) -> None:
    child = emulator("pms5003", link, period)
    try:
        plugin = make_input(link, protocol="pms5003")
        cpu, wall, frames, stats = measure(plugin, "frames_ok", count)
    finally:
        child.terminate()
        child.wait()
    how = f"one every {period:g} s" if period else f"back to back at {BAUD} baud"
    report(f"{frames} pms5003 frames, {how}", cpu, wall, frames, 1000, "1k frames")
    print(f"    bad checksum: {stats['frames_bad_checksum']}, skipped bytes: "
          f"{stats['bytes_skipped']}")


def bench_idle(link: str, seconds: float) -> None:
    child = emulator("mhz19", link)  # passive: silent unless asked
    plugin = make_input(link, protocol="mhz19")
    try:
        plugin.start()
        start_cpu = cpu_seconds()
        time.sleep(seconds)
        cpu = cpu_seconds() - start_cpu
    finally:
        plugin.stop()
        child.terminate()
        child.wait()
    print(f"idle port for {seconds:g}s: {cpu * 60 / seconds:.4f} CPU s per minute "
          f"({100 * cpu / seconds:.3f}% of a core)")


def report(what: str, cpu: float, wall: float, items: int, per: int, unit: str) -> None:
    print(f"{what}: {cpu:.3f} CPU s in {wall:.1f} s wall = {cpu * per / items:.4f} CPU s per "
          f"{unit} ({100 * cpu / wall:.2f}% of a core)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=5.0)
    parser.add_argument("--no-readline", action="store_true", help="skip the readline() run")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {os.uname().machine}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as directory:
        link = os.path.join(directory, "ttyBENCH")
        bench_lines(link, args.lines)
        if not args.no_readline:
            bench_readline(link, args.lines)
        bench_frames(link, args.frames, 0.0)
        bench_frames(link, args.frames // 5, 0.1)
        bench_idle(link, args.idle)


if __name__ == "__main__":
    main()
