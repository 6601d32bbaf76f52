"""A real systemd as PID 1 over a debootstrapped Debian root, for end-to-end unit tests.

systemd-nspawn does not work on the test machines; this does, with util-linux alone:

- The root file system is debootstrapped once and cached (systemd_cache.py). Each boot puts a
  throwaway overlay on top of it, so the cache stays pristine.
- ``Container.boot()`` runs ``unshare --pid --fork --mount --cgroup --uts --ipc``: a new PID
  namespace (systemd is PID 1 there), a private mount namespace (nothing is mounted on the
  host), a cgroup namespace rooted at a cgroup of our own (systemd's slices live below it, and
  teardown removes it), and UTS/IPC namespaces (systemd sets the hostname; not the host's). The
  network namespace is the host's: the units reach servers on the host's loopback.
- Inside: the overlay as /, a fresh proc (/proc/sys read-only, so systemd-sysctl cannot touch
  the host's kernel settings), a read-only sysfs, cgroup2 at /sys/fs/cgroup, a minimal /dev
  (null, zero, full, random, urandom, tty, a private devpts), tmpfs on /run and /tmp, then
  chroot and exec /lib/systemd/systemd with ``container=agent-test`` in its environment (so
  systemd and its units behave as in a container: no udev, no getty on a console).
- Commands run inside with ``nsenter --pid --mount ... --root``; files are reached from the host
  through /proc/<pid 1>/root.
- ``close()`` SIGKILLs PID 1 (the kernel then kills every process of the namespace), waits for
  unshare, kills what is left in the cgroup and removes it. The namespaces vanish with their
  last process; the host's mounts and the host's systemd (if any) are never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Units that would reach for the host's hardware or kernel if they could; masked in each boot's
# overlay. (Most are skipped anyway: read-only /proc/sys and /sys, container=.)
MASKED = (
    "console-getty.service", "getty.target", "systemd-udevd.service",
    "systemd-udev-trigger.service", "systemd-modules-load.service", "modprobe@.service",
    "systemd-sysctl.service", "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount",
    "systemd-firstboot.service",
)

# Runs inside the new namespaces (as root, before systemd): $1 lower, $2 upper, $3 work, $4 root.
BOOT_SCRIPT = r"""
set -eu
lower=$1 upper=$2 work=$3 m=$4
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$m"
mount -t proc -o nosuid,nodev,noexec proc "$m/proc"
for f in "$m/proc/sys" "$m/proc/sysrq-trigger"; do
    [ -e "$f" ] || continue
    mount --bind "$f" "$f"
    mount -o remount,bind,ro "$f"
done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$m/sys"
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$m/sys/fs/cgroup"
mount -t tmpfs -o nosuid,mode=755,size=16m tmpfs "$m/dev"
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    name=${node%%:*} nums=${node#*:}
    mknod -m 666 "$m/dev/$name" c "${nums%:*}" "${nums#*:}"
done
mkdir "$m/dev/pts" "$m/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$m/dev/pts"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$m/dev/shm"
ln -s pts/ptmx "$m/dev/ptmx"
ln -s /proc/self/fd "$m/dev/fd"
for i in 0:stdin 1:stdout 2:stderr; do ln -s "/proc/self/fd/${i%%:*}" "$m/dev/${i#*:}"; done
mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs "$m/run"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$m/tmp"
cd "$m"
exec chroot "$m" /usr/bin/env -i container=agent-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /lib/systemd/systemd --system
"""


class Unavailable(Exception):
    """A prerequisite is missing (skip, or fail under AGENT_REQUIRE_SERVERS=1)."""


def check_prerequisites(need_debootstrap: bool = True) -> None:
    if os.geteuid() != 0:
        raise Unavailable("needs root (namespaces, mounts, debootstrap)")
    for tool in ("unshare", "nsenter", "chroot", "mount"):
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} not found (util-linux / coreutils)")
    if need_debootstrap and shutil.which("debootstrap") is None:
        raise Unavailable("debootstrap not installed (apt-get install debootstrap)")
    if "overlay" not in Path("/proc/filesystems").read_text():
        raise Unavailable("the kernel has no overlay file system")
    cgroup2_root()


# --- cgroups ---------------------------------------------------------------------------------

def cgroup2_root() -> Path:
    """Where the cgroup2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on
    a hybrid host)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup2":
            return Path(left.split(" ")[4])
    raise Unavailable("no cgroup2 hierarchy mounted")


def _remove_cgroup(path: Path, timeout: float = 10.0) -> None:
    kill = path / "cgroup.kill"
    if kill.exists():
        with contextlib.suppress(OSError):
            kill.write_text("1")
    deadline = time.monotonic() + timeout
    while path.exists():
        try:
            for sub in sorted((p for p in path.rglob("*") if p.is_dir()),
                              key=lambda p: len(p.parts), reverse=True):
                sub.rmdir()
            path.rmdir()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def remove_stale_cgroups() -> None:
    """Cgroups left by a test process that was killed before its teardown (SIGKILL): its
    container died with it (PR_SET_PDEATHSIG, unshare --kill-child), its cgroup did not."""
    for path in cgroup2_root().glob("agent-test-*"):
        owner = path.name.split("-")[2]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            with contextlib.suppress(OSError):
                _remove_cgroup(path, timeout=2)


# --- the container ---------------------------------------------------------------------------

class Container:
    """systemd as PID 1 in its own namespaces over an overlay of `lower`."""

    def __init__(self, lower: Path, workdir: Path) -> None:
        self.lower = lower
        self.workdir = workdir
        self.upper = workdir / "upper"
        self.log_path = workdir / "boot.log"
        self.cgroup = cgroup2_root() / f"agent-test-{os.getpid()}-{id(self):x}"
        self.proc: subprocess.Popen | None = None
        self.pid1 = 0
        for sub in ("upper", "work", "root"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        units = self.upper / "etc/systemd/system"
        units.mkdir(parents=True, exist_ok=True)
        for unit in MASKED:
            (units / unit).symlink_to("/dev/null")

    def path(self, inside: str) -> Path:
        """A path inside, as seen from the host: in the overlay before boot, then through
        /proc/<pid 1>/root (the merged view)."""
        base = Path(f"/proc/{self.pid1}/root") if self.pid1 else self.upper
        return base / inside.lstrip("/")

    def boot(self, timeout: float = 90.0) -> Container:
        remove_stale_cgroups()
        self.cgroup.mkdir()
        command = ["unshare", "--pid", "--fork", "--mount", "--cgroup", "--uts", "--ipc",
                   "--propagation", "private", "--kill-child=SIGKILL",
                   "sh", "-c", BOOT_SCRIPT, "boot", str(self.lower), str(self.upper),
                   str(self.workdir / "work"), str(self.workdir / "root")]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, preexec_fn=self._enter_cgroup)
        try:
            self.pid1 = self._wait_for_pid1(timeout)
            self._wait_until_booted(timeout)
        except BaseException:
            self.close()
            raise
        return self

    def _enter_cgroup(self) -> None:
        """In the child before exec: join our cgroup (the cgroup namespace's root) and die
        with the test process (unshare then SIGKILLs PID 1: --kill-child)."""
        (self.cgroup / "cgroup.procs").write_text(str(os.getpid()))
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG

    def _wait_for_pid1(self, timeout: float) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the container exited ({self.proc.returncode}):\n"
                                   + self.boot_log())
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            with contextlib.suppress(OSError):
                for pid in children.read_text().split():
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                        return int(pid)
            time.sleep(0.05)
        raise TimeoutError("systemd did not start:\n" + self.boot_log())

    def _wait_until_booted(self, timeout: float) -> None:
        # The private bus socket appears early; is-system-running --wait then blocks until the
        # boot job queue is empty.
        deadline = time.monotonic() + timeout
        while not self.path("/run/systemd/private").exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("systemd did not come up:\n" + self.boot_log())
            time.sleep(0.05)
        state = self.run("systemctl", "is-system-running", "--wait", check=False,
                         timeout=max(deadline - time.monotonic(), 5)).stdout.strip()
        if state not in ("running", "degraded"):
            raise RuntimeError(f"system state {state!r}:\n" + self.journal())

    def boot_log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def run(self, *command: str, check: bool = True, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run a command inside (all namespaces, chrooted), with a clean environment."""
        if not self.pid1:
            raise RuntimeError("not booted")
        argv = ["nsenter", "--target", str(self.pid1), "--pid", "--mount", "--uts", "--ipc",
                "--cgroup", "--root", "--wd", *command]
        env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", "SYSTEMD_PAGER": "",
               "SYSTEMD_COLORS": "0"}
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                env=env, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)}: exit {result.returncode}\n"
                                 f"{result.stdout}{result.stderr}")
        return result

    def show(self, unit: str, *properties: str) -> dict:
        """systemctl show -p ... as a dict."""
        out = self.run("systemctl", "show", unit, "-p", ",".join(properties)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, *args: str) -> str:
        if not self.pid1:
            return self.boot_log()
        return self.run("journalctl", "--no-pager", "-b", *args, check=False).stdout[-6000:]

    def close(self) -> None:
        if self.pid1:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid1, signal.SIGKILL)
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.pid1 = 0
        if self.cgroup.exists():
            _remove_cgroup(self.cgroup)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
