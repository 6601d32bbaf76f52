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
from typing import Iterator, List, Optional, Sequence, Tuple

from agent.delivery.spool import Batch, Row, Spool

RECLAIM_BYTES = 1 << 20  # an emptied spool with more free space than this gives it back
WAL_PAGES = 256  # checkpoint the WAL at this many pages (1 MiB of 4 KiB pages)
REPORT_EVERY = 60.0  # a condition that comes and goes is logged at most this often
log = logging.getLogger("agent.delivery")


class StorageFull(Exception):
    """The buffer directory's file system has no room: nothing new can be spooled."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.free = free_bytes(directory)
        super().__init__(f"buffer_directory {directory} is full ({human_bytes(self.free)} free)")


class SqliteSpool(Spool):
    durable = True

    def __init__(self, path: str, limit: int, batch_lines: int = 1000,
                 logger: Optional[logging.Logger | logging.LoggerAdapter] = None) -> None:
        super().__init__(limit, batch_lines)
        self.path = path
        self.directory = os.path.dirname(path) or "."
        self.log = logger or log
        # Batches up to this id were delivered but could not be deleted (a full disk).
        self._sent_up_to = 0
        self._unsettled = False
        self._kept_report, self._fresh_report = Every(REPORT_EVERY), Every(REPORT_EVERY)
        self._db: Optional[sqlite3.Connection] = None
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
                if not _full(err):
                    self._recover(err)
                    return
                self._keep_as_sent(ids)
            if not self._count:
                self._emptied()

    def _recover(self, err: sqlite3.DatabaseError) -> None:
        """A full disk becomes StorageFull; a corrupt file is moved aside; the rest is raised."""
        if _full(err):
            raise StorageFull(self.directory) from err
        if not _corrupt(err):
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
            if not _full(err):
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
                _remove(self.path + suffix)
            self._open_or_start_over()
            return
        try:
            _reclaim(self._db, self.path)
        except sqlite3.OperationalError as err:  # e.g. a full disk: it is only an optimisation
            self.log.debug("Cannot reclaim the space of %s: %s", self.path, err)

    # A corrupt file.
    def _open_or_start_over(self) -> None:
        self._sent_up_to, self._unsettled = 0, False
        try:
            self._db = _connect(self.path)
            self._count = self._db.execute(
                "SELECT coalesce(sum(count), 0) FROM batches").fetchone()[0]
        except sqlite3.DatabaseError as err:
            if not _corrupt(err):
                self._close()
                if _full(err):
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
        self._db = _connect(self.path)
        self._count, self._sent_up_to, self._unsettled = 0, 0, False

    def _close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def close(self) -> None:
        with self._lock:
            self._close()

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
        for where, args in _id_clauses(sorted(set(ids))):
            (lines,) = self._db.execute(
                f"SELECT coalesce(sum(count), 0) FROM batches WHERE {where}", args).fetchone()
            self._db.execute(f"DELETE FROM batches WHERE {where}", args)
            removed += lines
        return removed

    def _replace(self, batch: Batch) -> None:
        self._db.execute("UPDATE batches SET count = ?, text = ?, bounds = ? WHERE id = ?",
                         (batch.count, batch.text, batch.bounds, batch.id))


class Every:
    """due() is True at most once per `seconds`: for conditions that come and go."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last: Optional[float] = None

    def due(self) -> bool:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.seconds:
            return False
        self._last = now
        return True


def _full(err: sqlite3.Error) -> bool:
    return isinstance(err, sqlite3.OperationalError) and "is full" in str(err)


def _corrupt(err: sqlite3.Error) -> bool:
    text = str(err)
    return not isinstance(err, sqlite3.OperationalError) and (
        "malformed" in text or "not a database" in text)


def _id_clauses(ids: List[int]) -> List[Tuple[str, Tuple[int, ...]]]:
    """WHERE clauses for sorted ids: one range when contiguous (the usual: the oldest batches
    were sent), else chunks small enough for any SQLite's variable limit (999 before 3.32)."""
    if ids[-1] - ids[0] + 1 == len(ids):
        return [("id BETWEEN ? AND ?", (ids[0], ids[-1]))]
    chunks = [tuple(ids[i:i + 500]) for i in range(0, len(ids), 500)]
    return [(f"id IN ({','.join('?' * len(chunk))})", chunk) for chunk in chunks]


def _connect(path: str) -> sqlite3.Connection:
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect in a new file only
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        # The WAL is checkpointed (and reused) at about 1 MiB, and cut back to 1 MiB after:
        # its default of 4 MiB would be most of a small buffer disk.
        db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
        db.execute(f"PRAGMA journal_size_limit={RECLAIM_BYTES}")
        db.execute("CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                   "key TEXT NOT NULL, count INTEGER NOT NULL, text TEXT NOT NULL, bounds BLOB)")
        _migrate_line_table(db)
    except sqlite3.Error:
        db.close()
        raise
    db.isolation_level = "DEFERRED"  # `with db:` = one transaction per put/remove
    return db


def _migrate_line_table(db: sqlite3.Connection) -> None:
    """Spools written by versions that stored one line per row: move them over, in order."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'spool'").fetchone() is None:
        return
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO batches(key, count, text) SELECT key, 1, line FROM spool ORDER BY id")
    db.execute("DROP TABLE spool")
    db.execute("COMMIT")


def _reclaim(db: sqlite3.Connection, path: str) -> None:
    """Give an empty spool's free pages back and truncate its WAL, when worth it."""
    (free,) = db.execute("PRAGMA freelist_count").fetchone()
    (page,) = db.execute("PRAGMA page_size").fetchone()
    wal = os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
    if free * page < RECLAIM_BYTES and wal < RECLAIM_BYTES:
        return
    (mode,) = db.execute("PRAGMA auto_vacuum").fetchone()
    if mode == 2:  # incremental; executescript steps the pragma to the end (execute: 1 page)
        db.executescript("PRAGMA incremental_vacuum;")
    else:  # a spool made before auto_vacuum: VACUUM once (an empty one is quick) to switch
        db.executescript("PRAGMA auto_vacuum=INCREMENTAL; VACUUM;")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def free_bytes(directory: str) -> int:
    try:
        stat = os.statvfs(directory)
    except OSError:
        return 0
    return stat.f_bavail * stat.f_frsize


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"
