"""`agent write` as a stream and as bytes: a pipe is spooled and delivered while it flows and a
SIGTERM keeps every line taken; files are bytes (\\r kept, CR-only files as on stdin, invalid
UTF-8 rejected by line); an unreadable input is one line and exit 66. InfluxDB 1.x judges."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import threading

import pytest

from tests.delivery_helpers import AGENT, spooled_lines, wait_until

T0 = 1_700_000_000_000_000_000


def config_for(tmp_path, url: str, db: str, extra: str = "") -> str:
    path = tmp_path / "write.toml"
    path.write_text(f'[agent]\n  buffer_directory = "{tmp_path / "spool"}"\n'
                    f'  shutdown_timeout = "5s"\n  flush_interval = "1s"\n{extra}'
                    f'[[outputs.influxdb]]\n  urls = ["{url}"]\n  database = "{db}"\n')
    return str(path)


def agent_write(config: str, source: str = "-", data: bytes = b"", **kwargs):
    return subprocess.run([*AGENT, "write", "--config", config, source], input=data,
                          capture_output=True, timeout=120, **kwargs)


def values(server, db: str, measurement: str, field: str = "n"):
    return [row[field] for row in server.rows(f'SELECT "{field}" FROM "{measurement}"', db=db)]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


class Producer(threading.Thread):
    """Writes numbered lines into a pipe for as long as it is read."""

    def __init__(self, pipe) -> None:
        super().__init__(daemon=True)
        self.pipe, self.written = pipe, 0

    def run(self) -> None:
        try:
            while True:
                block = "".join(f"stream n={i}i {T0 + i}\n"
                                for i in range(self.written, self.written + 1000))
                self.pipe.write(block.encode())
                self.pipe.flush()
                self.written += 1000
        except (BrokenPipeError, ValueError, OSError):
            return


def test_a_pipe_is_delivered_while_it_streams_in_bounded_memory_and_sigterm_keeps_every_line_taken(
        tmp_path, influxdb1):
    influxdb1.create_database("stream")
    config = config_for(tmp_path, influxdb1.url, "stream")
    stderr = open(tmp_path / "stderr", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([*AGENT, "write", "--config", config, "-"], stdin=subprocess.PIPE,
                            stderr=stderr)
    producer = Producer(proc.stdin)
    producer.start()
    try:
        assert wait_until(lambda: len(values(influxdb1, "stream", "stream")) >= 20_000, 60)
        assert proc.poll() is None and producer.is_alive(), "delivered while still streaming"
        early = rss_kib(proc.pid)
        assert wait_until(lambda: len(values(influxdb1, "stream", "stream")) >= 150_000, 120)
        late = rss_kib(proc.pid)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
        stderr.close()
    log = (tmp_path / "stderr").read_text()
    assert code == 75, log
    assert late - early < 20_000, f"memory grew from {early} to {late} KiB with the input"
    stopped = re.search(r"SIGTERM received: stopped before line (\d+);", log)
    assert stopped, log
    first_not_taken = int(stopped.group(1))
    assert first_not_taken <= producer.written
    delivered = values(influxdb1, "stream", "stream")
    kept = [int(re.match(r"stream n=(\d+)i", line).group(1))
            for line in spooled_lines(tmp_path / "spool")]
    # Lines in: 1 .. first_not_taken - 1 taken. Lines out: InfluxDB + spool (nothing lost).
    assert sorted(set(delivered) | set(kept)) == list(range(first_not_taken - 1))
    assert "lost" not in log and "Traceback" not in log


def test_a_file_is_bytes_a_carriage_return_in_a_string_stays_and_bad_utf8_is_rejected_by_line(
        tmp_path, influxdb1):
    influxdb1.create_database("fidelity")
    data = (b'fid,k=a s="a\rb" 1700000000000000001\n'
            b'fid,k=b s="crlf" 1700000000000000002\r\n'
            b'utf\xff\xfe v=1i 1700000000000000003\n'
            b'fid,k=c s="two\nlines" 1700000000000000004\n')
    source = tmp_path / "in.lp"
    source.write_bytes(data)
    result = agent_write(config_for(tmp_path, influxdb1.url, "fidelity"), str(source))
    errors = [line for line in result.stderr.decode().splitlines() if " E! " in line]
    assert result.returncode == 65, result.stderr
    assert any("line 3: invalid UTF-8" in e for e in errors), errors
    rows = {r["k"]: r["s"] for r in influxdb1.rows('SELECT "s", "k" FROM "fid"', db="fidelity")}
    assert rows == {"a": "a\rb", "b": "crlf", "c": "two\nlines"}
    measurements = influxdb1.rows("SHOW MEASUREMENTS", db="fidelity")
    assert [m["name"] for m in measurements] == ["fid"], "no U+FFFD measurement written"


def test_a_cr_only_file_is_treated_like_the_same_bytes_on_stdin(tmp_path, influxdb1):
    data = b"cr v=1i 1700000000000000001\rcr v=2i 1700000000000000002\r"
    source = tmp_path / "cr.lp"
    source.write_bytes(data)
    outcomes = []
    for db, how in (("cr_file", {"source": str(source)}), ("cr_stdin", {"data": data})):
        influxdb1.create_database(db)
        result = agent_write(config_for(tmp_path, influxdb1.url, db), **how)
        errors = [line.split(" E! ", 1)[1] for line in result.stderr.decode().splitlines()
                  if " E! " in line]
        stored = influxdb1.rows('SELECT "v" FROM "cr"', db=db)
        outcomes.append((result.returncode, errors, [r["v"] for r in stored]))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == 65 and outcomes[0][2] == [], "one line, and not a valid one"


def _without_file_permission_override():
    """preexec_fn: as root, drop CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH from the bounding set so
    that the exec'd agent is refused a mode-000 file like any user."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    for capability in (1, 2):
        prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP


@pytest.mark.parametrize("kind", ["missing", "directory", "unreadable"])
def test_an_input_that_cannot_be_read_is_one_line_in_words_and_exit_66(tmp_path, kind):
    source = tmp_path / "input.lp"
    kwargs = {}
    if kind == "directory":
        source.mkdir()
    elif kind == "unreadable":
        source.write_text("m v=1i 1\n")
        source.chmod(0)
        if os.geteuid() == 0:
            kwargs["preexec_fn"] = _without_file_permission_override
    config = config_for(tmp_path, "http://127.0.0.1:9", "never")
    result = agent_write(config, str(source), **kwargs)
    lines = result.stderr.decode().splitlines()
    assert result.returncode == 66, lines
    assert len(lines) == 1 and " E! " in lines[0], lines
    want = {"missing": "no such file or directory", "directory": "it is a directory",
            "unreadable": "permission denied"}[kind]
    assert lines[0].endswith(f"cannot read {source}: {want}")
    assert not (tmp_path / "spool").exists(), "nothing opened before the input"
