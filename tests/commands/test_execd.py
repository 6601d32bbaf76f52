"""`agent execd` driven exactly like Telegraf's inputs.execd (tests/execd_harness.py)."""

import signal
import subprocess
import sys
import time

import pytest

from agent.lineprotocol.metric import UInt
from agent.lineprotocol.parser import parse_metrics
from tests.execd_harness import Execd

MEM_FIELDS = 34


def test_stdin_mode_one_gather_per_newline_fast_and_nothing_without_trigger(tmp_path):
    with Execd(["--signal", "STDIN"]) as child:
        time.sleep(1.5)
        assert child.stdout_lines == [], "nothing may be printed before a trigger"
        latencies = []
        for n in range(1, 6):
            sent = child.trigger()
            lines = child.wait_lines(n, timeout=2)
            assert len(lines) == n
            latencies.append(lines[-1][0] - sent)
        time.sleep(0.3)
        assert len(child.stdout_lines) == 5, "exactly one line per trigger"
        code, elapsed, how = child.stop()
    assert (code, how) == (0, "eof")
    assert elapsed < 1.0
    assert max(latencies) < 0.1, latencies
    metrics = child.metrics()
    assert [m.name for m in metrics] == ["mem"] * 5
    for metric in metrics:
        assert metric.tags == {}, "no host tag under Telegraf"
        assert len(metric.fields) == MEM_FIELDS
        assert type(metric.fields["total"]) is UInt, "uint fields travel as u"
        assert type(metric.fields["used_percent"]) is float
        assert metric.time % 1_000_000_000 == 0, "rounded to the 10s interval's precision (1s)"
    assert child.unprefixed == []


@pytest.mark.parametrize("mode", ["SIGHUP", "SIGUSR1", "SIGUSR2"])
def test_signal_modes_gather_on_their_signal_only(mode):
    with Execd(["--signal", mode]) as child:
        time.sleep(0.8)  # let it install handlers
        child.trigger()  # a newline is not a trigger in signal modes
        time.sleep(0.5)
        assert child.stdout_lines == []
        child.signal(getattr(signal, mode))
        assert len(child.wait_lines(1)) == 1
        child.signal(getattr(signal, mode))
        assert len(child.wait_lines(2)) == 2
        code, elapsed, how = child.stop()
    assert (code, how) == (0, "eof") and elapsed < 1.0
    assert child.unprefixed == []


def test_none_mode_gathers_on_its_own_interval(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\ninterval = "200ms"\n[[inputs.mem]]\n')
    with Execd(["--signal", "none", "--config", str(config)]) as child:
        lines = child.wait_lines(3, timeout=5)
        assert len(lines) >= 3
        code, elapsed, how = child.stop()
    assert (code, how) == (0, "eof") and elapsed < 1.0
    times = [m.time for m in child.metrics()]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_sigterm_exits_zero_within_a_second():
    with Execd([]) as child:
        child.trigger()
        child.wait_lines(1)
        sent = child.signal(signal.SIGTERM)
        code = child.proc.wait(5)
        assert code == 0
        assert time.monotonic() - sent < 1.0


def test_every_stderr_line_is_prefixed_even_under_journald(tmp_path):
    """Telegraf under systemd passes JOURNAL_STREAM to its children: still X! prefixes."""
    proc = tmp_path / "proc"
    (proc / "meminfo").mkdir(parents=True)  # reading it fails: an error on every gather
    env = {"HOST_PROC": str(proc), "JOURNAL_STREAM": "1:1"}
    with Execd(["--debug"], env=env) as child:
        child.trigger()
        assert child.wait_stderr("Error in plugin")
        child.trigger()
        time.sleep(0.3)
        assert child.proc.poll() is None, "an input error never kills the agent"
        code, _, how = child.stop()
    assert (code, how) == (0, "eof")
    assert child.unprefixed == []
    levels = {level for level, _ in child.stderr_lines}
    assert "error" in levels and "debug" in levels
    errors = [m for level, m in child.stderr_lines if level == "error"]
    assert all(m.startswith("[inputs.mem] Error in plugin:") for m in errors), errors
    assert child.stdout_lines == []


def test_bad_config_exits_78_with_prefixed_reasons(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[[inputs.mem]]\ncollect_extended = "yes"\n[[inputs.nope]]\n')
    with Execd(["--config", str(config)]) as child:
        code = child.proc.wait(10)
        time.sleep(0.1)
    assert code == 78
    assert child.unprefixed == []
    messages = [m for level, m in child.stderr_lines if level == "error"]
    assert len(messages) == 2
    assert any("[inputs.mem] collect_extended" in m for m in messages)
    assert any("[inputs.nope]" in m for m in messages)


# Floods and stuck gathers (issue 11 item 11)

def test_a_newline_then_eof_at_once_still_gathers_once():
    """`printf '\\n' | agent execd`: the gather asked for before stdin closed is done."""
    result = subprocess.run([sys.executable, "-m", "agent", "execd"], input=b"\n",
                            capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert [m.name for m in parse_metrics(result.stdout.decode())] == ["mem"]


def proc_status(pid, key):
    """A field of /proc/<pid>/status in bytes (VmRSS: now, VmHWM: the peak)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def test_a_flood_of_newlines_is_coalesced_in_bounded_memory_and_sigterm_is_prompt():
    newlines = 12_700_000
    with Execd(["--signal", "STDIN"]) as child:
        child.trigger()
        assert len(child.wait_lines(1)) == 1
        before = proc_status(child.proc.pid, "VmRSS")
        chunk = b"\n" * 1_000_000
        for _ in range(newlines // len(chunk)):
            child.proc.stdin.write(chunk)  # blocks while the agent does not read
        child.proc.stdin.write(b"\n" * (newlines % len(chunk)))
        child.proc.stdin.flush()
        peak = proc_status(child.proc.pid, "VmHWM")
        gathers = len(child.stdout_lines)
        child.signal(signal.SIGTERM)
        code = child.proc.wait(10)  # before: still running 20 s later, behind queued gathers
    assert code == 0
    assert peak - before < 20 * 1024 * 1024, f"RSS grew by {(peak - before) >> 20} MiB"
    assert 1 <= gathers <= newlines // 1000, "triggers during a gather are coalesced"
    assert child.unprefixed == []
    assert [m.name for m in child.metrics()] == ["mem"] * len(child.stdout_lines)


def sleeping_backends(postgresql):
    return postgresql.psql("SELECT pid FROM pg_stat_activity WHERE state = 'active' AND "
                           "query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()").split()


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("how", ["eof", "SIGTERM"])
def test_stdin_eof_or_sigterm_end_a_gather_stuck_in_a_query(postgresql, tmp_path, how):
    config = tmp_path / "agent.toml"
    config.write_text(f'[[inputs.postgresql]]\naddress = "{postgresql.dsn()}"\n'
                      'statement_timeout = "0s"\n[[inputs.postgresql.query]]\n'
                      'sqlquery = "SELECT pg_sleep(30) AS slept"\nmeasurement = "sleepy"\n')
    with Execd(["--config", str(config)]) as child:
        child.trigger()
        assert wait_until(lambda: sleeping_backends(postgresql)), "the gather is in the query"
        if how == "eof":
            code, _, ended_by = child.stop()  # Telegraf: close stdin, SIGTERM 5 s later
        else:
            child.signal(signal.SIGTERM)
            code, ended_by = child.proc.wait(10), "SIGTERM"
    assert (code, ended_by) == (0, how), "exits by itself, not killed after the grace period"
    assert wait_until(lambda: not sleeping_backends(postgresql)), "the query was cancelled"
    assert child.unprefixed == []
    assert not [m for level, m in child.stderr_lines if level == "error"]
