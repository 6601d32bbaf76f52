"""A config from a file or URL with inputs and no outputs (issue 11 #3): the daemon refuses it,
as Telegraf does, instead of quietly writing line protocol into the journal; `run --once` and
`run --test` (someone is watching) and `agent execd` print to stdout; `agent check` says so.
Without --config the embedded default (mem to stdout) still runs as the daemon."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys

from tests.delivery_helpers import wait_until

AGENT = [sys.executable, "-m", "agent"]
INPUTS_ONLY = '[agent]\nomit_hostname = true\ninterval = "100ms"\n[[inputs.mem]]\n'


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*AGENT, *args], capture_output=True, text=True, timeout=60)


def test_the_daemon_refuses_a_config_without_outputs(tmp_path):
    path = tmp_path / "inputs.toml"
    path.write_text(INPUTS_ONLY)
    result = run("run", "--config", str(path))
    assert result.returncode == 78
    (line,) = result.stderr.splitlines()
    assert f"E! {path}: no outputs configured: `agent run` needs at least one" in line
    assert result.stdout == ""


def test_check_accepts_it_and_says_what_run_will_do(tmp_path):
    path = tmp_path / "inputs.toml"
    path.write_text(INPUTS_ONLY)
    result = run("check", "--config", str(path))
    assert result.returncode == 0
    assert result.stdout == f"{path}: OK (1 input(s), 0 output(s))\n"
    assert "no outputs: `agent run` refuses this config" in result.stderr


def test_once_and_test_print_to_stdout(tmp_path):
    path = tmp_path / "inputs.toml"
    path.write_text(INPUTS_ONLY)
    for mode in ("--once", "--test"):
        result = run("run", mode, "--config", str(path))
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("mem "), mode


def test_the_embedded_default_still_runs_as_the_daemon():
    proc = subprocess.Popen([*AGENT, "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The first gather comes at the next 10 s boundary.
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "nothing on stdout"
        assert proc.stdout.readline().startswith(b"mem,")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_a_reload_into_a_config_without_outputs_keeps_the_running_one(tmp_path):
    out = tmp_path / "out.lp"
    path = tmp_path / "agent.toml"
    path.write_text(INPUTS_ONLY + f'[[outputs.file]]\nfiles = ["{out}"]\n')
    stderr = tmp_path / "stderr"
    with open(stderr, "wb") as err:
        proc = subprocess.Popen([*AGENT, "run", "--config", str(path)], stderr=err,
                                stdout=subprocess.DEVNULL, env={**os.environ})
    try:
        assert wait_until(lambda: out.exists() and out.stat().st_size > 0, 15)
        path.write_text(INPUTS_ONLY)
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "Reload failed" in stderr.read_text(), 15), \
            stderr.read_text()
        size = out.stat().st_size
        assert wait_until(lambda: out.stat().st_size > size, 15), "the old config stopped"
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert "no outputs configured" in stderr.read_text()
