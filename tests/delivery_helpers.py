"""Running `agent run` as a subprocess against real servers, and reading back what arrived."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

from agent.delivery.spool import Batch
from agent.lineprotocol.parser import parse_metrics
from tests import servers

AGENT = [sys.executable, "-m", "agent"]


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class AgentProcess:
    """`agent run` with a config written to tmp; stderr kept in a file."""

    def __init__(self, tmp: Path, config: str, name: str = "agent") -> None:
        self.config_path = tmp / f"{name}.toml"
        self.config_path.write_text(config)
        self.stderr_path = tmp / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([*AGENT, "run", "--config", str(self.config_path)],
                                     stdout=subprocess.DEVNULL, stderr=self._stderr,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def terminate(self, timeout: float = 30.0) -> float:
        """SIGTERM; returns seconds until exit. The exit code must be 0."""
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._stderr.close()
        assert code == 0, self.stderr()
        return time.monotonic() - sent

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._stderr.close()

    def __enter__(self) -> AgentProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self._stderr.closed:
            self._stderr.close()


def file_metrics(path: Path):
    return parse_metrics(path.read_text()) if path.exists() else []


def influx_times(server, db: str, measurement: str = "mem", field: str = "used") -> Dict[int, int]:
    """{time: value} of one field as stored in InfluxDB 1.x. Raises when the server does not
    answer or the database does not exist: "nothing arrived" needs a server that says so."""
    rows = server.rows(f'SELECT "{field}" FROM "{measurement}"', db=db)
    return {row["time"]: row[field] for row in rows}


def influx_times_so_far(server, db: str, **kwargs: str) -> Dict[int, int]:
    """influx_times for polling towards a positive condition while the server may be down or
    the database not created yet ({} then). Never for asserting an absence."""
    try:
        return influx_times(server, db, **kwargs)
    except (OSError, servers.ServerError):
        return {}


def spooled_lines(directory: Path) -> List[str]:
    """What is waiting in every spool file under directory (read straight from SQLite).
    Raises when there is no spool there, or one without its table: "the spool is empty" needs
    a spool that says so."""
    paths = sorted(directory.glob("*.sqlite"))
    if not paths:
        raise AssertionError(f"no spool (*.sqlite) in {directory}")
    lines = []
    for path in paths:
        db = sqlite3.connect(path)
        try:
            rows = db.execute("SELECT id, key, count, text, bounds FROM batches ORDER BY id")
            lines += [line for row in rows for line in Batch(*row).lines()]
        finally:
            db.close()
    return lines


def spooled_lines_so_far(directory: Path) -> List[str]:
    """spooled_lines for polling towards a positive condition while the agent may still be
    creating its spool ([] then). Never for asserting an absence."""
    try:
        return spooled_lines(directory)
    except (AssertionError, sqlite3.OperationalError):
        return []
