"""A corrupt spool file (random bytes, truncated, garbage pages) is moved aside to
`<name>.corrupt-<time>`, said so with both paths, and a fresh spool is started: `agent run` and
`agent write` keep working and deliver what comes next."""

from __future__ import annotations

import os
import subprocess

import pytest

from agent.delivery.sqlite_spool import SqliteSpool
from tests.delivery_helpers import (
    AGENT,
    AgentProcess,
    file_metrics,
    influx_times,
    influx_times_so_far,
    wait_until,
)

PAGE = 4096


def random_bytes(path):
    size = path.stat().st_size
    path.write_bytes(os.urandom(size))


def truncated(path):
    with open(path, "r+b") as spool:
        spool.truncate(path.stat().st_size // 2)


def garbage_pages(path):
    with open(path, "r+b") as spool:
        for page in (1, 2, 3):  # the table's root and first leaves (page 0 is the header)
            spool.seek(page * PAGE)
            spool.write(os.urandom(PAGE))


CORRUPTIONS = {"random bytes": random_bytes, "truncated": truncated,
               "garbage pages": garbage_pages}


def config_text(tmp_path, url: str, extra: str = "") -> str:
    return (f'[agent]\n  interval = "100ms"\n  flush_interval = "200ms"\n'
            f'  shutdown_timeout = "2s"\n  metric_batch_size = 10\n'
            f'  buffer_directory = "{tmp_path / "spool"}"\n{extra}'
            f'[[outputs.influxdb]]\n  urls = ["{url}"]\n  database = "corrupt"\n')


def spool_with_lines(tmp_path, server) -> str:
    """A spool file holding 2000 lines for `server`, which is left stopped... and started."""
    config = tmp_path / "fill.toml"
    config.write_text(config_text(tmp_path, server.url))
    server.stop()
    lines = "".join(f"old n={i}i {1_700_000_000_000_000_000 + i}\n" for i in range(2000))
    result = subprocess.run([*AGENT, "write", "--config", str(config)], input=lines.encode(),
                            capture_output=True, timeout=60)
    assert result.returncode == 75, result.stderr
    server.start()
    (path,) = (tmp_path / "spool").glob("*.sqlite")
    return str(path)


def moved_aside_line(log: str, path: str) -> str:
    lines = [line for line in log.splitlines() if f"Spool file {path} is corrupt" in line]
    assert len(lines) == 1, log
    return lines[0]


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=list(CORRUPTIONS))
def test_agent_write_moves_a_corrupt_spool_aside_and_delivers(tmp_path, own_influx, corrupt):
    path = spool_with_lines(tmp_path, own_influx)
    corrupt(tmp_path / "spool" / os.path.basename(path))
    config = tmp_path / "write.toml"
    config.write_text(config_text(tmp_path, own_influx.url))
    new = "".join(f"new n={i}i {1_700_000_000_000_000_000 + i}\n" for i in range(100))
    result = subprocess.run([*AGENT, "write", "--config", str(config)], input=new.encode(),
                            capture_output=True, timeout=60)
    log = result.stderr.decode()
    assert result.returncode == 0, log
    line = moved_aside_line(log, path)
    (aside,) = (tmp_path / "spool").glob("*.corrupt-*")
    assert f"moved to {aside};" in line and "starting a fresh spool" in line
    rows = own_influx.rows('SELECT "n" FROM "new"', db="corrupt")
    assert sorted(r["n"] for r in rows) == list(range(100))
    assert "DatabaseError" not in log and "Traceback" not in log


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=list(CORRUPTIONS))
def test_agent_run_moves_a_corrupt_spool_aside_and_keeps_running(tmp_path, own_influx, corrupt):
    path = spool_with_lines(tmp_path, own_influx)
    corrupt(tmp_path / "spool" / os.path.basename(path))
    truth = tmp_path / "truth.lp"
    config = config_text(tmp_path, own_influx.url, "") + (
        f'[[inputs.mem]]\n  fieldinclude = ["used"]\n[[outputs.file]]\n  files = ["{truth}"]\n')
    with AgentProcess(tmp_path, config) as agent:
        assert wait_until(lambda: len(influx_times_so_far(own_influx, "corrupt")) >= 10, 20), \
            agent.stderr()
        agent.terminate()
    moved_aside_line(agent.stderr(), path)
    assert list((tmp_path / "spool").glob("*.corrupt-*"))
    gathered = {m.time: m.fields["used"] for m in file_metrics(truth)}
    assert influx_times(own_influx, "corrupt") == gathered, "everything gathered arrived"


def test_garbage_found_while_running_moves_the_spool_aside_and_the_next_put_works(tmp_path):
    path = tmp_path / "s.sqlite"
    spool = SqliteSpool(str(path), 10_000, 1000)
    spool.put([f"m text=\"{'x' * 90}\" {i}\n" for i in range(1000)])  # one batch on many pages
    spool.close()
    with open(path, "r+b") as raw:  # the batch's overflow pages, not the table's own pages
        raw.seek(4 * PAGE)
        raw.write(os.urandom(8 * PAGE))
    spool = SqliteSpool(str(path), 10_000, 1000)
    assert len(spool) == 1000, "the count is readable: the damage shows only when read"
    assert spool.peek(1000) == []
    assert len(spool) == 0 and list(tmp_path.glob("s.sqlite.corrupt-*"))
    spool.put(["m v=1i 1\n"])
    assert [b.text for b in spool.peek(10)] == ["m v=1i 1\n"]
    spool.close()
