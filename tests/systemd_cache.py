"""The cached parts of the tests over Debian roots: debootstrapped roots and wheelhouses.

The real-systemd test (bookworm, this machine's architecture) and the Raspberry Pi install
tests (bullseye amd64 and armhf, bookworm arm64: test_pi_install.py) each use a root built by
debootstrap from the Debian mirror in this machine's apt sources (apt_sources.py). Everything
lives under /var/cache/agent-tests (AGENT_TEST_CACHE), keyed by what it is built from, built
into a temporary directory and renamed into place (atomic; concurrent runs wait on a lock), and
never modified afterwards: each use puts a throwaway overlay over a root. Cold, debootstrap
takes about a minute natively and two under qemu (it needs the mirror) and pip download a few
seconds (it needs PyPI); warm, neither touches the network.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Sequence

from tests import apt_sources

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

_DEFAULT_CACHE = "/var/cache/agent-tests" if os.geteuid() == 0 else "~/.cache/agent-tests"
CACHE = Path(os.environ.get("AGENT_TEST_CACHE", _DEFAULT_CACHE)).expanduser()


class Recipe(NamedTuple):
    """A Debian root: release, Debian architecture, packages beyond minbase."""

    suite: str
    arch: str
    packages: Sequence[str]
    # Bump when the recipe changes otherwise: a new cache directory is built, the old one
    # stays unused.
    version: str = "1"

    def path(self) -> Path:
        key = hashlib.sha256(f"{self.version} {self.suite} {self.arch} {tuple(self.packages)}"
                             .encode()).hexdigest()[:10]
        return CACHE / f"rootfs-{self.suite}-{self.arch}-{key}"


@functools.cache
def native_arch() -> str:
    """This machine's Debian architecture (amd64, arm64, ...)."""
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()


# procps: /bin/kill, which agent@.service's ExecReload uses (present on every normal Debian and
# Raspberry Pi OS, not in debootstrap's minbase).
PACKAGES = ("systemd", "systemd-sysv", "dbus", "procps", "python3", "python3-venv")


def systemd_recipe() -> Recipe:
    return Recipe("bookworm", native_arch(), PACKAGES)


@contextlib.contextmanager
def _cache_lock(name: str) -> Iterator[None]:
    """One lock per cache entry: roots of different architectures build side by side."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def rootfs_cached(recipe: Recipe | None = None) -> bool:
    return (recipe or systemd_recipe()).path().is_dir()


def rootfs(recipe: Recipe | None = None, log=sys.stderr) -> Path:
    """The cached Debian root (debootstrapped on first use: a minute or two, needs the mirror;
    a foreign architecture runs through qemu-user-static and binfmt_misc)."""
    recipe = recipe or systemd_recipe()
    return cached_directory(recipe.path(), lambda tmp: _debootstrap(recipe, tmp, log))


def cached_directory(path: Path, build: Callable[[Path], None]) -> Path:
    """path, built by build(tmp) into a temporary directory beside it and renamed into place
    (under the cache lock), so a half-built cache entry is never seen."""
    if path.is_dir():
        return path
    with _cache_lock(path.name):
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


def _debootstrap(recipe: Recipe, target: Path, log) -> None:
    command = ["debootstrap", "--variant=minbase", f"--arch={recipe.arch}",
               "--include=" + ",".join(recipe.packages), recipe.suite, str(target),
               apt_sources.debian_mirror()]
    print("building a test root:", " ".join(command), file=log, flush=True)
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
    return cached_directory(CACHE / f"wheels-{key}",
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
    """What pip needs to install a checkout with `extras`: the pip that install.sh upgrades
    to, the build backend and the dependencies."""
    project = tomllib.loads(pyproject.read_text())
    reqs = ["pip", *project["build-system"]["requires"], *project["project"]["dependencies"]]
    for extra in extras:
        reqs += project["project"]["optional-dependencies"][extra]
    return reqs
