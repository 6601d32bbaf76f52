"""Signals as events the main thread can wait on."""

from __future__ import annotations

import signal
import threading
from collections import deque
from typing import Deque, Iterable, Optional


class SignalQueue:
    """Installs handlers that record signals; wait() returns the next one (or None on timeout).

    A signal already pending is not queued twice: a flood of signals costs no memory."""

    def __init__(self, signums: Iterable[int]) -> None:
        self._pending: Deque[int] = deque()
        self._event = threading.Event()
        for signum in signums:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        if signum not in self._pending:
            self._pending.append(signum)
        self._event.set()

    def post(self, signum: int) -> None:
        """Queue an event from another thread (e.g. stdin closed -> SIGTERM)."""
        self._handle(signum, None)

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        while not self._pending:
            if not self._event.wait(timeout):
                return None
            self._event.clear()
        return self._pending.popleft()
