"""A throwaway chroot over a cached Debian root, of this or a foreign architecture.

For the install tests (test_pi_install.py), which need a Debian userland (its python3, pip,
apt, dpkg) but no init: no systemd as PID 1 (systemd_container.py does that), and so nothing
left running between commands. Each `run` is

    unshare --mount --pid --fork [--net] sh -c '<mount overlay, proc, devpts; chroot>' ...

with the overlay's upper directory kept across commands (what one command installs the next
sees) and the cached root as its read-only lower layer. The mount namespace, and with it every
mount, dies with the command; nothing is mounted on the host. `network=False` adds a network
namespace of its own (loopback only): a warm run proves it needs no network.

A foreign architecture (armhf, arm64) runs through qemu-user-static, registered with
binfmt_misc with the F flag: the kernel keeps the interpreter open, so the root needs no qemu
binary of its own. `require_emulation` mounts binfmt_misc and enables the registration when
binfmt-support is installed but has not done so (containers without an init).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Dict, Optional, Tuple

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BINFMT = Path("/proc/sys/fs/binfmt_misc")
# Debian architecture -> the qemu-user-static binfmt_misc entry that runs it.
QEMU = {"armhf": "qemu-arm", "armel": "qemu-arm", "arm64": "qemu-aarch64",
        "i386": "qemu-i386", "riscv64": "qemu-riscv64"}
# Where the host's CA bundle goes inside, for pip (see Chroot.__init__).
CA_INSIDE = "/etc/agent-tests-host-ca.crt"

# $1 lower, $2 upper, $3 work, $4 mount point, $5 network (1/0), $6 where the CPU time goes;
# then the command. The command runs as a child, so that `times` can tell its CPU time.
ENTER = r"""
set -eu
lower=$1 upper=$2 work=$3 m=$4 net=$5 cpu=$6
shift 6
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$m"
mount -t proc -o nosuid,nodev,noexec proc "$m/proc"
mkdir -p "$m/dev/pts"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$m/dev/pts"
if [ "$net" = 1 ] && [ -f /etc/resolv.conf ]; then
    mount --bind /etc/resolv.conf "$m/etc/resolv.conf"
else
    ip link set lo up 2>/dev/null || true
fi
rc=0
chroot "$m" "$@" || rc=$?
times >"$cpu"
exit "$rc"
"""


class Unavailable(Exception):
    """A prerequisite is missing (skip, or fail under AGENT_REQUIRE_SERVERS=1)."""


def check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise Unavailable("needs root (namespaces, mounts, chroot, debootstrap)")
    for tool in ("unshare", "chroot", "mount", "debootstrap"):
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} not found (util-linux, coreutils, debootstrap)")
    if "overlay" not in Path("/proc/filesystems").read_text():
        raise Unavailable("the kernel has no overlay file system")


def require_emulation(arch: str, native: str) -> None:
    """Make sure this kernel runs `arch` binaries (qemu-user-static through binfmt_misc)."""
    if arch == native:
        return
    entry = QEMU.get(arch)
    if entry is None:
        raise Unavailable(f"no qemu-user-static entry known for {arch}")
    if not Path(f"/usr/libexec/qemu-binfmt/{entry.split('-', 1)[1]}-binfmt-P").exists() \
            and shutil.which(f"{entry}-static") is None:
        raise Unavailable("qemu-user-static is not installed")
    if not (BINFMT / "status").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], "mount binfmt_misc")
    if not _enabled(entry):
        if shutil.which("update-binfmts") is None:
            raise Unavailable("binfmt-support is not installed (update-binfmts)")
        _run(["update-binfmts", "--enable", entry], f"update-binfmts --enable {entry}")
    if not _enabled(entry):
        raise Unavailable(f"binfmt_misc entry {entry} is not enabled")
    flags = next((line.split()[1] for line in (BINFMT / entry).read_text().splitlines()
                  if line.startswith("flags:") and len(line.split()) > 1), "")
    if "F" not in flags:
        raise Unavailable(f"binfmt_misc entry {entry} lacks the F flag (flags: {flags!r})")


def _enabled(entry: str) -> bool:
    path = BINFMT / entry
    return path.exists() and path.read_text().startswith("enabled")


def _run(command: list, what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise Unavailable(f"{what} failed: {(result.stdout + result.stderr).strip()}")


class Chroot:
    """Commands in a chroot over an overlay of `lower`, with a private upper layer in
    `workdir`. With `network`, the host's network and resolv.conf; pip trusts the CA bundle
    this machine's own pip trusts (PIP_CERT, or Debian's bundle), which on a machine behind a
    TLS-inspecting proxy is not in pip's own certifi. That is the only pip setting made:
    indexes are pip's defaults."""

    def __init__(self, lower: Path, workdir: Path, network: bool = True) -> None:
        self.lower = lower
        self.workdir = workdir
        self.upper = workdir / "upper"
        self.network = network
        self.cpu_seconds = 0.0  # of every command run so far, emulation included
        self._procs: set = set()
        self._lock = threading.Lock()
        for sub in ("upper", "work", "mnt"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        self.env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb"}
        ca = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
        if network and ca.is_file():
            self.path(CA_INSIDE).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ca, self.path(CA_INSIDE))
            self.env["PIP_CERT"] = CA_INSIDE

    def path(self, inside: str) -> Path:
        """A path inside, in the upper layer: where the host writes files before a command,
        and finds what commands wrote (`read_text` also finds what the root had)."""
        return self.upper / inside.lstrip("/")

    def read_text(self, inside: str) -> str:
        upper = self.path(inside)
        return (upper if upper.exists() else self.lower / inside.lstrip("/")).read_text()

    def _argv(self, command: Tuple[str, ...], env: Optional[Dict[str, str]],
              cpu: Path) -> list:
        unshare = ["unshare", "--mount", "--pid", "--fork", "--propagation", "private",
                   "--kill-child=SIGKILL"]
        if not self.network:
            unshare.append("--net")
        inside_env = [f"{k}={v}" for k, v in {**self.env, **(env or {})}.items()]
        return [*unshare, "sh", "-c", ENTER, "enter", str(self.lower), str(self.upper),
                str(self.workdir / "work"), str(self.workdir / "mnt"),
                "1" if self.network else "0", str(cpu), "/usr/bin/env", "-i", *inside_env,
                *command]

    def run(self, *command: str, check: bool = True, timeout: float = 600.0,
            input: Optional[str] = None, env: Optional[Dict[str, str]] = None,
            ) -> subprocess.CompletedProcess:
        with self.popen(*command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True) as proc:
            try:
                out, err = proc.communicate(input, timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        result = subprocess.CompletedProcess(command, proc.returncode, out, err)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)}: exit {result.returncode}\n"
                                 f"{result.stdout[-4000:]}{result.stderr[-6000:]}")
        return result

    @contextlib.contextmanager
    def popen(self, *command: str, env: Optional[Dict[str, str]] = None, **kwargs):
        """A command inside, as a Popen; killed if still running at the end, its CPU time
        added to cpu_seconds."""
        cpu = self.workdir / f"cpu-{uuid.uuid4().hex}"
        proc = subprocess.Popen(self._argv(command, env, cpu), env={"PATH": PATH}, **kwargs)
        with self._lock:
            self._procs.add(proc)
        try:
            with proc:
                yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            with self._lock:
                self._procs.discard(proc)
            self.cpu_seconds += _children_seconds(cpu)

    def close(self) -> None:
        with self._lock:
            for proc in self._procs:
                proc.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _children_seconds(path: Path) -> float:
    """User + system seconds from the second line of `times` (the children's)."""
    try:
        lines = path.read_text().splitlines()
        path.unlink()
    except OSError:
        return 0.0
    found = re.findall(r"(\d+)m([\d.]+)s", lines[1] if len(lines) > 1 else "")
    return sum(int(m) * 60 + float(s) for m, s in found)
