"""systemd/install.sh on the host, into a --root directory (no systemctl calls there).

The full run under a real systemd is in test_real_systemd.py; this covers the script's own
contract quickly: shell hygiene, arguments, file modes, never overwriting, uninstall and purge.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import systemd_cache as cache

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "systemd" / "install.sh"
REQUIRE = os.environ.get("AGENT_REQUIRE_SERVERS") == "1"


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "AGENT_INSTALL_ROOT"}
    result = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                            timeout=300, env=env)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_bash_syntax():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0


def test_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        if REQUIRE:
            pytest.fail("shellcheck not installed (tests/run installs it)", pytrace=False)
        pytest.skip("shellcheck not installed")
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_under_sh_it_runs_itself_under_bash(tmp_path):
    """`sudo sh systemd/install.sh` (dash: "set: Illegal option -o pipefail" before)."""
    if shutil.which("dash") is None:
        if REQUIRE:
            pytest.fail("dash not installed (tests/run installs it)", pytrace=False)
        pytest.skip("dash not installed")
    result = subprocess.run(["dash", str(SCRIPT), "--root", str(tmp_path), "--frobnicate"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "install.sh: error: unknown argument: --frobnicate" in result.stderr
    assert "Illegal option" not in result.stderr
    assert "usage:" in subprocess.run(["dash", str(SCRIPT), "--help"], capture_output=True,
                                      text=True, timeout=60).stdout


def test_bad_arguments_are_refused(tmp_path):
    for args, message in (
        (["--extras", "influx,bogus"], "unknown extra 'bogus'"),
        (["--frobnicate"], "unknown argument: --frobnicate"),
        (["--prefix", "opt/agent"], "must be an absolute path"),
        (["--purge"], "--purge goes with --uninstall"),
        (["--extras"], "--extras needs a value"),
    ):
        result = run("--root", str(tmp_path), *args, check=False)
        assert result.returncode == 1 and message in result.stderr, (args, result.stderr)
    assert list(tmp_path.iterdir()) == [], "nothing is installed after a refusal"


@pytest.fixture(scope="module")
def wheels():
    """The same cached wheels the real-systemd test uses (this Python's version)."""
    requirements = cache.install_requirements(REPO / "pyproject.toml", ("influx", "serial"))
    return cache.wheelhouse(requirements, f"{sys.version_info[0]}.{sys.version_info[1]}")


def test_install_reinstall_uninstall_purge(tmp_path, wheels):
    root = tmp_path / "root"
    foreign = root / "etc/telegraf/telegraf.conf"  # the telegraf package's own file
    foreign.parent.mkdir(parents=True)
    foreign.write_text("# telegraf's\n")
    args = ("--root", str(root), "--python", sys.executable, "--wheels", str(wheels))

    out = run(*args, "--extras", "").stdout
    assert "systemctl enable --now agent@ram" in out
    link = root / "usr/local/bin/agent"
    assert os.readlink(link) == f"{root}/opt/agent/bin/agent"
    assert subprocess.run([str(link), "--version"], capture_output=True).returncode == 0
    assert (root / "etc/systemd/system/agent@.service").read_bytes() == \
        (REPO / "systemd/agent@.service").read_bytes()
    for env in (REPO / "systemd/examples/agent").glob("agent-*.env"):
        assert (root / "etc/agent" / env.name).stat().st_mode & 0o777 == 0o600
    for env in (REPO / "systemd/examples/telegraf").glob("telegraf-*.env"):
        assert (root / "etc/telegraf" / env.name).stat().st_mode & 0o777 == 0o600
    assert (root / "etc/agent/credentials").stat().st_mode & 0o777 == 0o700
    # The core on Linux needs no psutil (none for armv7l on PyPI: it would need a compiler).
    venv_python = root / "opt/agent/bin/python"
    assert subprocess.run([str(venv_python), "-c", "import psutil"],
                          capture_output=True).returncode != 0

    edited = root / "etc/agent/agent-ram.env"
    edited.write_text("INFLUX_TOKEN=mine\n")
    edited.chmod(0o644)
    result = run(*args, "--extras", "serial")
    assert f"keeping {edited}" in result.stderr
    assert edited.read_text() == "INFLUX_TOKEN=mine\n"
    assert edited.stat().st_mode & 0o777 == 0o600, "a too-open env file is tightened"
    assert subprocess.run([str(venv_python), "-c", "import serial"]).returncode == 0

    run(*args, "--uninstall")
    assert not os.path.lexists(link) and not (root / "opt/agent").exists()
    assert not (root / "etc/systemd/system/agent@.service").exists()
    assert edited.exists(), "uninstall keeps the configuration"

    run(*args, "--uninstall", "--purge")
    assert not (root / "etc/agent").exists()
    assert foreign.read_text() == "# telegraf's\n", "purge removes only what install copied"
    assert sorted(p.name for p in foreign.parent.iterdir()) == ["telegraf.conf"]
