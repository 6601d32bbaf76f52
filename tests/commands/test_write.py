"""`agent write` and outputs.influxdb_v2 (influxdb-client, SYNCHRONOUS) against real servers."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests import servers
from tests.delivery_helpers import AGENT, spooled_lines

BASE = '[agent]\n  buffer_directory = "{spool}"\n  shutdown_timeout = "3s"\n'


def agent_write(tmp_path, config: str, data: str):
    path = tmp_path / "write.toml"
    path.write_text(config)
    return subprocess.run([*AGENT, "write", "--config", str(path)], input=data.encode(),
                          capture_output=True, timeout=60)


def v2_output(url: str, extra: str = "") -> str:
    return (f'[[outputs.influxdb_v2]]\n  urls = ["{url}"]\n  token = "tok-SECRET"\n'
            f'  organization = "org"\n  bucket = "bucket"\n{extra}')


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_v2_output_delivers_to_victoria_metrics(tmp_path, victoria_metrics, encoding):
    tag = f"w_{encoding}"
    data = "".join(f"weather,site={tag} temp={20 + i / 10},n={i}i {1_700_000_000 + i}000000000\n"
                   for i in range(500))
    config = BASE.format(spool=tmp_path / "s") + v2_output(
        victoria_metrics.url, f'  content_encoding = "{encoding}"\n')
    result = agent_write(tmp_path, config, data)
    assert result.returncode == 0, result.stderr
    series = victoria_metrics.export(f'{{__name__="weather_temp",site="{tag}"}}', expect=500)
    values = sorted(v for s in series for v in s["values"])
    assert values == sorted(20 + i / 10 for i in range(500))
    assert b"tok-SECRET" not in result.stderr


def test_write_exit_codes_and_invalid_lines_reported_by_number(tmp_path, influxdb1):
    config = BASE.format(spool=tmp_path / "s") + (
        f'[[outputs.influxdb]]\n  urls = ["{influxdb1.url}"]\n  database = "writecodes"\n')
    good = "m v=1i 1700000000000000001\nm v=2i 1700000000000000002\n"
    assert agent_write(tmp_path, config, good).returncode == 0

    result = agent_write(tmp_path, config, "m v=3i 1700000000000000003\nm v=oops\n\nm,=x v=1\n")
    assert result.returncode == 65
    errors = [line for line in result.stderr.decode().splitlines() if " E! " in line]
    assert any("line 2: expected field: m v=oops" in e for e in errors)
    assert any("line 4: expected tag" in e for e in errors)
    rows = influxdb1.rows("SELECT v FROM m", db="writecodes")
    assert [r["v"] for r in rows] == [1, 2, 3]

    conflict = agent_write(tmp_path, config,
                           "m v=4i 1700000000000000004\nm v=4.5 1700000000000000005\n"
                           "m v=6i 1700000000000000006\n")
    assert conflict.returncode == 65, "refused by the server: not all delivered"
    assert [r["v"] for r in influxdb1.rows("SELECT v FROM m", db="writecodes")] == [1, 2, 3, 4, 6]
    dead = (tmp_path / "s" / "dead-letter.lp").read_text()
    assert "m v=4.5 1700000000000000005" in dead and "field type conflict" in dead
    assert "outputs.influxdb HTTP 400" in dead


def test_write_to_a_down_server_keeps_the_data_and_a_later_write_delivers_it(tmp_path):
    server = servers.InfluxDB1().start()
    try:
        server.create_database("later")
        config = BASE.format(spool=tmp_path / "s") + (
            f'[[outputs.influxdb]]\n  urls = ["{server.url}"]\n  database = "later"\n')
        server.stop()
        result = agent_write(tmp_path, config, "m v=7i 1700000000000000007\n")
        assert result.returncode == 75
        assert b"not delivered at shutdown: on disk" in result.stderr
        assert spooled_lines(tmp_path / "s") == ["m v=7i 1700000000000000007\n"]
        server.start()
        result = agent_write(tmp_path, config, "")  # nothing new: the backlog goes out
        assert result.returncode == 0, result.stderr
        assert server.rows("SELECT v FROM m", db="later")[0]["v"] == 7
        assert spooled_lines(tmp_path / "s") == []
    finally:
        server.close()


def test_a_write_larger_than_the_buffer_waits_for_room_and_drops_nothing(tmp_path, influxdb1):
    config = BASE.format(spool=tmp_path / "s").replace(
        "[agent]\n", "[agent]\n  metric_buffer_limit = 500\n  metric_batch_size = 100\n") + (
        f'[[outputs.influxdb]]\n  urls = ["{influxdb1.url}"]\n  database = "bigwrite"\n')
    # Chunks of plain lines, one with a comment and one with a missing timestamp: the whole-chunk
    # check and the line-by-line path both run.
    lines = [f"big,k=v n={i}i {1_700_000_000_000_000_000 + i}\n" for i in range(5000)]
    lines[1234] = "# a comment\n"
    lines[4321] = "big,k=w n=4321i\n"
    result = agent_write(tmp_path, config, "".join(lines))
    assert result.returncode == 0, result.stderr
    assert b"Buffer full" not in result.stderr
    rows = influxdb1.rows("SELECT n FROM big", db="bigwrite")
    assert sorted(r["n"] for r in rows) == [i for i in range(5000) if i != 1234]


def test_a_full_buffer_with_the_server_down_stops_reading_and_names_the_line(tmp_path):
    config = BASE.format(spool=tmp_path / "s").replace(
        "[agent]\n", "[agent]\n  metric_buffer_limit = 300\n  metric_batch_size = 100\n"
    ).replace('"3s"', '"1s"') + (
        f'[[outputs.influxdb]]\n  urls = ["http://127.0.0.1:{servers.free_port()}"]\n'
        '  database = "nowhere"\n  skip_database_creation = true\n')
    data = "".join(f"m n={i}i {1_700_000_000_000_000_000 + i}\n" for i in range(1000))
    result = agent_write(tmp_path, config, data)
    assert result.returncode == 75
    stderr = result.stderr.decode()
    stopped = re.search(r"buffer is full \(metric_buffer_limit = 300\): stopped before line (\d+)",
                        stderr)
    assert stopped, stderr
    assert "Buffer full" not in stderr, "nothing dropped to make room"
    first_not_taken = int(stopped.group(1))
    assert 200 < first_not_taken <= 301
    assert spooled_lines(tmp_path / "s") == data.splitlines(keepends=True)[:first_not_taken - 1]
