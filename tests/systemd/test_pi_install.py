"""systemd/install.sh on Raspberry Pi OS's Debian releases, as a user runs it.

Each root is a cached debootstrapped Debian (minbase + python3, procps and ca-certificates, as
on Raspberry Pi OS Lite: no python3-venv, no libpq5, no compiler), of the Pi's architecture:

- bullseye amd64 (Python 3.9, pip 20.3), native;
- bullseye armhf (armv7l: 32-bit Raspberry Pi OS) through qemu-user-static: PyPI has no psutil
  and no psycopg-binary wheel for it;
- bookworm arm64 (Python 3.11: 64-bit Raspberry Pi OS) through qemu-user-static.

In each, on one throwaway overlay, the steps in STEPS: `sh systemd/install.sh` (default
extras), `agent run --once`, one execd round, `systemd/install.sh --extras all`, `agent check`
on every example config with its env file, `agent run --once` again, and the pure-Python unit
tests under the root's own python. The tests below assert on what each step recorded.

The roots run side by side, each in a thread of its own: under qemu CPython is CPU-bound and
about ten times slower than native, and two emulated roots on two cores take the time of one.

Online once, offline after: the first run for a root (its "kit" not cached yet) installs from
PyPI and the Debian mirror, which proves the online path (the pip upgrade, a psutil-free core,
the psycopg fallback); it then caches what that install fetched (a wheelhouse made by the
root's own pip, so of its architecture; the .debs apt fetched; the unit tests' venv). Later
runs install from that kit with --wheels, in a network namespace without network: no network
is touched, and the offline path is proven. AGENT_TEST_PI_ONLINE=1 forces the online path.
The kit's key is the root's recipe and the project's requirements: changing them makes the
next run online again. Each run appends its step times (wall and CPU) to
/var/cache/agent-tests/pi-install-times.log.
"""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import shutil
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest

from agent.inputs.mem import MemInput
from agent.lineprotocol.parser import parse_metrics
from tests import chroot as ch
from tests import systemd_cache as cache

REPO = Path(__file__).resolve().parents[2]
# Raspberry Pi OS Lite has python3, procps (/bin/kill for ExecReload) and ca-certificates
# (whose postinst alone takes a minute under qemu), not python3-venv.
PACKAGES = ("python3", "procps", "ca-certificates")
ROOTS = {
    "bullseye-amd64": cache.Recipe("bullseye", "amd64", PACKAGES),
    "bullseye-armhf": cache.Recipe("bullseye", "armhf", PACKAGES),
    "bookworm-arm64": cache.Recipe("bookworm", "arm64", PACKAGES),
}
SRC = "/usr/src/agent"
KIT = "/usr/src/agent-kit"
TEST_VENV = "/root/test-venv"
TEST_REQUIREMENTS = ("pytest",)
# Pure-Python unit tests that need no server and no root tool, and no hypothesis (its many
# examples cost minutes under emulation): Telegraf's line protocol vectors, the config
# language, mem against its goldens, serial reduction, aggregation windows (Go-style truncation).
UNIT_TESTS = ("lineprotocol/test_vectors.py", "config/test_config.py", "inputs/mem/test_mem.py",
              "inputs/serial/test_serial_reduce.py", "engine/test_windows.py")
KIT_VERSION = "1"
TIMES_LOG = cache.CACHE / "pi-install-times.log"
STEP_TIMEOUT = 3600  # how long a test waits for its step (cold, under qemu, on a busy machine)


def unavailable(reason: str) -> None:
    if os.environ.get("AGENT_REQUIRE_SERVERS") == "1":
        pytest.fail(f"Pi install test: {reason} (AGENT_REQUIRE_SERVERS=1)", pytrace=False)
    pytest.skip(reason)


def kit_path(recipe: cache.Recipe) -> Path:
    project = cache.tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = [KIT_VERSION, recipe.path().name, project["build-system"],
              project["project"]["dependencies"], project["project"]["optional-dependencies"],
              TEST_REQUIREMENTS]
    key = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:12]
    return cache.CACHE / f"pi-kit-{recipe.suite}-{recipe.arch}-{key}"


def copy_checkout(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".hypothesis")
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("agent", "systemd", "telegraf", "tests"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore, symlinks=True)


class PiRoot:
    """One root: its overlay, whether it installs online or from its kit, its step times."""

    def __init__(self, name: str, recipe: cache.Recipe, workdir: Path) -> None:
        self.name, self.recipe, self.workdir = name, recipe, workdir
        self.kit = kit_path(recipe)
        self.online = not self.kit.is_dir() or os.environ.get("AGENT_TEST_PI_ONLINE") == "1"
        self.times: dict = {}
        self.box: ch.Chroot | None = None

    def prepare(self) -> None:
        began = time.monotonic()
        lower = cache.rootfs(self.recipe)
        if time.monotonic() - began > 5:
            self.times["debootstrap"] = (time.monotonic() - began, None)
        self.box = ch.Chroot(lower, self.workdir, network=self.online)
        copy_checkout(self.box.path(SRC))
        if not self.online:
            shutil.copytree(self.kit / "wheels", self.box.path(f"{KIT}/wheels"))
            shutil.copytree(self.kit / "test-venv", self.box.path(TEST_VENV), symlinks=True)
            archives = self.box.path("/var/cache/apt/archives")
            archives.mkdir(parents=True, exist_ok=True)
            for deb in (self.kit / "debs").glob("*.deb"):
                shutil.copy2(deb, archives / deb.name)

    def timed(self, step: str, *command: str, **kwargs) -> subprocess.CompletedProcess:
        began, cpu = time.monotonic(), self.box.cpu_seconds
        try:
            return self.box.run(*command, **kwargs)
        finally:
            wall, spent = self.times.get(step, (0.0, 0.0))
            self.times[step] = (wall + time.monotonic() - began,
                                spent + self.box.cpu_seconds - cpu)

    def install(self, step: str, *args: str, shell: str = "bash"):
        wheels = () if self.online else ("--wheels", f"{KIT}/wheels")
        return self.timed(step, shell, f"{SRC}/systemd/install.sh", *wheels, *args,
                          timeout=1800)

    def python(self, code: str, python: str = "/opt/agent/bin/python") -> str:
        return self.box.run(python, "-c", code).stdout.strip()

    def make_kit(self) -> None:
        """After the online installs: a wheelhouse of what they resolved (made by the root's
        own pip, so its architecture's wheels), the build backend, pip itself, and the test
        venv's requirements; then the test venv from it."""
        frozen = self.box.run("/opt/agent/bin/python", "-m", "pip", "freeze", "--all").stdout
        pins = [line for line in frozen.splitlines() if "==" in line and
                line.split("==")[0].lower().replace("_", "-") not in
                ("pkg-resources", "setuptools")]  # the agent itself is "name @ file://"
        # setuptools: the build backend's (build-system.requires), not the venv's own old one.
        build = cache.tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]
        self.timed("kit", "/opt/agent/bin/python", "-m", "pip", "download", "--quiet",
                   "--disable-pip-version-check", "--dest", f"{KIT}/wheels", *pins,
                   *build["requires"], *TEST_REQUIREMENTS, timeout=1800)
        self.timed("test venv", "python3", "-m", "venv", TEST_VENV, timeout=1800)
        self.timed("test venv", f"{TEST_VENV}/bin/python", "-m", "pip", "install", "--quiet",
                   "--disable-pip-version-check", "--no-index", "--find-links",
                   f"{KIT}/wheels", *TEST_REQUIREMENTS, timeout=1800)

    def store_kit(self) -> None:
        """The kit into the cache, for the offline runs after this one."""

        def build(tmp: Path) -> None:
            shutil.copytree(self.box.path(f"{KIT}/wheels"), tmp / "wheels")
            shutil.copytree(self.box.path(TEST_VENV), tmp / "test-venv", symlinks=True)
            (tmp / "debs").mkdir()
            for deb in self.box.path("/var/cache/apt/archives").glob("*.deb"):
                shutil.copy2(deb, tmp / "debs" / deb.name)

        if not self.kit.is_dir():
            cache.cached_directory(self.kit, build)

    def report(self) -> str:
        def show(wall, cpu):
            return f"{wall:.1f}s" + (f"/cpu {cpu:.1f}s" if cpu is not None else "")

        steps = ", ".join(f"{k} {show(*v)}" for k, v in self.times.items())
        mode = "online" if self.online else "offline"
        return f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.name} {mode}: {steps}"


# --- the steps: each returns what the tests assert on -----------------------------------------

def step_install_default(pi: PiRoot) -> dict:
    """`sudo sh systemd/install.sh`: under sh (dash), with the default extras."""
    result = pi.install("install default", shell="sh")
    return {"result": result,
            "bundled pip": pi.python("import ensurepip; print(ensurepip.version())", "python3"),
            "pip": pi.python("import pip; print(pip.__version__)"),
            "psutil": pi.python("import importlib.util as u; print(u.find_spec('psutil'))"),
            "version": pi.box.run("agent", "--version").stdout,
            "link": pi.box.run("readlink", "/usr/local/bin/agent").stdout.strip()}


def step_run_once(pi: PiRoot) -> subprocess.CompletedProcess:
    return pi.timed("run --once", "agent", "run", "--once", timeout=300)


def step_execd(pi: PiRoot) -> dict:
    """A newline on stdin, read one line back, then EOF, as Telegraf drives its child."""
    began, cpu = time.monotonic(), pi.box.cpu_seconds
    with pi.box.popen("agent", "execd", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE) as proc:
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        line = read_line(proc.stdout, timeout=120)
        proc.stdin.close()
        code = proc.wait(timeout=60)
        outcome = {"line": line.decode(), "exit": code, "rest": proc.stdout.read(),
                   "stderr": proc.stderr.read().decode()}
    pi.times["execd"] = (time.monotonic() - began, pi.box.cpu_seconds - cpu)
    return outcome


def read_line(stream, timeout: float) -> bytes:
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        if not selector.select(timeout=max(deadline - time.monotonic(), 0)):
            raise AssertionError(f"no line within {timeout}s (got {line!r})")
        chunk = os.read(stream.fileno(), 65536)
        if not chunk:
            raise AssertionError(f"EOF before a whole line (got {line!r})")
        line += chunk
    return line


def step_install_all(pi: PiRoot) -> dict:
    result = pi.install("install all", "--extras", "all")
    return {"result": result,
            "impl": pi.python("import psycopg, serial, influxdb_client; "
                              "print(psycopg.pq.__impl__)"),
            "libpq5": pi.box.run("dpkg-query", "-W", "-f=${Status}", "libpq5",
                                 check=False).stdout}


def step_check(pi: PiRoot) -> dict:
    checked = {}
    for example in sorted((REPO / "systemd/examples/agent").glob("*.toml")):
        name = example.stem
        checked[name] = (pi.box.read_text(f"/etc/agent/{name}.toml"), pi.timed(
            "check", "sh", "-c", f"set -a; . /etc/agent/agent-{name}.env; "
            f"agent check --config /etc/agent/{name}.toml", check=False, timeout=300))
    return checked


def step_unit_tests(pi: PiRoot) -> dict:
    """Against the installed agent and its dependencies (through a .pth in the test venv),
    run by the pytest script (python -m would put the checkout's agent first), the rootdir
    appended to sys.path for the `tests` package."""
    if pi.online:
        pi.make_kit()
        pi.store_kit()
    python = pi.python("import sys; print('%d.%d' % sys.version_info[:2])", "python3")
    site = f"lib/python{python}/site-packages"
    pi.box.path(f"{TEST_VENV}/{site}/installed-agent.pth").write_text(f"/opt/agent/{site}\n")
    tests = " ".join(f"tests/{name}" for name in UNIT_TESTS)
    return {"site": site,
            "agent": pi.python("import agent; print(agent.__file__)", f"{TEST_VENV}/bin/python"),
            "result": pi.timed("unit tests", "sh", "-c", f"cd {SRC} && exec {TEST_VENV}/bin/"
                               f"pytest -q -p no:cacheprovider --import-mode=append {tests}",
                               check=False, timeout=1800)}


STEPS = (("install default", step_install_default), ("run --once", step_run_once),
         ("execd", step_execd), ("install all", step_install_all), ("check", step_check),
         ("run --once, all extras", step_run_once), ("unit tests", step_unit_tests))


class Scenario:
    """A root's steps in a thread of its own; tests wait for the step they look at."""

    def __init__(self, root: PiRoot) -> None:
        self.root = root
        self.results: dict = {}
        self.failure = ""
        self.done = threading.Condition()
        self.thread = threading.Thread(target=self._run, name=root.name, daemon=True)

    def _run(self) -> None:
        step = "prepare"
        try:
            self.root.prepare()
            for step, function in STEPS:
                result = function(self.root)
                with self.done:
                    self.results[step] = result
                    self.done.notify_all()
        except BaseException:
            with self.done:
                self.failure = f"{self.root.name}: step {step!r} failed:\n" \
                    + traceback.format_exc()[-8000:]
                self.done.notify_all()

    def result(self, step: str):
        with self.done:
            if not self.done.wait_for(lambda: step in self.results or self.failure,
                                      timeout=STEP_TIMEOUT):
                raise AssertionError(f"{self.root.name}: no {step!r} after {STEP_TIMEOUT}s")
            if step not in self.results:
                pytest.fail(self.failure, pytrace=False)
            return self.results[step]


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    """Every root's scenario, started at once; a root that cannot run has a reason instead."""
    started = {}
    try:
        ch.check_prerequisites()
        missing = ""
    except ch.Unavailable as exc:
        missing = str(exc)
    for name, recipe in ROOTS.items():
        try:
            if missing:
                raise ch.Unavailable(missing)
            ch.require_emulation(recipe.arch, cache.native_arch())
        except ch.Unavailable as exc:
            started[name] = str(exc)
            continue
        started[name] = Scenario(PiRoot(name, recipe, tmp_path_factory.mktemp(f"pi-{name}")))
        started[name].thread.start()
    yield started
    for scenario in started.values():
        if isinstance(scenario, Scenario):
            scenario.thread.join(timeout=STEP_TIMEOUT)
            line = scenario.root.report()
            print(line, file=sys.stderr)
            with open(TIMES_LOG, "a") as log:
                log.write(line + "\n")
            if scenario.root.box:
                scenario.root.box.close()


@pytest.fixture(params=list(ROOTS))
def pi(request, scenarios) -> Scenario:
    scenario = scenarios[request.param]
    if isinstance(scenario, str):
        unavailable(scenario)
    return scenario


def version(text: str) -> tuple:
    return tuple(int(part) for part in text.split(".")[:2])


# --- the tests --------------------------------------------------------------------------------

def test_install_default_under_sh(pi):
    """`sudo sh systemd/install.sh`, the default extras: it starts again under bash, installs
    python3-venv, upgrades the venv's pip, and needs no compiler (no psutil on Linux)."""
    done = pi.result("install default")
    result = done["result"]
    assert "apt-get install python3-venv" in result.stderr
    assert "Illegal option" not in result.stderr
    assert "systemctl enable --now agent@ram" in result.stdout
    # The venv's pip came from ensurepip; the installer replaced it with a newer one.
    assert version(done["pip"]) > version(done["bundled pip"]), done
    assert done["psutil"] == "None"
    assert done["version"].startswith("agent ")
    assert done["link"] == "/opt/agent/bin/agent"


def test_run_once_prints_telegrafs_mem(pi):
    for step in ("run --once", "run --once, all extras"):
        (metric,) = parse_metrics(pi.result(step).stdout)
        assert metric.name == "mem" and set(metric.tags) == {"host"}
        assert set(metric.fields) == set(MemInput().gather()[0].fields)
        assert 0 < metric.fields["used"] < metric.fields["total"]


def test_execd_round(pi):
    """A newline on stdin -> one mem line on stdout; EOF -> exit 0."""
    done = pi.result("execd")
    (metric,) = parse_metrics(done["line"])
    assert metric.name == "mem" and metric.tags == {}
    assert done["exit"] == 0, done["stderr"]
    assert done["rest"] == b"", "one gather, one line"
    assert "E! " not in done["stderr"]


def test_install_all(pi):
    """--extras all, unattended: psycopg from its binary wheel where PyPI has one, else pure
    Python over libpq5 from apt (armv7l)."""
    done = pi.result("install all")
    result = done["result"]
    assert "extras: all" in result.stdout
    if pi.root.recipe.arch == "armhf":
        assert "no psycopg-binary wheel for armv7l" in result.stderr
        assert (done["impl"], done["libpq5"]) == ("python", "install ok installed")
    else:
        assert "no psycopg-binary wheel" not in result.stderr
        assert done["impl"] == "binary" and "installed" not in done["libpq5"]


def test_check_every_example_config(pi):
    checked = pi.result("check")
    examples = {p.stem: p for p in (REPO / "systemd/examples/agent").glob("*.toml")}
    assert examples and set(checked) == set(examples)
    for name, (installed, result) in checked.items():
        assert installed == examples[name].read_text()
        assert result.returncode == 0, (name, result.stdout + result.stderr)
        assert result.stdout.startswith(f"/etc/agent/{name}.toml: OK"), result.stdout


def test_unit_tests_under_the_roots_python(pi):
    """The pure-Python unit tests, against the installed agent and its dependencies (psycopg
    included: pure Python over libpq5 on armhf), under the root's interpreter."""
    done = pi.result("unit tests")
    assert done["agent"] == f"/opt/agent/{done['site']}/agent/__init__.py"
    result = done["result"]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
