"""What the benchmarks share: settings, throwaway servers, temp dirs, child processes, timing.

Everything a benchmark starts goes through a Context, which stops and deletes it again in
close() (called by the runner in a finally, also on SIGTERM and Ctrl-C). Children also get
SIGKILL from the kernel if the runner dies without cleaning up (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from tests import servers

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
_CONSOLE_SCRIPT = Path(PYTHON).parent / "agent"
AGENT: List[str] = [str(_CONSOLE_SCRIPT)] if _CONSOLE_SCRIPT.exists() else [PYTHON, "-m", "agent"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
LAUNCH = ROOT / "tests" / "launch.py"


@dataclass
class Settings:
    quick: bool = False
    metrics: int = 100_000  # encoding: metrics per shape; aggregation: metrics aggregated
    repeats: int = 3  # encoding, gather: repeats (the median is reported)
    gathers: int = 2000  # gather: iterations per repeat
    runs: int = 7  # footprint: fresh processes per command
    steady_seconds: float = 60.0
    points: int = 100_000  # write: points per run
    batch_size: int = 5000  # write: ours and influxdb-client's
    drain_points: int = 1_000_000
    pg_gathers: int = 30
    pg_databases: Sequence[int] = (1, 50, 200)

    @classmethod
    def for_mode(cls, quick: bool) -> Settings:
        if not quick:
            return cls()
        return cls(quick=True, metrics=20_000, repeats=3, gathers=500, runs=3,
                   steady_seconds=15.0, points=20_000, drain_points=100_000, pg_gathers=10)


def _pdeathsig() -> Optional[Callable[[], None]]:
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG

    return preexec


def clean_env(**extra: str) -> Dict[str, str]:
    """Our environment without what would change an agent's or a client's behaviour."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("INFLUX", "PG", "STATE_DIRECTORY", "HOST_PROC", "JOURNAL_STREAM"))}
    env.update(extra)
    return env


class Context:
    def __init__(self, settings: Settings, log: Callable[[str], None]) -> None:
        self.settings = settings
        self.log = log
        self.tmp = Path(tempfile.mkdtemp(prefix="agent-bench-"))
        self._servers: Dict[str, servers.Server] = {}
        self._children: List[subprocess.Popen] = []
        self._lock = threading.Lock()
        self.results: list = []  # rows of the benchmarks run so far (drain reuses write's)

    # -- servers
    def server(self, kind: str) -> servers.Server:
        """A started VictoriaMetrics ("vm") or InfluxDB 1.x ("influxdb1"), one per suite run."""
        if kind not in self._servers:
            cls = {"vm": servers.VictoriaMetrics, "influxdb1": servers.InfluxDB1}[kind]
            server = cls()
            self._servers[kind] = server
            server.start()
            self.log(f"started {server.name} on port {server.port}")
        return self._servers[kind]

    def own_server(self, server: servers.Server) -> servers.Server:
        """Register a server a benchmark started itself, so close() stops it."""
        self._servers[f"{server.name}-{id(server)}"] = server
        return server

    # -- temp dirs and children
    def tempdir(self, name: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.tmp))
        return path

    def spawn(self, cmd: Sequence[str], **kwargs) -> subprocess.Popen:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("env", clean_env())
        kwargs.setdefault("cwd", ROOT)
        proc = subprocess.Popen(list(cmd), start_new_session=True, preexec_fn=_pdeathsig(),
                                **kwargs)
        with self._lock:
            self._children.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the child's whole session and reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            with contextlib.suppress(ChildProcessError):
                proc.wait()

    def close(self) -> None:
        for proc in self._children:
            if proc.returncode is None and proc.poll() is None:
                self.kill(proc)
            else:  # exited: whatever it left in its session goes too
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        self._children.clear()
        for server in self._servers.values():
            with contextlib.suppress(Exception):
                server.close()
        self._servers.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)


@dataclass
class ChildRun:
    code: int
    wall: float  # seconds from fork to reaping
    cpu: float  # user + system seconds of the child (and its reaped children)
    maxrss_kb: int  # peak resident set size, kB (Linux ru_maxrss)
    stderr: str = ""  # the tail of its stderr, when it was captured


def run_logged(ctx: Context, cmd: Sequence[str], timeout: float = 600.0, **kwargs) -> ChildRun:
    """timed_child with stderr kept in a file (its tail is in .stderr, for error messages)."""
    path = ctx.tempdir("stderr") / "stderr"
    with open(path, "wb") as err:
        run = timed_child(ctx, cmd, timeout, stderr=err, **kwargs)
    run.stderr = path.read_text(errors="replace")[-1500:].strip()
    return run


def failure(what: str, run: ChildRun) -> RuntimeError:
    last = run.stderr.splitlines()[-1] if run.stderr else ""
    return RuntimeError(f"{what}: exit code {run.code}: {last}")


def timed_child(ctx: Context, cmd: Sequence[str], timeout: float = 300.0,
                **kwargs) -> ChildRun:
    """Run cmd to completion through launch.py: its wall time (fork to reaping) and its own
    rusage from wait4(), not inflated by this process's memory (see launch.py)."""
    kwargs.setdefault("stdout", subprocess.DEVNULL)
    result = ctx.tempdir("run") / "rusage"
    proc = ctx.spawn([PYTHON, "-S", "-I", str(LAUNCH), str(result), *cmd], **kwargs)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        ctx.kill(proc)
        raise RuntimeError(f"{cmd[0]} ... still running after {timeout:g}s: killed") from None
    if proc.returncode != 0 or not result.exists():
        raise RuntimeError(f"launch.py failed (exit code {proc.returncode}) for {cmd}")
    code, wall, user, system, maxrss = result.read_text().split()
    return ChildRun(int(code), float(wall), float(user) + float(system), int(maxrss))


def proc_cpu_seconds(pid: int) -> float:
    """CPU seconds of a live process: the sum of its live threads' run time from
    /proc/<pid>/task/*/schedstat (ns resolution), else utime + stime from /proc/<pid>/stat
    (10 ms ticks; includes threads that have exited)."""
    try:
        total = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as handle:
                total += int(handle.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def cpu_timer() -> int:
    """Process CPU time in ns: what in-process micro-benchmarks measure (robust to a busy box
    as long as no other thread of ours runs)."""
    return time.process_time_ns()


def vm_scalar(vm: servers.VictoriaMetrics, promql: str, expect: float = 0,
              timeout: float = 15.0) -> float:
    """A PromQL scalar from VictoriaMetrics, polled until it reaches `expect` (recent samples
    become visible only after a second or so) or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = vm.query(promql)["data"]["result"]
        value = float(result[0]["value"][1]) if result else 0.0
        if value >= expect or time.monotonic() > deadline:
            return value
        time.sleep(0.2)
