"""The spool's WAL is checkpointed by its writer, from a connection of its own and outside the
spool's lock: the commit that acknowledges a put never copies the WAL into the file (nor waits
for its fsync). SQLite's autocheckpoint stays as the net, so the WAL stays bounded with no
writer running. Read from the WAL index (the -shm file, laid out in SQLite's wal.c): mxFrame,
the frames in the WAL, and nBackfill, the frames a checkpoint has copied."""

from __future__ import annotations

import os
import struct

from agent.delivery.sqlite_file import CACHE_KIB, CHECKPOINT_EVERY, Checkpointer
from agent.delivery.sqlite_spool import SqliteSpool


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wal_index(path: str) -> tuple:
    """(mxFrame, nBackfill) of the spool at path."""
    with open(path + "-shm", "rb") as shm:
        head = shm.read(100)
    (frames,) = struct.unpack_from("=I", head, 16)  # WalIndexHdr.mxFrame
    (copied,) = struct.unpack_from("=I", head, 96)  # WalCkptInfo.nBackfill
    return frames, copied


def lines(count: int, start: int = 0) -> list:
    return [f"m,host=a v={i}i {1_700_000_000_000_000_000 + i}\n"
            for i in range(start, start + count)]


def test_a_put_commits_without_a_checkpoint_and_the_writer_checkpoints_when_due(tmp_path):
    path, clock = str(tmp_path / "s.sqlite"), Clock()
    spool = SqliteSpool(path, 100_000, 100, clock=clock)
    try:
        for start in range(0, 1000, 100):
            spool.put(lines(100, start))
        frames, copied = wal_index(path)
        assert frames > 0 and copied == 0, "nothing was copied in the commits"
        spool.maintain()
        assert wal_index(path) == (frames, 0), "not due yet: at most once a second"
        clock.now += CHECKPOINT_EVERY
        spool.maintain()
        assert wal_index(path) == (frames, frames), "every frame copied into the file"
        assert len(spool) == 1000 and spool.peek(1 << 30)[0].lines()[0] == lines(1)[0]
    finally:
        spool.close()


def test_the_wal_stays_bounded_when_no_writer_checkpoints(tmp_path):
    path = str(tmp_path / "s.sqlite")
    spool = SqliteSpool(path, 10_000_000, 1000, clock=Clock())
    try:
        for start in range(0, 60_000, 1000):  # about 3 MB of lines, and no maintain()
            spool.put(lines(1000, start))
        assert os.path.getsize(path + "-wal") < 2 << 20
        assert len(spool) == 60_000
    finally:
        spool.close()


def test_closing_the_spool_closes_the_checkpointers_connection(tmp_path):
    """What a corrupt file moved aside, or a fully sent one replaced, relies on: the old file
    is let go by both connections (SQLite removes the WAL once its last connection closes)."""
    path, clock = str(tmp_path / "s.sqlite"), Clock()
    spool = SqliteSpool(path, 100_000, 100, clock=clock)
    spool.put(lines(100))
    clock.now += CHECKPOINT_EVERY
    spool.maintain()  # the checkpointer's connection is open now
    assert os.path.exists(path + "-wal")
    spool.close()
    assert not os.path.exists(path + "-wal")
    clock.now += CHECKPOINT_EVERY
    spool.maintain()  # a writer still running after the close opens nothing again
    assert not os.path.exists(path + "-wal")
    spool = SqliteSpool(path, 100_000, 100, clock=clock)
    spool.put(lines(100))
    spool.close()
    reopened = SqliteSpool(path, 100_000, 100, clock=clock)
    try:
        assert len(reopened) == 200, "both puts, through two closes"
    finally:
        reopened.close()


def test_the_checkpointer_never_makes_a_file(tmp_path):
    clock = Clock()
    checkpointer = Checkpointer(str(tmp_path / "gone.sqlite"), clock)
    clock.now += CHECKPOINT_EVERY
    checkpointer.run()
    checkpointer.close()
    assert os.listdir(tmp_path) == []


def test_the_spool_keeps_a_small_page_cache(tmp_path):
    spool = SqliteSpool(str(tmp_path / "s.sqlite"), 100, 10)
    try:
        assert spool._db.execute("PRAGMA cache_size").fetchone() == (-CACHE_KIB,)
    finally:
        spool.close()
