"""What a full buffer disk means for new metrics: they are dropped and counted, and that is said
when it starts (with the directory and its free space) and when there is room again (with the
count). A disk on the edge comes and goes: each is logged at most once a minute, and the drops
not yet reported are reported at the next report or at shutdown."""

from __future__ import annotations

import logging

from agent.delivery.sqlite_file import REPORT_EVERY, Every, StorageFull


class RoomReport:
    def __init__(self, log: logging.Logger | logging.LoggerAdapter,
                 every: float = REPORT_EVERY) -> None:
        self.log = log
        self.dropped = 0  # in all (internal_write.metrics_dropped)
        self._unreported = 0
        self._full = False
        self._full_report, self._room_report = Every(every), Every(every)

    def dropped_for_room(self, full: StorageFull, count: int, spooled: int) -> None:
        self.dropped += count
        self._unreported += count
        if self._full:
            return
        self._full = True
        if self._full_report.due():
            self.log.error("%s: %d new metric(s) dropped, and new ones until there is room "
                           "(counted in metrics_dropped); the %d spooled are still delivered",
                           full, count, spooled)

    def stored(self) -> None:
        if self._full:
            self._full = False
            if self._room_report.due():
                self._report("The buffer directory has room again: spooling again")

    def close(self) -> None:
        if self._unreported:
            self._report("Stopping")

    def _report(self, what: str) -> None:
        self.log.warning("%s (%d metric(s) dropped while it was full)", what, self._unreported)
        self._unreported = 0
