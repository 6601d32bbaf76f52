"""Drive `agent execd` the way Telegraf's inputs.execd does (plugins/inputs/execd, process).

- stdin, stdout and stderr are pipes; with signal = "STDIN" each gather writes one "\\n";
- stdout is read as a stream of line protocol (parsed strictly here: anything else is a failure);
- stderr lines are read one by one and sorted by their "E! "/"W! "/"I! "/"D! "/"T! " prefix;
  any other line is what Telegraf would log as `E! [inputs.execd] stderr: "..."`;
- stop closes stdin, sends SIGTERM after 5 s and SIGKILL 5 s later.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

from agent.lineprotocol.parser import ParseError, parse

PREFIXES = {"E! ": "error", "W! ": "warn", "I! ": "info", "D! ": "debug", "T! ": "trace"}
GRACE = 5.0


class Execd:
    def __init__(self, args: Sequence[str], env: Optional[Dict[str, str]] = None,
                 command: Optional[Sequence[str]] = None) -> None:
        self.command = list(command or [sys.executable, "-m", "agent", "execd"]) + list(args)
        self.env = {**os.environ, **(env or {})}
        self.stdout_lines: List[Tuple[float, bytes]] = []
        self.stderr_lines: List[Tuple[str, str]] = []  # (level, message)
        self.unprefixed: List[str] = []
        self._cond = threading.Condition()
        self._readers: List[threading.Thread] = []
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> Execd:
        self.proc = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=self.env,
        )
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()
        return self

    def __enter__(self) -> Execd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _read_stdout(self) -> None:
        for line in iter(self.proc.stdout.readline, b""):
            with self._cond:
                self.stdout_lines.append((time.monotonic(), line))
                self._cond.notify_all()

    def _read_stderr(self) -> None:
        for raw in iter(self.proc.stderr.readline, b""):
            assert len(raw) < 64 * 1024, "Telegraf's scanner stops at 64 KiB lines"
            line = raw.decode("utf-8", "replace").rstrip("\n")
            level = PREFIXES.get(line[:3])
            with self._cond:
                if level:
                    self.stderr_lines.append((level, line[3:]))
                else:
                    self.unprefixed.append(line)
                self._cond.notify_all()

    def trigger(self) -> float:
        """What execd's Gather does with signal = "STDIN": write one newline."""
        sent = time.monotonic()
        self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()
        return sent

    def signal(self, signum: int) -> float:
        sent = time.monotonic()
        self.proc.send_signal(signum)
        return sent

    def wait_lines(self, count: int, timeout: float = 5.0) -> List[Tuple[float, bytes]]:
        """Block until at least count stdout lines arrived (or timeout); return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.stdout_lines) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.stdout_lines)

    def wait_stderr(self, needle: str, timeout: float = 5.0, count: int = 1) -> bool:
        """Block until count stderr messages contain needle; False after timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(needle in message for _, message in self.stderr_lines) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_handler(self, signum: int, timeout: float = 10.0) -> None:
        """Block until the process catches signum (its bit in SigCgt of /proc/<pid>/status):
        sent earlier, SIGHUP or SIGUSR1 would still kill it by their default action."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"exited with {self.proc.returncode}"
            with open(f"/proc/{self.proc.pid}/status") as status:
                caught = next(int(line.split()[1], 16) for line in status
                              if line.startswith("SigCgt:"))
            if caught & (1 << (signum - 1)):
                return
            time.sleep(0.01)
        raise AssertionError(f"no handler for signal {signum} after {timeout}s")

    def metrics(self):
        """stdout parsed as line protocol; raises on anything that is not valid."""
        data = b"".join(line for _, line in self.stdout_lines).decode("utf-8")
        results = parse(data)
        for result in results:
            if isinstance(result, ParseError):
                raise AssertionError(f"stdout is not line protocol: {result} {result.text!r}")
        return results

    def stop(self) -> Tuple[int, float, str]:
        """Telegraf's Stop: close stdin; SIGTERM after 5 s; SIGKILL after 5 s more.

        Returns (exit code, seconds from stdin close to exit, what ended it: eof/SIGTERM/SIGKILL).
        """
        closed = time.monotonic()
        self.proc.stdin.close()
        how = "eof"
        try:
            self.proc.wait(GRACE)
        except subprocess.TimeoutExpired:
            how = "SIGTERM"
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(GRACE)
            except subprocess.TimeoutExpired:
                how = "SIGKILL"
                self.proc.kill()
                self.proc.wait()
        elapsed = time.monotonic() - closed
        self.join_readers()
        return self.proc.returncode, elapsed, how

    def join_readers(self, timeout: float = 10.0) -> None:
        """Wait until both pipes are read to their end, so every line the process wrote is in
        stdout_lines / stderr_lines (the pipes close when the process and its children exit)."""
        deadline = time.monotonic() + timeout
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                raise AssertionError(f"{reader.name}: pipe still open {timeout}s after exit")
