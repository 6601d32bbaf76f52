"""A buffer directory on a small tmpfs that fills up: one clear error naming the directory and
the free space, what is spooled is still delivered (deleting sent batches works on a full
disk), new metrics are dropped and counted until there is room, then it all resumes by itself.
Lines in = lines out: InfluxDB + spool + the drops reported."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from agent.delivery.sqlite_spool import SqliteSpool
from tests.delivery.conftest import fill
from tests.delivery_helpers import (
    AGENT,
    AgentProcess,
    file_metrics,
    influx_times,
    influx_times_so_far,
    spooled_lines,
    wait_until,
)

T0 = 1_700_000_000_000_000_000


def write_config(tmp_path, spool, url: str, db: str) -> str:
    path = tmp_path / "write.toml"
    path.write_text(f'[agent]\n  buffer_directory = "{spool}"\n  shutdown_timeout = "2s"\n'
                    f'  metric_buffer_limit = 1000000\n  retry_max_interval = "1s"\n'
                    f'[[outputs.influxdb]]\n  urls = ["{url}"]\n  database = "{db}"\n'
                    f'  skip_database_creation = true\n')
    return str(path)


def agent_write(config: str, data: str):
    return subprocess.run([*AGENT, "write", "--config", config], input=data.encode(),
                          capture_output=True, timeout=180)


def test_agent_write_on_a_full_disk_names_the_line_and_the_free_space_then_resumes(
        tmp_path, own_influx, small_disk):
    own_influx.create_database("full_write")
    spool = small_disk(1 << 20)
    config = write_config(tmp_path, spool, own_influx.url, "full_write")
    lines = [f"full n={i}i {T0 + i}\n" for i in range(60_000)]
    own_influx.stop()
    result = agent_write(config, "".join(lines))
    stderr = result.stderr.decode()
    assert result.returncode == 75, stderr
    stopped = re.search(rf"cannot spool: buffer_directory {re.escape(str(spool))} is full "
                        r"\([0-9.]+ [KM]?i?B free\): stopped before line (\d+);", stderr)
    assert stopped, stderr
    first_not_taken = int(stopped.group(1))
    assert 1 < first_not_taken < len(lines)
    assert spooled_lines(spool) == lines[:first_not_taken - 1], "every line before it is kept"
    assert "OperationalError" not in stderr and "Traceback" not in stderr

    own_influx.start()
    rest = agent_write(config, "".join(lines[first_not_taken - 1:]))
    assert rest.returncode == 0, rest.stderr.decode()
    stored = own_influx.rows('SELECT "n" FROM "full"', db="full_write")
    assert sorted(row["n"] for row in stored) == list(range(len(lines)))
    assert spooled_lines(spool) == []


def test_agent_run_on_a_full_disk_keeps_delivering_counts_the_drops_and_resumes_by_itself(
        tmp_path, own_influx, small_disk):
    own_influx.create_database("full_run")
    spool = small_disk(4 << 20)
    fill(spool, leave=3 << 19)  # another program took most of the disk
    truth = tmp_path / "truth.lp"
    config = (f'[agent]\n  interval = "20ms"\n  flush_interval = "200ms"\n'
              f'  retry_max_interval = "1s"\n  shutdown_timeout = "10s"\n'
              f'  metric_buffer_limit = 1000000\n  buffer_directory = "{spool}"\n'
              + "".join(f'[[inputs.mem]]\n  tags = {{i = "{i}"}}\n' for i in range(5)) +
              f'[[outputs.file]]\n  files = ["{truth}"]\n'
              f'[[outputs.influxdb]]\n  urls = ["{own_influx.url}"]\n  database = "full_run"\n'
              f'  timeout = "1s"\n  skip_database_creation = true\n')
    own_influx.stop()
    with AgentProcess(tmp_path, config) as agent:
        assert wait_until(lambda: " is full (" in agent.stderr(), 60), agent.stderr()
        full = next(line for line in agent.stderr().splitlines() if " is full (" in line)
        assert f"buffer_directory {spool} is full (" in full and " free): " in full
        assert "new metric(s) dropped" in full and "are still delivered" in full
        gathered_when_full = len(file_metrics(truth))
        assert wait_until(lambda: len(file_metrics(truth)) > gathered_when_full + 100, 30)
        own_influx.start()
        assert wait_until(lambda: "has room again" in agent.stderr(), 60), agent.stderr()
        spooling_again = len(file_metrics(truth))
        arrived = lambda: influx_times_so_far(  # noqa: E731
            own_influx, "full_run", measurement="mem", field="total")
        assert wait_until(lambda: len(arrived()) > spooling_again, 60), \
            "metrics gathered after the recovery arrive"
        agent.terminate(timeout=60)
    log = agent.stderr()
    assert "Traceback" not in log and "failed:" not in log, "the writer never died"
    dropped = sum(int(n) for n in re.findall(r"\((\d+) metric\(s\) dropped while it was full", log))
    gathered = file_metrics(truth)
    stored = influx_times(own_influx, "full_run", "mem", "total")
    # Five inputs (five series) gather at the same instant: count points, not timestamps.
    rows = own_influx.rows('SELECT count("total") FROM "mem"', db="full_run")
    assert dropped > 0
    assert len(gathered) == rows[0]["count"] + dropped + len(spooled_lines(spool))
    assert set(stored) <= {m.time for m in gathered}


def test_a_spool_left_on_a_full_disk_opens_with_its_lines(small_disk):
    """An agent killed with its spool's WAL in place, then the disk filled up: the next start
    opens the spool without writing to it (before: the setup statements failed with 'disk is
    full', and the lines it held could not be delivered to make room)."""
    spool = small_disk(1 << 20)
    path = str(spool / "s.sqlite")
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from agent.delivery.sqlite_spool import SqliteSpool\n"
         f"SqliteSpool({path!r}, 10**6, 100).put([f'm v={{i}}i\\n' for i in range(2000)])\n"
         "print('put', flush=True)\ntime.sleep(60)\n"], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "put\n"
    writer.kill()
    writer.wait()
    fill(spool, leave=0)
    assert os.statvfs(spool).f_bavail == 0
    reopened = SqliteSpool(path, 10**6, 100)
    try:
        assert len(reopened) == 2000
        assert reopened.peek(100)[0].lines()[0] == "m v=0i\n"
    finally:
        reopened.close()
