"""The cached parts of the real-systemd test: a debootstrapped Debian root and a wheelhouse.

Both live under /var/cache/agent-tests (AGENT_TEST_CACHE), keyed by what they are built from,
built into a temporary directory and renamed into place (atomic; concurrent runs wait on a
lock), and are never modified afterwards: each boot puts a throwaway overlay over the root.
Cold, debootstrap takes about a minute (it needs the Debian mirror) and pip download a few
seconds (it needs PyPI); warm, neither touches the network.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

_DEFAULT_CACHE = "/var/cache/agent-tests" if os.geteuid() == 0 else "~/.cache/agent-tests"
CACHE = Path(os.environ.get("AGENT_TEST_CACHE", _DEFAULT_CACHE)).expanduser()
SUITE = "bookworm"
MIRROR = os.environ.get("AGENT_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# procps: /bin/kill, which agent@.service's ExecReload uses (present on every normal Debian and
# Raspberry Pi OS, not in debootstrap's minbase).
PACKAGES = ("systemd", "systemd-sysv", "dbus", "procps", "python3", "python3-venv")
# Bump when the recipe changes: a new cache directory is built, the old one stays unused.
ROOTFS_VERSION = "1"


def _rootfs_path() -> Path:
    key = hashlib.sha256(f"{ROOTFS_VERSION} {SUITE} {PACKAGES}".encode()).hexdigest()[:10]
    return CACHE / f"rootfs-{SUITE}-{key}"


@contextlib.contextmanager
def _cache_lock() -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def rootfs_cached() -> bool:
    return _rootfs_path().is_dir()


def rootfs(log=sys.stderr) -> Path:
    """The cached Debian root (debootstrapped on first use: a minute or two, needs the mirror)."""
    return _cached_directory(_rootfs_path(), lambda tmp: _debootstrap(tmp, log))


def _cached_directory(path: Path, build) -> Path:
    """path, built by build(tmp) into a temporary directory beside it and renamed into place
    (under the cache lock), so a half-built cache entry is never seen."""
    if path.is_dir():
        return path
    with _cache_lock():
        if path.is_dir():
            return path
        tmp = Path(tempfile.mkdtemp(prefix=path.name + ".tmp-", dir=CACHE))
        try:
            build(tmp)
            tmp.rename(path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return path


def _debootstrap(target: Path, log) -> None:
    command = ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
               SUITE, str(target), MIRROR]
    print("building the systemd test root:", " ".join(command), file=log, flush=True)
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"debootstrap failed ({result.returncode}):\n"
                           + (result.stdout + result.stderr)[-3000:])
    for cached in (target / "var/cache/apt/archives").glob("*.deb"):
        cached.unlink()


def rootfs_python(root: Path) -> str:
    """The root's python3 version, e.g. '3.11'."""
    out = subprocess.run(["chroot", str(root), "/usr/bin/python3", "-c",
                          "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip()


def wheelhouse(requirements: Sequence[str], python: str) -> Path:
    """Binary wheels of `requirements` for CPython `python` on this machine's architecture,
    downloaded once (pip download, from PyPI) and cached, so that the installer can run inside
    the container with --wheels (pip --no-index --find-links)."""
    key = hashlib.sha256(json.dumps([sorted(requirements), python, platform.machine()])
                         .encode()).hexdigest()[:12]
    return _cached_directory(CACHE / f"wheels-{key}",
                             lambda tmp: _download(list(requirements), python, tmp))


def _download(requirements: list, python: str, dest: Path) -> None:
    machine = platform.machine()
    nodot = python.replace(".", "")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--implementation", "cp", "--python-version", python,
               "--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none",
               "--platform", f"manylinux2014_{machine}", "--platform", f"manylinux_2_17_{machine}",
               "--platform", "any", "--dest", str(dest), *requirements]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"pip download failed ({result.returncode}):\n"
                           + (result.stdout + result.stderr)[-3000:])


def install_requirements(pyproject: Path, extras: Sequence[str]) -> list:
    """What pip needs to install a checkout with `extras`: its build backend and its deps."""
    project = tomllib.loads(pyproject.read_text())
    reqs = list(project["build-system"]["requires"]) + project["project"]["dependencies"]
    for extra in extras:
        reqs += project["project"]["optional-dependencies"][extra]
    return reqs
