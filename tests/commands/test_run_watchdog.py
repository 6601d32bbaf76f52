"""`agent run` under a systemd watchdog, judged by a real NOTIFY_SOCKET: WATCHDOG=1 arrives while
every supervised worker is healthy and stops while one is stuck; a worker that fails is logged
once with context, counted in inputs.internal and restarted; one that cannot recover ends the
process non-zero (so systemd restarts it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent.lineprotocol.parser import parse_metrics

REPO = Path(__file__).resolve().parents[2]
AGENT_WITH_FAKES = [sys.executable, "-c",
                    "from tests.fake_plugins import main_with_fakes; main_with_fakes()"]
EX_SOFTWARE = 70


class NotifySocket:
    """systemd's end of sd_notify: a datagram socket that keeps every message it receives."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._receive, daemon=True).start()

    def _receive(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            with self._cond:
                self.messages.append(data.decode())
                self._cond.notify_all()

    def count(self, message: str) -> int:
        with self._cond:
            return sum(m == message for m in self.messages)

    def wait_count(self, message: str, count: int, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(m == message for m in self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        self.sock.close()


class Daemon:
    """`agent run --debug` with the fake inputs registered, under NOTIFY_SOCKET and
    WATCHDOG_USEC=1 s (a ping every 0.5 s, a gather stuck after 1 s)."""

    def __init__(self, tmp_path: Path, body: str) -> None:
        self.out = tmp_path / "metrics.lp"
        config = tmp_path / "agent.toml"
        config.write_text(f'[agent]\ninterval = "200ms"\n{body}\n'
                          f'[[outputs.file]]\nfiles = ["{self.out}"]\n')
        self.notify = NotifySocket(tmp_path / "notify.sock")
        self.err_path = tmp_path / "stderr.log"
        env = {**os.environ, "NOTIFY_SOCKET": self.notify.path, "WATCHDOG_USEC": "1000000"}
        env.pop("WATCHDOG_PID", None)
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([*AGENT_WITH_FAKES, "run", "--debug", "--config",
                                          str(config)], cwd=REPO, env=env,
                                         stdout=subprocess.DEVNULL, stderr=err)

    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def wait_stderr(self, needle: str, count: int = 1, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stderr().count(needle) >= count:
                return True
            if self.proc.poll() is not None:
                return self.stderr().count(needle) >= count
            time.sleep(0.02)
        return False

    def loud_stderr(self) -> str:
        """Everything but debug lines (--debug adds the traceback of a failure)."""
        return "\n".join(line for line in self.stderr().splitlines() if " D! " not in line)

    def metrics(self):
        return parse_metrics(self.out.read_text()) if self.out.exists() else []

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()


@pytest.fixture
def daemons():
    started = []

    def start(tmp_path, body):
        daemon = Daemon(tmp_path, body)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.close()


def test_pings_while_healthy_stop_while_a_gather_is_stuck_and_resume_after(tmp_path, daemons):
    hang = tmp_path / "hang"
    daemon = daemons(tmp_path, f'[[inputs.hanging]]\nhang_file = "{hang}"\n')
    assert daemon.notify.wait_count("READY=1", 1), daemon.stderr()
    assert daemon.notify.wait_count("WATCHDOG=1", 3), "pings while healthy"

    hang.touch()  # the next gather blocks: no progress
    assert daemon.wait_stderr("Not feeding the systemd watchdog"), daemon.stderr()
    assert "gather inputs.hanging: no progress for" in daemon.stderr()
    withheld = daemon.notify.count("WATCHDOG=1")
    assert daemon.wait_stderr("Still not feeding the systemd watchdog", count=2)
    assert daemon.notify.count("WATCHDOG=1") == withheld, "no ping while a worker is stuck"
    assert daemon.proc.poll() is None

    hang.unlink()  # the gather returns: the worker makes progress again
    assert daemon.wait_stderr("Every worker is healthy again")
    assert daemon.notify.wait_count("WATCHDOG=1", withheld + 2)
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(10) == 0
    assert daemon.notify.wait_count("STOPPING=1", 1)
    assert daemon.stderr().count("Not feeding the systemd watchdog") == 1, "said once"
    assert "Traceback" not in daemon.loud_stderr()


def test_a_failing_worker_is_logged_once_counted_restarted_and_pings_go_on(tmp_path, daemons):
    daemon = daemons(tmp_path, "[[inputs.crashing]]\nfailures = 1\n[[inputs.internal]]\n")
    assert daemon.wait_stderr("crashing worker failed"), daemon.stderr()
    pings = daemon.notify.count("WATCHDOG=1")
    assert daemon.notify.wait_count("WATCHDOG=1", pings + 3), "the restarted worker is healthy"

    def worker_rows():
        return [m for m in daemon.metrics() if m.name == "internal_worker"
                and m.tags["worker"] == "crashing worker"]

    deadline = time.monotonic() + 20
    while not worker_rows() and time.monotonic() < deadline:
        time.sleep(0.05)
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(10) == 0
    assert worker_rows()[-1].fields == {"errors": 1, "restarts": 1, "healthy": 1}
    agent_row = [m for m in daemon.metrics() if m.name == "internal_agent"][-1]
    assert (agent_row.fields["worker_errors"], agent_row.fields["worker_restarts"]) == (1, 1)
    schedules = {m.tags["worker"] for m in daemon.metrics() if m.name == "internal_worker"}
    assert {"gather inputs.crashing", "gather inputs.internal"} <= schedules
    errors = [line for line in daemon.stderr().splitlines() if "crashing worker failed" in line]
    assert len(errors) == 1, "logged once"
    assert "RuntimeError: worker on fire #1 (at tests/fake_plugins.py:" in errors[0]
    assert "[inputs.crashing]" in errors[0] and "restarting in" in errors[0]
    assert "Traceback" not in daemon.loud_stderr()


def test_a_worker_that_cannot_recover_ends_the_process_non_zero(tmp_path, daemons):
    daemon = daemons(tmp_path, "[[inputs.crashing]]\nfailures = -1\nmax_failures = 2\n")
    assert daemon.proc.wait(30) == EX_SOFTWARE, daemon.stderr()
    stderr = daemon.stderr()
    assert stderr.count("crashing worker failed: RuntimeError") == 2
    assert "crashing worker failed 3 times in a row (last: RuntimeError: worker on fire #3" \
        in stderr and "giving up" in stderr
    assert "Exiting: a background worker cannot recover (crashing worker: RuntimeError" in stderr
    assert daemon.notify.wait_count("STOPPING=1", 1)
    assert daemon.notify.messages[-1] == "STOPPING=1", "no ping after the worker gave up"
    assert "Traceback" not in daemon.loud_stderr()
