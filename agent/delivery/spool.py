"""The spool: line-protocol lines waiting for one output, on disk (SQLite, WAL) or in memory.

A line is in the spool before its gather counts as done; it leaves only when the server has
acknowledged it (or it was dead-lettered). Lines are stored in batches (one row per put, at
most `batch_lines` lines each), so a gather or a chunk of `agent write` costs one insert and a
request one select and one delete, whatever the number of lines. Bounded by `limit` lines:
when full, the oldest lines are dropped and counted (the oldest batch is trimmed if it is only
partly over). With WAL and synchronous=NORMAL a committed batch survives kill -9 (a power cut
may lose the last commits; the OS has them, not the disk).
"""

from __future__ import annotations

import collections
import os
import sqlite3
import threading
from array import array
from itertools import accumulate
from typing import Deque, List, NamedTuple, Optional, Sequence, Tuple


class Batch(NamedTuple):
    """Lines put together: `text` is their concatenation, each ending in a newline."""

    id: int
    key: str  # routes the lines (e.g. the bucket); "" = the output's default
    count: int
    text: str
    # End offsets of the lines in text when a line has a newline inside (a string field);
    # None when every newline ends a line.
    bounds: Optional[bytes] = None

    def lines(self) -> List[str]:
        """The lines one by one (for finding a rejected line, or trimming)."""
        if self.bounds is None:
            return split_lines(self.text)
        ends = array("q", self.bounds)
        return [self.text[start:end] for start, end in zip([0, *ends[:-1]], ends)]


def split_lines(text: str) -> List[str]:
    """Lines of a text in which every newline ends a line (str.splitlines also splits at
    \\r, \\x1c and other characters that may be inside a line)."""
    return [line + "\n" for line in text.split("\n")[:-1]]


def bounds_of(lines: Sequence[str], text: str) -> Optional[bytes]:
    """The end offsets to store for these lines (text: their concatenation), or None when
    newlines alone separate them."""
    if text.count("\n") == len(lines):
        return None
    return array("q", accumulate(map(len, lines))).tobytes()


class Spool:
    """Thread-safe FIFO of lines in batches, with a size limit in lines."""

    def __init__(self, path: Optional[str], limit: int, batch_lines: int = 1000) -> None:
        self.path = path
        self.limit = limit
        self.batch_lines = max(1, batch_lines)
        self.dropped = 0
        self._lock = threading.Lock()
        self._next_id = 1
        self._memory: Deque[Batch] = collections.deque()
        self._db: Optional[sqlite3.Connection] = None
        self._count = 0
        if path:
            self._db = _open(path)
            self._count = self._db.execute("SELECT coalesce(sum(count), 0) FROM batches") \
                .fetchone()[0]

    def __len__(self) -> int:
        return self._count

    @property
    def durable(self) -> bool:
        return self._db is not None

    def put(self, lines: Sequence[str], key: str = "") -> int:
        """Append lines (each ending in a newline); returns how many old lines were dropped."""
        if not lines:
            return 0
        step = self.batch_lines
        parts = [lines[i:i + step] for i in range(0, len(lines), step)]
        texts = ["".join(part) for part in parts]
        return self._insert([(key, len(part), text, bounds_of(part, text))
                             for part, text in zip(parts, texts)])

    def put_text(self, text: str, count: int, key: str = "") -> int:
        """Append count lines given as one text in which every newline ends a line."""
        if count <= self.batch_lines:
            return self._insert([(key, count, text, None)]) if count else 0
        return self.put(split_lines(text), key)

    def _insert(self, rows: List[tuple]) -> int:
        with self._lock:
            if self._db is None:
                self._memory.extend(Batch(self._take_id(), *row) for row in rows)
            else:
                with self._db:
                    self._db.executemany(
                        "INSERT INTO batches(key, count, text, bounds) VALUES (?, ?, ?, ?)", rows)
            self._count += sum(row[1] for row in rows)
            return self._enforce_limit()

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _enforce_limit(self) -> int:
        """Drop the oldest lines beyond the limit; returns how many."""
        excess = self._count - self.limit
        if excess <= 0:
            return 0
        whole = self._oldest(excess)
        if sum(b.count for b in whole) > excess:  # a single oldest batch larger than the excess
            whole = []
        self._delete([b.id for b in whole])
        rest = excess - sum(b.count for b in whole)
        if rest:
            self._trim(self._oldest(1)[0], rest)
        self._count -= excess
        self.dropped += excess
        return excess

    def peek(self, count: int) -> List[Batch]:
        """The oldest batches holding at most count lines (at least one batch)."""
        with self._lock:
            return self._oldest(count)

    def _oldest(self, count: int) -> List[Batch]:
        taken: List[Batch] = []
        total = 0
        source = iter(self._memory) if self._db is None else (
            Batch(*row) for row in self._db.execute(
                "SELECT id, key, count, text, bounds FROM batches ORDER BY id"))
        for batch in source:
            if taken and total + batch.count > count:
                break
            taken.append(batch)
            total += batch.count
        return taken

    def remove(self, ids: Sequence[int]) -> None:
        """Forget delivered (or dead-lettered) batches."""
        if not ids:
            return
        with self._lock:
            self._count -= self._delete(ids)

    def _delete(self, ids: Sequence[int]) -> int:
        """Delete batches; returns how many lines they held."""
        gone = set(ids)
        if not gone:
            return 0
        if self._db is None:
            return self._delete_in_memory(gone)
        removed = 0
        with self._db:
            for where, args in _id_clauses(sorted(gone)):
                (lines,) = self._db.execute(
                    f"SELECT coalesce(sum(count), 0) FROM batches WHERE {where}", args).fetchone()
                self._db.execute(f"DELETE FROM batches WHERE {where}", args)
                removed += lines
        return removed

    def _delete_in_memory(self, gone: set) -> int:
        memory, removed = self._memory, 0
        while memory and memory[0].id in gone:  # the usual case: the oldest were sent
            gone.discard(memory[0].id)
            removed += memory.popleft().count
        if gone:
            removed += sum(b.count for b in memory if b.id in gone)
            self._memory = collections.deque(b for b in memory if b.id not in gone)
        return removed

    def _trim(self, batch: Batch, drop: int) -> None:
        """Drop the first `drop` lines of a batch, keeping the rest in its place."""
        kept = batch.lines()[drop:]
        text = "".join(kept)
        trimmed = batch._replace(count=len(kept), text=text, bounds=bounds_of(kept, text))
        if self._db is None:
            self._memory[0] = trimmed
            return
        with self._db:
            self._db.execute("UPDATE batches SET count = ?, text = ?, bounds = ? WHERE id = ?",
                             (trimmed.count, trimmed.text, trimmed.bounds, batch.id))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _id_clauses(ids: List[int]) -> List[Tuple[str, Tuple[int, ...]]]:
    """WHERE clauses for sorted ids: one range when contiguous (the usual: the oldest batches
    were sent), else chunks small enough for any SQLite's variable limit (999 before 3.32)."""
    if ids[-1] - ids[0] + 1 == len(ids):
        return [("id BETWEEN ? AND ?", (ids[0], ids[-1]))]
    chunks = [tuple(ids[i:i + 500]) for i in range(0, len(ids), 500)]
    return [(f"id IN ({','.join('?' * len(chunk))})", chunk) for chunk in chunks]


def _open(path: str) -> sqlite3.Connection:
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY AUTOINCREMENT, "
               "key TEXT NOT NULL, count INTEGER NOT NULL, text TEXT NOT NULL, bounds BLOB)")
    _migrate_line_table(db)
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
