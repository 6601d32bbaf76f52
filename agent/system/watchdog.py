"""Feeding systemd's watchdog (WatchdogSec=) only while every supervised worker is healthy.

A dead or stuck worker stops the WATCHDOG=1 pings, so systemd restarts the unit even though
the main loop itself still runs. Pings are due every half WatchdogSec, whatever else the main
loop is woken up for (a stream of signals must not starve them).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Callable, List, Optional

from agent.system import systemd
from agent.system.worker import Supervisor

log = logging.getLogger("agent.watchdog")
_DIGITS = re.compile(r"\d+")


class Watchdog:
    def __init__(self, supervisor: Supervisor, interval: float,
                 notify: Callable[[str], bool] = systemd.notify,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.supervisor = supervisor
        self.interval = interval  # seconds between pings; 0: no watchdog asked for
        self.notify = notify
        self.clock = clock
        self.pings = 0
        self._due = clock()
        self._withheld: List[str] = []  # the problems last reported

    def timeout(self) -> Optional[float]:
        """Seconds until the next ping is due (None: never)."""
        if self.interval <= 0:
            return None
        return max(0.0, self._due - self.clock())

    def tick(self) -> None:
        """Ping if due and every worker is healthy; say once when that changes."""
        if self.interval <= 0 or self.clock() < self._due:
            return
        self._due = self.clock() + self.interval
        problems = self.supervisor.unhealthy()
        if problems:
            self._withhold(problems)
            return
        if self._withheld:
            log.info("Every worker is healthy again; feeding the systemd watchdog")
            self._withheld = []
        self.notify("WATCHDOG=1")
        self.pings += 1

    def _withhold(self, problems: List[str]) -> None:
        # Logged again only when the problems change, not when a stall grows by seconds.
        if _shape(problems) != _shape(self._withheld):
            log.error("Not feeding the systemd watchdog (it restarts the unit): %s",
                      "; ".join(problems))
            self._withheld = problems
        else:
            log.debug("Still not feeding the systemd watchdog: %s", "; ".join(problems))


def _shape(problems: List[str]) -> List[str]:
    return [_DIGITS.sub("", problem) for problem in problems]
