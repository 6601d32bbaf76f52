"""Steady state: CPU used by long-running processes, side by side in the same window.

- `agent run`: inputs.mem every 1 s to stdout (a file), against a psutil + influxdb-client
  Point loop printing the same every 1 s (what a user's cron-less script would do);
- `agent run`: inputs.serial (data_format = "kv") on a pty fed by tests/serial_emulator.py at
  115200 baud, as fast as the baud rate allows (~500 lines/s), against a pyserial readline()
  loop that parses the same lines into Points and prints them.

All four run at once (each serial reader has its own emulator, in its own process). After a
warm-up, utime+stime from /proc/<pid>/stat is read at the start and the end of the window
(`steady_seconds`); the result is that CPU over the window's wall time, in % of one core.
Lines written in the window are counted, so a reader that falls behind shows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List

from tests.benchmarks.common import AGENT, PYTHON, Context, proc_cpu_seconds
from tests.benchmarks.report import Row, Target

WARM_UP = 3.0
BAUD = 115200
MEM_PEER = """\
import socket, sys, time
import psutil
from influxdb_client import Point

host = socket.gethostname()
while True:
    point = Point("mem").tag("host", host)
    for key, value in psutil.virtual_memory()._asdict().items():
        point.field(key, value)
    sys.stdout.write(point.to_line_protocol() + "\\n")
    sys.stdout.flush()
    time.sleep(1 - time.time() % 1)
"""
SERIAL_PEER = """\
import sys, time
import serial
from influxdb_client import Point

port = serial.Serial(sys.argv[1], 115200, timeout=1)
next_flush = time.monotonic() + 1
while True:
    line = port.readline().decode("ascii", "replace").strip()
    if line:
        point = Point("serial").tag("port", sys.argv[1])
        for pair in line.split():
            key, _, value = pair.partition("=")
            point.field(key, float(value) if "." in value else int(value))
        sys.stdout.write(point.to_line_protocol() + "\\n")
    if time.monotonic() >= next_flush:
        sys.stdout.flush()
        next_flush += 1
"""
MEM_CONFIG = '[agent]\n  interval = "1s"\n  flush_interval = "1s"\n[[inputs.mem]]\n'
SERIAL_CONFIG = """\
[agent]
  interval = "1s"
  flush_interval = "1s"
[[inputs.serial]]
  port = "{port}"
  baud_rate = 115200
  data_format = "kv"
"""


def emulator(ctx: Context, link: Path) -> subprocess.Popen:
    proc = ctx.spawn([PYTHON, "-m", "tests.serial_emulator", "kv", "--link", str(link),
                      "--period", "0", "--baud", str(BAUD)])
    deadline = time.monotonic() + 10
    while not os.path.lexists(link):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("serial emulator did not start")
        time.sleep(0.01)
    return proc


def start_all(ctx: Context, tmp: Path) -> Dict[str, subprocess.Popen]:
    (tmp / "mem.toml").write_text(MEM_CONFIG)
    (tmp / "serial.toml").write_text(SERIAL_CONFIG.format(port=tmp / "ttyOURS"))
    emulator(ctx, tmp / "ttyOURS")
    emulator(ctx, tmp / "ttyPEER")
    commands = {
        "mem": [*AGENT, "run", "--config", str(tmp / "mem.toml")],
        "mem_peer": [PYTHON, "-c", MEM_PEER],
        "serial": [*AGENT, "run", "--config", str(tmp / "serial.toml")],
        "serial_peer": [PYTHON, "-c", SERIAL_PEER, str(tmp / "ttyPEER")],
    }
    procs = {}
    for name, cmd in commands.items():
        with open(tmp / f"{name}.out", "wb") as out, open(tmp / f"{name}.err", "wb") as err:
            procs[name] = ctx.spawn(cmd, stdout=out, stderr=err)
    return procs


def lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return handle.read().count(b"\n")


def window(procs: Dict[str, subprocess.Popen], tmp: Path, seconds: float) -> Dict[str, dict]:
    for name, proc in procs.items():
        if proc.poll() is not None:
            err = (tmp / f"{name}.err").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"steady: {name} exited with {proc.returncode}: {err}")
    start = {n: (proc_cpu_seconds(p.pid), lines(tmp / f"{n}.out")) for n, p in procs.items()}
    began = time.monotonic()
    time.sleep(seconds)
    end = {n: (proc_cpu_seconds(p.pid), lines(tmp / f"{n}.out")) for n, p in procs.items()}
    wall = time.monotonic() - began
    return {n: {"cpu_s": end[n][0] - start[n][0], "wall_s": wall,
                "percent": 100 * (end[n][0] - start[n][0]) / wall,
                "lines": end[n][1] - start[n][1]} for n in procs}


def stop_all(ctx: Context, procs: Dict[str, subprocess.Popen]) -> Dict[str, int]:
    codes = {}
    for proc in procs.values():
        proc.send_signal(signal.SIGTERM)
    for name, proc in procs.items():
        try:
            codes[name] = proc.wait(15)
        except subprocess.TimeoutExpired:
            ctx.kill(proc)
            codes[name] = proc.returncode
    return codes


def run(ctx: Context) -> List[Row]:
    seconds = ctx.settings.steady_seconds
    ctx.log(f"steady: {seconds:g} s window after {WARM_UP:g} s warm-up")
    tmp = ctx.tempdir("steady")
    procs = start_all(ctx, tmp)
    try:
        time.sleep(WARM_UP)
        result = window(procs, tmp, seconds)
    finally:
        codes = stop_all(ctx, procs)
    agents_ok = codes["mem"] == 0 and codes["serial"] == 0
    expected = int(seconds) - 1
    mem_ok = agents_ok and result["mem"]["lines"] >= expected
    details = {"window": result, "exit_codes": codes}
    mem, serial = result["mem"], result["serial"]
    return [
        Row("steady", "agent run, mem every 1 s: CPU", mem["percent"], "% core",
            result["mem_peer"]["percent"], "psutil+Point loop", Target("below", 0.5),
            ok=mem_ok, notes=f"{mem['lines']} gathers in {mem['wall_s']:.0f} s; "
            f"exit codes {codes}" if not mem_ok else "", details=details),
        Row("steady", "agent run, serial kv 115200 baud: CPU", serial["percent"], "% core",
            result["serial_peer"]["percent"], "pyserial readline+Point", ok=agents_ok,
            notes=f"lines/s: ours {serial['lines'] / serial['wall_s']:.0f}, peer "
            f"{result['serial_peer']['lines'] / serial['wall_s']:.0f}", details=details),
    ]
