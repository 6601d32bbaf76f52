"""`agent run`: the README command, InfluxDB as the judge, lazy imports, signals and reload."""

import os
import signal
import subprocess
import sys
import time

from agent.lineprotocol.parser import parse_metrics

AGENT = [sys.executable, "-m", "agent"]
TELEGRAF_MEM_FIELDS = {
    "active", "available", "available_percent", "buffered", "cached", "commit_limit",
    "committed_as", "dirty", "free", "high_free", "high_total", "huge_page_size",
    "huge_pages_free", "huge_pages_total", "inactive", "low_free", "low_total", "mapped",
    "page_tables", "shared", "slab", "sreclaimable", "sunreclaim", "swap_cached", "swap_free",
    "swap_total", "total", "used", "used_percent", "vmalloc_chunk", "vmalloc_total",
    "vmalloc_used", "write_back", "write_back_tmp",
}


def run(*args, **kwargs):
    return subprocess.run([*AGENT, *args], capture_output=True, timeout=60, **kwargs)


def test_run_once_output_is_accepted_by_influxdb_with_telegraf_types(influxdb1):
    result = run("run", "--once")
    assert result.returncode == 0, result.stderr
    (metric,) = parse_metrics(result.stdout.decode())
    assert metric.name == "mem" and set(metric.tags) == {"host"}
    assert set(metric.fields) == TELEGRAF_MEM_FIELDS and len(TELEGRAF_MEM_FIELDS) == 34
    influxdb1.create_database("runonce")
    status, text = influxdb1.write(result.stdout, db="runonce")
    assert status == 204, text
    kinds = {row["fieldKey"]: row["fieldType"]
             for row in influxdb1.rows("SHOW FIELD KEYS FROM mem", db="runonce")}
    assert set(kinds) == TELEGRAF_MEM_FIELDS
    floats = {k for k, v in kinds.items() if v == "float"}
    assert floats == {"used_percent", "available_percent"}
    assert {v for k, v in kinds.items() if k not in floats} == {"integer"}
    (row,) = influxdb1.rows("SELECT total, used, available FROM mem", db="runonce")
    assert row["used"] == row["total"] - row["available"]


def test_run_once_with_only_mem_imports_no_heavy_dependency(tmp_path):
    listing = tmp_path / "modules.txt"
    code = ("import atexit, sys\n"
            "path = sys.argv[1]\n"
            "atexit.register(lambda: open(path, 'w').write('\\n'.join(sys.modules)))\n"
            "sys.argv[1:] = ['run', '--once']\n"
            "from agent.cli import main\n"
            "main()\n")
    result = subprocess.run([sys.executable, "-c", code, str(listing)], capture_output=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"mem,host=")
    imported = set(listing.read_text().split())
    assert {"agent.inputs.mem", "agent.outputs.file"} <= imported
    heavy = {m for m in imported if m.split(".")[0] in ("psycopg", "serial", "influxdb_client")}
    assert heavy == set()


def test_run_test_prints_to_stdout_only(tmp_path):
    out = tmp_path / "out.lp"
    config = tmp_path / "c.toml"
    config.write_text(f'[[inputs.mem]]\n[[outputs.file]]\nfiles = ["{out}"]\n')
    result = run("run", "--test", "--config", str(config))
    assert result.returncode == 0
    assert parse_metrics(result.stdout.decode())[0].name == "mem"
    assert not out.exists() or out.read_text() == ""


def test_stdout_is_reserved_for_line_protocol():
    code = ("from agent.system import stdio; out = stdio.claim_stdout(); print('stray'); "
            "import os; os.write(1, b'raw fd 1\\n'); out.write(b'm v=1i 1\\n')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert result.stdout == b"m v=1i 1\n"
    assert b"stray" in result.stderr and b"raw fd 1" in result.stderr


class Daemon:
    def __init__(self, config_path, tmp_path):
        self.out = tmp_path / "metrics.lp"
        self.err = open(tmp_path / "stderr.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([*AGENT, "run", "--config", str(config_path)],
                                     stdout=subprocess.DEVNULL, stderr=self.err)

    def metrics(self):
        return parse_metrics(self.out.read_text()) if self.out.exists() else []

    def wait_for(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.metrics()) >= count:
                return self.metrics()
            time.sleep(0.05)
        return self.metrics()

    def stderr(self):
        self.err.flush()
        return open(self.err.name, encoding="utf-8").read()

    def wait_stderr(self, needle, count=1, timeout=10.0):
        """Poll until needle appears count times in stderr; fail after timeout."""
        deadline = time.monotonic() + timeout
        while self.stderr().count(needle) < count:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.stderr()}"
            assert time.monotonic() < deadline, f"no {count}x {needle!r} in: {self.stderr()}"
            time.sleep(0.05)


def test_daemon_signals_usr1_gathers_hup_reloads_term_exits(tmp_path):
    config = tmp_path / "agent.toml"
    out = tmp_path / "metrics.lp"

    def write_config(site):
        config.write_text(f'[agent]\ninterval = "1h"\n[global_tags]\nsite = "{site}"\n'
                          f'[[inputs.mem]]\n[[outputs.file]]\nfiles = ["{out}"]\n')

    write_config("one")
    daemon = Daemon(config, tmp_path)
    try:
        daemon.wait_stderr("Loaded inputs")  # started: the signal handlers are in place
        assert daemon.metrics() == [], "the first gather waits for the hour boundary"
        daemon.proc.send_signal(signal.SIGUSR1)
        assert [m.tags["site"] for m in daemon.wait_for(1)] == ["one"]

        config.write_text("[[inputs.mem]]\nbogus = 1\n")  # a broken new config
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_stderr("Reload failed, keeping the running config")
        assert daemon.proc.poll() is None, "a broken reload keeps the old config running"
        daemon.proc.send_signal(signal.SIGUSR1)
        assert [m.tags["site"] for m in daemon.wait_for(2)] == ["one", "one"]
        assert "Reload failed, keeping the running config" in daemon.stderr()
        assert "bogus: unknown option" in daemon.stderr()

        write_config("two")
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_stderr("Loaded inputs", count=2)  # the new config runs
        daemon.proc.send_signal(signal.SIGUSR1)
        assert [m.tags["site"] for m in daemon.wait_for(3)] == ["one", "one", "two"]

        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(10) == 0  # how fast: tests/benchmarks (execd)
        # Complete now: one gather per SIGUSR1, none at exit and none of its own (an aligned
        # first tick is at least interval/100 = 36 s away).
        assert [m.tags["site"] for m in daemon.metrics()] == ["one", "one", "two"]
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    assert "Traceback" not in daemon.stderr()


def test_journald_dialect_when_journal_stream_names_our_stderr(tmp_path):
    log_path = tmp_path / "err.log"
    with open(log_path, "wb") as err:
        stat = os.fstat(err.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
        subprocess.run([*AGENT, "check", "--config", str(tmp_path / "missing.toml")],
                       stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=30)
    assert log_path.read_text().startswith("<3>")


def test_plugins_and_sample_config(tmp_path):
    listing = run("plugins")
    assert listing.returncode == 0
    assert b"inputs.mem:" in listing.stdout and b"collect_extended [bool]" in listing.stdout
    sample = run("sample-config")
    assert sample.returncode == 0
    path = tmp_path / "sample.toml"
    path.write_bytes(sample.stdout)
    check = run("check", "--config", str(path))
    assert check.returncode == 0, check.stderr


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith(b"agent ")
