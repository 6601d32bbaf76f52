"""The SQLite file under a SqliteSpool: opening (WAL, a bounded WAL, incremental vacuum,
the old one-line-per-row format migrated), checkpointing it off the commit path, giving an
emptied file's space back, and telling a full disk and a corrupt file from other errors."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from typing import Callable, List, Optional, Tuple
from urllib.parse import quote

log = logging.getLogger("agent.delivery")

RECLAIM_BYTES = 1 << 20  # an emptied spool with more free space than this gives it back
WAL_PAGES = 256  # checkpoint the WAL at this many pages (1 MiB of 4 KiB pages)
REPORT_EVERY = 60.0  # a condition that comes and goes is logged at most this often
CACHE_KIB = 256  # SQLite's page cache per spool file
CHECKPOINT_EVERY = 1.0  # seconds between the writer's own WAL checkpoints


class StorageFull(Exception):
    """The buffer directory's file system has no room: nothing new can be spooled."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.free = free_bytes(directory)
        super().__init__(f"buffer_directory {directory} is full ({human_bytes(self.free)} free)")


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


def full(err: sqlite3.Error) -> bool:
    return isinstance(err, sqlite3.OperationalError) and "is full" in str(err)


def corrupt(err: sqlite3.Error) -> bool:
    text = str(err)
    return not isinstance(err, sqlite3.OperationalError) and (
        "malformed" in text or "not a database" in text)


def id_clauses(ids: List[int]) -> List[Tuple[str, Tuple[int, ...]]]:
    """WHERE clauses for sorted ids: one range when contiguous (the usual: the oldest batches
    were sent), else chunks small enough for any SQLite's variable limit (999 before 3.32)."""
    if ids[-1] - ids[0] + 1 == len(ids):
        return [("id BETWEEN ? AND ?", (ids[0], ids[-1]))]
    chunks = [tuple(ids[i:i + 500]) for i in range(0, len(ids), 500)]
    return [(f"id IN ({','.join('?' * len(chunk))})", chunk) for chunk in chunks]


def connect(path: str) -> sqlite3.Connection:
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=NORMAL")
        # A FIFO appended at one end and read at the other gains nothing from SQLite's 2 MiB
        # page cache per file: the OS caches the file anyway.
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        # The WAL is checkpointed (and reused) at about 1 MiB, and cut back to 1 MiB after:
        # its default of 4 MiB would be most of a small buffer disk.
        db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
        db.execute(f"PRAGMA journal_size_limit={RECLAIM_BYTES}")
        if not _is_spool(db):  # a new file; an existing one is opened without writing to it,
            _create(db)        # so that a spool on a full disk can still be read and drained
        _migrate_line_table(db)
    except sqlite3.Error:
        db.close()
        raise
    db.isolation_level = "DEFERRED"  # `with db:` = one transaction per put/remove
    return db


def _is_spool(db: sqlite3.Connection) -> bool:
    """A spool file already set up: WAL (persistent in the file) and the batches table."""
    (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    return mode == "wal" and db.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'batches'").fetchone() is not None


def _create(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect in a new file only
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY AUTOINCREMENT, "
               "key TEXT NOT NULL, count INTEGER NOT NULL, text TEXT NOT NULL, bounds BLOB)")


def _migrate_line_table(db: sqlite3.Connection) -> None:
    """Spools written by versions that stored one line per row: move them over, in order."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'spool'").fetchone() is None:
        return
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO batches(key, count, text) SELECT key, 1, line FROM spool ORDER BY id")
    db.execute("DROP TABLE spool")
    db.execute("COMMIT")


def reclaim(db: sqlite3.Connection, path: str) -> None:
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


class Checkpointer:
    """Checkpoints a spool's WAL from a connection of its own, in the writer's thread and
    without the spool's lock: SQLite copies the WAL into the file while puts go on, so the
    commit that acknowledges a request does not wait for that copy and its fsync. At most once
    per CHECKPOINT_EVERY; the spool's autocheckpoint stays as the net for when no writer runs
    (an outage), so the WAL stays bounded either way."""

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.clock = clock
        self._db: Optional[sqlite3.Connection] = None
        self._lock = threading.Lock()  # a checkpoint under way, or the connection closing
        self._last = clock()
        self._stopped = False

    def run(self) -> None:
        """A passive checkpoint when one is due (never waits for readers or writers)."""
        if self.clock() - self._last < CHECKPOINT_EVERY:
            return
        self._last = self.clock()
        with self._lock:
            if self._stopped:
                return
            try:
                if self._db is None:  # mode=rw: never creates a file the spool let go of
                    self._db = sqlite3.connect(f"file:{quote(self.path)}?mode=rw", uri=True,
                                               check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as err:  # only an optimisation: the autocheckpoint remains
                log.debug("Checkpoint of %s skipped: %s", self.path, err)
                self._close()

    def close(self) -> None:
        """Before the spool file is closed, moved or removed (a new file gets a new one)."""
        with self._lock:
            self._close()

    def stop(self) -> None:
        """The spool is closed for good: no checkpoint opens it again."""
        with self._lock:
            self._stopped = True
            self._close()

    def _close(self) -> None:
        close_quietly(self._db)
        self._db = None


def close_quietly(db: Optional[sqlite3.Connection]) -> None:
    """Close a connection that may already be broken (a corrupt or vanished file)."""
    if db is not None:
        try:
            db.close()
        except sqlite3.Error:
            pass


def remove_file(path: str) -> None:
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
