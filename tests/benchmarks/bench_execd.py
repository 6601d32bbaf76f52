"""Under Telegraf's execd: how fast `agent execd` answers a trigger, and how fast it exits when
Telegraf closes its stdin or sends SIGTERM; and how fast `agent run` stops on SIGTERM (the
timings the test suite leaves out).

Driven by tests/execd_harness.py exactly as Telegraf drives it (pipes, one "\\n" per gather).
The peer is the script a user would put under execd instead: a loop reading stdin that prints
psutil.virtual_memory() as a line per newline. Each trigger's latency is from the newline
written to the line read; the first trigger (start-up, imports) is left out. The median and the
maximum of the triggers, and the exit times of `runs` fresh processes (median). Every line is
checked with the strict parser. `agent run` (inputs.mem to a file, first gather an hour away)
gets SIGTERM once it has logged that it runs; its floor is an idle interpreter that SIGTERM
kills.
"""

from __future__ import annotations

import signal
import time
from typing import Dict, List, Sequence

from tests.benchmarks.common import AGENT, PYTHON, Context, clean_env, median
from tests.benchmarks.report import Row, Target
from tests.execd_harness import Execd

PEER = """\
import sys, time, psutil
for _ in sys.stdin:
    fields = ",".join(f"{k}={v}u" if isinstance(v, int) else f"{k}={v}"
                      for k, v in psutil.virtual_memory()._asdict().items())
    sys.stdout.write(f"mem {fields} {time.time_ns()}\\n")
    sys.stdout.flush()
"""
COMMANDS = {"agent": [*AGENT, "execd", "--signal", "STDIN"], "peer": [PYTHON, "-c", PEER]}


def child(name: str) -> Execd:
    command = COMMANDS[name]
    return Execd(command[1:], env=clean_env(), command=command[:1]).start()


def latencies(name: str, triggers: int) -> List[float]:
    with child(name) as execd:
        execd.trigger()
        if len(execd.wait_lines(1, timeout=30)) != 1:
            raise RuntimeError(f"{name}: no line for the first trigger")
        seconds = []
        for n in range(2, triggers + 2):
            sent = execd.trigger()
            lines = execd.wait_lines(n, timeout=10)
            if len(lines) != n:
                raise RuntimeError(f"{name}: {len(lines)} lines after {n} triggers")
            seconds.append(lines[-1][0] - sent)
        code, _, how = execd.stop()
        execd.metrics()  # raises unless every line is line protocol
    if name == "agent" and (code, how) != (0, "eof"):
        raise RuntimeError(f"agent execd: exit {code} by {how} after stdin closed")
    return seconds


def exit_seconds(name: str, how: str) -> float:
    """From stdin closed (how = "eof") or SIGTERM sent to the process's end."""
    with child(name) as execd:
        execd.trigger()
        if len(execd.wait_lines(1, timeout=30)) != 1:
            raise RuntimeError(f"{name}: no line for the trigger")
        if how == "eof":
            code, elapsed, ended_by = execd.stop()
        else:
            sent = execd.signal(signal.SIGTERM)
            code = execd.proc.wait(10)
            elapsed, ended_by = time.monotonic() - sent, "SIGTERM"
    if name == "agent" and (code, ended_by) != (0, how if how == "eof" else "SIGTERM"):
        raise RuntimeError(f"agent execd: exit {code} by {ended_by} ({how})")
    return elapsed


RUN_CONFIG = '[agent]\ninterval = "1h"\n[[inputs.mem]]\n[[outputs.file]]\nfiles = ["{out}"]\n'
IDLE = "import psutil, sys, time; sys.stderr.write('Loaded inputs\\n'); sys.stderr.flush(); " \
       "time.sleep(60)"


def run_sigterm_seconds(ctx: Context, agent: bool) -> float:
    """SIGTERM once the process says it runs ("Loaded inputs" on stderr) until it is reaped."""
    tmp = ctx.tempdir("run-sigterm")
    config = tmp / "run.toml"
    config.write_text(RUN_CONFIG.format(out=tmp / "out.lp"))
    command = [*AGENT, "run", "--config", str(config)] if agent else [PYTHON, "-c", IDLE]
    err_path = tmp / "stderr"
    with open(err_path, "wb") as err:
        proc = ctx.spawn(command, stderr=err)
    deadline = time.monotonic() + 30
    while b"Loaded inputs" not in err_path.read_bytes():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{command}: did not start: {err_path.read_text()}")
        time.sleep(0.01)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(30)
    elapsed = time.monotonic() - sent
    if agent and code != 0:
        raise RuntimeError(f"agent run: exit {code} after SIGTERM: {err_path.read_text()}")
    return elapsed


def run(ctx: Context) -> List[Row]:
    settings = ctx.settings
    triggers = 20 if settings.quick else 100
    ctx.log(f"execd: {triggers} triggers each, {settings.runs} exits each of agent and peer")
    lat: Dict[str, Sequence[float]] = {name: latencies(name, triggers) for name in COMMANDS}
    exits = {(name, how): median([exit_seconds(name, how) for _ in range(settings.runs)])
             for name in COMMANDS for how in ("eof", "sigterm")}
    run_stop = {name: median([run_sigterm_seconds(ctx, name == "agent")
                              for _ in range(settings.runs)]) for name in ("agent", "idle")}
    ms = {name: (1000 * median(values), 1000 * max(values)) for name, values in lat.items()}
    details = {"triggers": triggers, "runs": settings.runs, "latency_ms": ms,
               "exit_ms": {f"{n} {h}": 1000 * s for (n, h), s in exits.items()},
               "run_sigterm_ms": {n: 1000 * s for n, s in run_stop.items()}}
    peer = "stdin loop + psutil script"
    return [
        Row("execd", "agent execd: trigger to line, median", ms["agent"][0], "ms",
            ms["peer"][0], peer, details=details),
        Row("execd", "agent execd: trigger to line, max", ms["agent"][1], "ms", ms["peer"][1],
            peer, Target("max", 100), details=details),
        Row("execd", "agent execd: stdin closed to exit", 1000 * exits["agent", "eof"], "ms",
            1000 * exits["peer", "eof"], peer, Target("max", 1000), details=details),
        Row("execd", "agent execd: SIGTERM to exit", 1000 * exits["agent", "sigterm"], "ms",
            1000 * exits["peer", "sigterm"], peer + " (killed: no handler)", Target("max", 1000),
            details=details),
        Row("execd", "agent run: SIGTERM to exit (nothing to flush)", 1000 * run_stop["agent"],
            "ms", 1000 * run_stop["idle"], "idle python + psutil (killed)", Target("max", 2000),
            details=details),
    ]
