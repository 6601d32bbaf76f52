"""The disk buffer: a Spool in one SQLite file per destination (WAL, synchronous=NORMAL).

A committed batch survives kill -9 (a power cut may lose the last commits: the OS has them, not
the disk). What the file system does to it is handled here, so the writer and the gathers keep
running:

- a corrupt file (random bytes, truncated, garbage pages) is moved aside to
  `<name>.corrupt-<time>`, said so with both paths, and a fresh spool is started;
- a full disk: an insert raises StorageFull (the caller drops and counts, or refuses); delivered
  batches that cannot be deleted for lack of room are remembered as sent (never peeked again)
  and deleted once there is room, and when everything in the file is sent the file itself is
  removed, which gives the room back;
- an emptied spool gives its free pages back to the file system (incremental vacuum) and
  truncates its WAL, so a spool that once held an outage does not keep its size.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from typing import Callable, Iterator, List, Optional, Sequence

from agent.delivery.spool import Batch, Row, Spool
from agent.delivery.sqlite_file import (
    REPORT_EVERY,
    Checkpointer,
    Every,
    StorageFull,
    close_quietly,
    connect,
    corrupt,
    full,
    id_clauses,
    reclaim,
    remove_file,
)

log = logging.getLogger("agent.delivery")


class SqliteSpool(Spool):
    durable = True

    def __init__(self, path: str, limit: int, batch_lines: int = 1000,
                 logger: Optional[logging.Logger | logging.LoggerAdapter] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(limit, batch_lines)
        self.path = path
        self.directory = os.path.dirname(path) or "."
        self.log = logger or log
        # Batches up to this id were delivered but could not be deleted (a full disk).
        self._sent_up_to = 0
        self._unsettled = False
        self._kept_report, self._fresh_report = Every(REPORT_EVERY), Every(REPORT_EVERY)
        self._db: Optional[sqlite3.Connection] = None
        self._checkpointer = Checkpointer(path, clock)
        self._open_or_start_over()

    # Errors from SQLite, turned into what the callers can act on.
    def _insert(self, rows: List[Row]) -> int:
        with self._lock:
            self._settle_sent()
            try:
                return super()._insert(rows)
            except sqlite3.DatabaseError as err:
                self._recover(err)
                return super()._insert(rows)

    def peek(self, count: int) -> List[Batch]:
        with self._lock:
            try:
                return super().peek(count)
            except sqlite3.DatabaseError as err:
                self._recover(err)
                return []

    def remove(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._lock:
            self._settle_sent()
            try:
                super().remove(ids)
            except sqlite3.DatabaseError as err:
                if not full(err):
                    self._recover(err)
                    return
                self._keep_as_sent(ids)
            if not self._count:
                self._emptied()

    def _recover(self, err: sqlite3.DatabaseError) -> None:
        """A full disk becomes StorageFull; a corrupt file is moved aside; the rest is raised."""
        if full(err):
            raise StorageFull(self.directory) from err
        if not corrupt(err):
            raise err
        self._move_aside(err, f"the {self._count} metric(s) it held are not sent")

    # A full disk.
    def _keep_as_sent(self, ids: Sequence[int]) -> None:
        """Delivered batches that cannot be deleted: never send them again, delete them later.
        The writer always removes the oldest batches, so `ids` continue the sent ones."""
        top = max(ids)
        between, lines = self._db.execute(
            "SELECT count(*), coalesce(sum(count), 0) FROM batches WHERE id > ? AND id <= ?",
            (self._sent_up_to, top)).fetchone()
        if between != len(set(ids)):
            raise StorageFull(self.directory)  # not the oldest: they are sent again, later
        if not self._unsettled and self._kept_report.due():
            self.log.warning("%s: delivered metrics stay in %s until there is room (they are "
                             "not sent again)", StorageFull(self.directory), self.path)
        self._sent_up_to, self._unsettled = top, True
        self._count -= lines

    def _settle_sent(self) -> None:
        if not self._unsettled:
            return
        try:
            with self._db:
                self._db.execute("DELETE FROM batches WHERE id <= ?", (self._sent_up_to,))
        except sqlite3.OperationalError as err:
            if not full(err):
                raise
            return
        self._unsettled = False

    def _emptied(self) -> None:
        """Everything is sent: give the space back to the file system."""
        if self._unsettled:
            if self._fresh_report.due():
                self.log.info("Everything in %s is delivered: starting a fresh file to free "
                              "the space", self.path)
            self._close()
            for suffix in ("-wal", "-shm", ""):  # the WAL first: never replayed into a new file
                remove_file(self.path + suffix)
            self._open_or_start_over()
            return
        try:
            reclaim(self._db, self.path)
        except sqlite3.OperationalError as err:  # e.g. a full disk: it is only an optimisation
            self.log.debug("Cannot reclaim the space of %s: %s", self.path, err)

    # A corrupt file.
    def _open_or_start_over(self) -> None:
        self._sent_up_to, self._unsettled = 0, False
        try:
            self._db = connect(self.path)
            self._count = self._db.execute(
                "SELECT coalesce(sum(count), 0) FROM batches").fetchone()[0]
        except sqlite3.DatabaseError as err:
            if not corrupt(err):
                self._close()
                if full(err):
                    raise StorageFull(self.directory) from err
                raise
            self._move_aside(err, "whatever it held is not sent")

    def _move_aside(self, err: sqlite3.DatabaseError, lost: str) -> None:
        self._close()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = f"{self.path}.corrupt-{stamp}"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.replace(self.path + suffix, aside + suffix)
        self.log.error("Spool file %s is corrupt (%s): moved to %s; %s (`sqlite3 %s .recover` "
                       "may save some); starting a fresh spool", self.path, err, aside, lost,
                       aside)
        self._db = connect(self.path)
        self._count, self._sent_up_to, self._unsettled = 0, 0, False

    def _close(self) -> None:
        self._checkpointer.close()
        close_quietly(self._db)
        self._db = None

    def close(self) -> None:
        with self._lock:
            self._close()
            self._checkpointer.stop()

    def maintain(self) -> None:
        self._checkpointer.run()

    # The storage.
    def _transaction(self) -> sqlite3.Connection:
        return self._db  # `with db:` commits, or rolls back on an exception

    def _append(self, rows: List[Row]) -> None:
        self._db.executemany(
            "INSERT INTO batches(key, count, text, bounds) VALUES (?, ?, ?, ?)", rows)

    def _batches(self) -> Iterator[Batch]:
        cursor = self._db.execute("SELECT id, key, count, text, bounds FROM batches "
                                  "WHERE id > ? ORDER BY id", (self._sent_up_to,))
        return (Batch(*row) for row in cursor)

    def _delete(self, ids: Sequence[int]) -> int:
        removed = 0
        if not ids:
            return 0
        for where, args in id_clauses(sorted(set(ids))):
            (lines,) = self._db.execute(
                f"SELECT coalesce(sum(count), 0) FROM batches WHERE {where}", args).fetchone()
            self._db.execute(f"DELETE FROM batches WHERE {where}", args)
            removed += lines
        return removed

    def _replace(self, batch: Batch) -> None:
        self._db.execute("UPDATE batches SET count = ?, text = ?, bounds = ? WHERE id = ?",
                         (batch.count, batch.text, batch.bounds, batch.id))
