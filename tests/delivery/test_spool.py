"""The spool on its own: batches in, lines out in order, the limit trims exactly, old spools
migrate, and disk and memory behave the same."""

import sqlite3

import pytest

from agent.delivery.spool import Batch, MemorySpool, Spool
from agent.delivery.sqlite_spool import SqliteSpool


def every_line(spool: Spool):
    return [line for batch in spool.peek(1 << 30) for line in batch.lines()]


@pytest.fixture(params=["disk", "memory"])
def make_spool(request, tmp_path):
    made = []

    def make(limit=100, batch_lines=10):
        if request.param == "disk":
            made.append(SqliteSpool(str(tmp_path / "s.sqlite"), limit, batch_lines))
        else:
            made.append(MemorySpool(limit, batch_lines))
        return made[-1]

    yield make
    for spool in made:
        spool.close()


def test_lines_come_out_in_order_in_batches_of_at_most_batch_lines(make_spool):
    spool = make_spool(batch_lines=4)
    lines = [f"m v={i}i {i}\n" for i in range(10)]
    assert spool.put(lines[:7]) == 0
    assert spool.put_text("".join(lines[7:]), 3) == 0
    assert len(spool) == 10
    assert [b.count for b in spool.peek(1 << 30)] == [4, 3, 3]
    assert every_line(spool) == lines


def test_peek_takes_whole_batches_up_to_the_count_but_at_least_one(make_spool):
    spool = make_spool(batch_lines=5)
    spool.put([f"a v={i}i\n" for i in range(5)])
    spool.put([f"b v={i}i\n" for i in range(5)])
    assert [b.count for b in spool.peek(7)] == [5]
    assert [b.count for b in spool.peek(10)] == [5, 5]
    assert [b.count for b in spool.peek(2)] == [5]


def test_the_limit_drops_exactly_the_oldest_lines_trimming_a_batch(make_spool):
    spool = make_spool(limit=10, batch_lines=4)
    lines = [f"m v={i}i {i}\n" for i in range(13)]
    dropped = spool.put(lines[:8]) + spool.put(lines[8:])
    assert dropped == 3 and spool.dropped == 3
    assert len(spool) == 10
    assert every_line(spool) == lines[3:]


def test_remove_takes_out_batches_contiguous_or_not(make_spool):
    spool = make_spool(batch_lines=1)
    spool.put([f"m v={i}i\n" for i in range(6)])
    ids = [b.id for b in spool.peek(6)]
    spool.remove([ids[1], ids[4]])
    spool.remove(ids[2:4])
    assert len(spool) == 2
    assert every_line(spool) == ["m v=0i\n", "m v=5i\n"]


def test_a_newline_inside_a_string_field_keeps_its_line_whole(make_spool):
    spool = make_spool(limit=3)
    lines = ['m s="two\nlines" 1\n', "m v=2i 2\n", 'm s="x\ny\nz" 3\n', "m v=4i 4\n"]
    assert spool.put(lines) == 1
    assert every_line(spool) == lines[1:]


def test_a_disk_spool_survives_reopening_with_its_count(tmp_path):
    path = str(tmp_path / "s.sqlite")
    spool = SqliteSpool(path, 100, 3)
    spool.put([f"m v={i}i\n" for i in range(7)], key="bucket-a")
    spool.close()
    again = SqliteSpool(path, 100, 3)
    assert len(again) == 7
    assert {b.key for b in again.peek(100)} == {"bucket-a"}
    again.close()


def test_a_spool_of_the_one_line_per_row_format_is_migrated_in_order(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE spool (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, "
               "line TEXT NOT NULL)")
    db.executemany("INSERT INTO spool(key, line) VALUES (?, ?)",
                   [("", f"m v={i}i\n") for i in range(5)])
    db.commit()
    db.close()
    spool = SqliteSpool(str(path), 100, 10)
    assert len(spool) == 5
    assert every_line(spool) == [f"m v={i}i\n" for i in range(5)]
    spool.close()


def test_batch_lines_of_a_plain_batch_split_only_at_newlines():
    # \r, \x1c and \x85 are line breaks for str.splitlines, not for line protocol.
    batch = Batch(1, "", 2, "m s=\"a\rb\x1cc\x85\" 1\nm v=1i 2\n")
    assert batch.lines() == ["m s=\"a\rb\x1cc\x85\" 1\n", "m v=1i 2\n"]


def test_an_emptied_disk_spool_gives_its_space_back(tmp_path):
    path = tmp_path / "s.sqlite"
    spool = SqliteSpool(str(path), 1_000_000, 1000)
    for start in range(0, 200_000, 1000):
        spool.put([f"m,host=a value={i}i,text=\"{'x' * 40}\" {i}\n"
                   for i in range(start, start + 1000)])
    size = sum(p.stat().st_size for p in tmp_path.glob("s.sqlite*"))
    assert size > 10_000_000
    while len(spool):
        spool.remove([b.id for b in spool.peek(10_000)])
    left = sum(p.stat().st_size for p in tmp_path.glob("s.sqlite*"))
    assert left < 1_000_000, f"{left} bytes left of {size}"
    spool.put(["m v=1i 1\n"])
    spool.close()
    assert every_line(SqliteSpool(str(path), 100, 10)) == ["m v=1i 1\n"]


def test_an_old_spool_without_auto_vacuum_is_switched_when_it_empties(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE batches (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, "
               "count INTEGER NOT NULL, text TEXT NOT NULL, bounds BLOB)")
    db.executemany("INSERT INTO batches(key, count, text) VALUES ('', 1000, ?)",
                   [("m v=1i 1\n" * 1000,)] * 1000)
    db.commit()
    db.close()
    spool = SqliteSpool(str(path), 10_000_000, 1000)
    assert len(spool) == 1_000_000
    while len(spool):
        spool.remove([b.id for b in spool.peek(100_000)])
    spool.close()
    assert path.stat().st_size < 100_000
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA auto_vacuum").fetchone() == (2,)
    check.close()
