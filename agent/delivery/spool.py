"""The spool: line-protocol lines waiting for one output, oldest first, bounded in lines.

A line is in the spool before its gather counts as done; it leaves only when the server has
acknowledged it (or it was dead-lettered). Lines are stored in batches (one per put, at most
`batch_lines` lines each), so a gather or a chunk of `agent write` costs one insert and a
request one read and one delete, whatever the number of lines. Bounded by `limit` lines: when
full, the oldest lines are dropped and counted (the oldest batch is trimmed if it is only partly
over), in the same transaction as the insert.

`Spool` is the interface and the bookkeeping every storage shares (count, limit, drops);
a storage is a subclass: MemorySpool here, SqliteSpool (delivery/sqlite_spool.py) on disk.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from array import array
from itertools import accumulate
from typing import ContextManager, Deque, Iterator, List, NamedTuple, Optional, Sequence


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


Row = tuple  # (key, count, text, bounds): a batch before it has an id


class Spool:
    """Thread-safe FIFO of lines in batches, with a size limit in lines."""

    durable = False
    path: Optional[str] = None

    def __init__(self, limit: int, batch_lines: int = 1000) -> None:
        self.limit = limit
        self.batch_lines = max(1, batch_lines)
        self.dropped = 0
        self._count = 0
        self._lock = threading.RLock()
        # Held by the writer that drains this spool: a reload's new writer waits for the old.
        self.drain_slot = threading.Lock()

    def __len__(self) -> int:
        return self._count

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

    def _insert(self, rows: List[Row]) -> int:
        added = sum(row[1] for row in rows)
        with self._lock:
            with self._transaction():
                self._append(rows)
                dropped = self._drop_oldest(self._count + added - self.limit)
            self._count += added - dropped
            self.dropped += dropped
            return dropped

    def _drop_oldest(self, excess: int) -> int:
        """Drop the oldest `excess` lines (whole batches, then the start of one)."""
        if excess <= 0:
            return 0
        whole = self._oldest(excess)
        if sum(b.count for b in whole) > excess:  # a single oldest batch larger than the excess
            whole = []
        self._delete([b.id for b in whole])
        rest = excess - sum(b.count for b in whole)
        if rest:
            oldest = self._oldest(1)[0]
            kept = oldest.lines()[rest:]
            text = "".join(kept)
            self._replace(oldest._replace(count=len(kept), text=text,
                                          bounds=bounds_of(kept, text)))
        return excess

    def peek(self, count: int) -> List[Batch]:
        """The oldest batches holding at most count lines (at least one batch)."""
        with self._lock:
            return self._oldest(count)

    def _oldest(self, count: int) -> List[Batch]:
        taken: List[Batch] = []
        total = 0
        for batch in self._batches():
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
            with self._transaction():
                removed = self._delete(ids)
            self._count -= removed

    def maintain(self) -> None:
        """Housekeeping its writer does between deliveries, off the path of puts."""

    def close(self) -> None:
        """Release the storage."""

    # The storage: what a subclass provides.
    def _transaction(self) -> ContextManager[object]:
        """Everything inside happens, or nothing does."""
        raise NotImplementedError

    def _append(self, rows: List[Row]) -> None:
        raise NotImplementedError

    def _batches(self) -> Iterator[Batch]:
        """Every batch, oldest first (read lazily: peek stops early)."""
        raise NotImplementedError

    def _delete(self, ids: Sequence[int]) -> int:
        """Delete batches; returns how many lines they held."""
        raise NotImplementedError

    def _replace(self, batch: Batch) -> None:
        """Store a trimmed batch in place of the batch with its id."""
        raise NotImplementedError


class MemorySpool(Spool):
    """The memory buffer (buffer_strategy = "memory"): lost when the process ends."""

    def __init__(self, limit: int, batch_lines: int = 1000) -> None:
        super().__init__(limit, batch_lines)
        self._queue: Deque[Batch] = collections.deque()
        self._next_id = 1

    def _transaction(self) -> ContextManager[object]:
        return contextlib.nullcontext()

    def _append(self, rows: List[Row]) -> None:
        for row in rows:
            self._queue.append(Batch(self._next_id, *row))
            self._next_id += 1

    def _batches(self) -> Iterator[Batch]:
        return iter(self._queue)

    def _delete(self, ids: Sequence[int]) -> int:
        gone, queue, removed = set(ids), self._queue, 0
        while queue and queue[0].id in gone:  # the usual case: the oldest were sent
            gone.discard(queue[0].id)
            removed += queue.popleft().count
        if gone:
            removed += sum(b.count for b in queue if b.id in gone)
            self._queue = collections.deque(b for b in queue if b.id not in gone)
        return removed

    def _replace(self, batch: Batch) -> None:
        for index, old in enumerate(self._queue):
            if old.id == batch.id:
                self._queue[index] = batch
                return
