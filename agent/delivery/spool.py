"""The spool: line-protocol lines waiting for one output, on disk (SQLite, WAL) or in memory.

A line is in the spool before its gather counts as done; it leaves only when the server has
acknowledged it (or it was dead-lettered). Bounded by `limit` lines: when full, the oldest
are dropped and counted. With WAL and synchronous=NORMAL a committed line survives kill -9
(a power cut may lose the last commits; the OS has them, not the disk).
"""

from __future__ import annotations

import collections
import os
import sqlite3
import threading
from typing import Deque, List, Optional, Sequence, Tuple

Row = Tuple[int, str, str]  # (id, key, line); key routes the line (e.g. the bucket), "" = default


class Spool:
    """Thread-safe FIFO of (key, line) with a size limit."""

    def __init__(self, path: Optional[str], limit: int) -> None:
        self.path = path
        self.limit = limit
        self.dropped = 0
        self._lock = threading.Lock()
        self._next_id = 1
        self._memory: Deque[Row] = collections.deque()
        self._db: Optional[sqlite3.Connection] = None
        if path:
            self._db = _open(path)
            self._count = self._db.execute("SELECT count(*) FROM spool").fetchone()[0]
        else:
            self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def durable(self) -> bool:
        return self._db is not None

    def put(self, lines: Sequence[str], key: str = "") -> int:
        """Append lines; returns how many old lines were dropped to stay within the limit."""
        if not lines:
            return 0
        with self._lock:
            if self._db is None:
                self._memory.extend((self._take_id(), key, line) for line in lines)
            else:
                with self._db:
                    self._db.executemany("INSERT INTO spool(key, line) VALUES (?, ?)",
                                         [(key, line) for line in lines])
            self._count += len(lines)
            return self._enforce_limit()

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _enforce_limit(self) -> int:
        excess = self._count - self.limit
        if excess <= 0:
            return 0
        if self._db is None:
            for _ in range(excess):
                self._memory.popleft()
        else:
            with self._db:
                self._db.execute("DELETE FROM spool WHERE id IN "
                                 "(SELECT id FROM spool ORDER BY id LIMIT ?)", (excess,))
        self._count -= excess
        self.dropped += excess
        return excess

    def peek(self, count: int) -> List[Row]:
        """The oldest lines, without removing them."""
        with self._lock:
            if self._db is None:
                return [self._memory[i] for i in range(min(count, len(self._memory)))]
            return self._db.execute(
                "SELECT id, key, line FROM spool ORDER BY id LIMIT ?", (count,)).fetchall()

    def remove(self, ids: Sequence[int]) -> None:
        """Forget delivered (or dead-lettered) lines."""
        if not ids:
            return
        with self._lock:
            if self._db is None:
                gone = set(ids)
                before = len(self._memory)
                self._memory = collections.deque(r for r in self._memory if r[0] not in gone)
                self._count -= before - len(self._memory)
                return
            low, high = min(ids), max(ids)
            with self._db:
                if high - low + 1 == len(ids):  # a contiguous batch: one range delete
                    cursor = self._db.execute("DELETE FROM spool WHERE id BETWEEN ? AND ?",
                                              (low, high))
                else:
                    cursor = self._db.executemany("DELETE FROM spool WHERE id = ?",
                                                  [(i,) for i in ids])
            self._count -= cursor.rowcount if cursor.rowcount >= 0 else len(ids)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _open(path: str) -> sqlite3.Connection:
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS spool ("
               "id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, line TEXT NOT NULL)")
    db.isolation_level = "DEFERRED"  # `with db:` = one transaction per put/remove
    return db
