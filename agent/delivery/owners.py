"""One owner per spool.

- A buffer directory belongs to one process at a time: an OS lock (flock) on `<dir>/.lock`,
  which holds the owner's PID. Another process waits a bounded time for it, then gets a
  one-line error naming the directory and the holder's PID. The kernel drops the lock when the
  holder exits, even by kill -9.
- Within the process, each spool (a file, or a memory buffer) is opened once and shared by the
  outputs that deliver to that destination, e.g. the old and the new agent during a reload: the
  new output takes over the open spool, and Spool.drain_slot lets one writer drain it at a time.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from agent.delivery.spool import Spool

LOCK_FILE = ".lock"
_guard = threading.RLock()
_directories: Dict[str, List[int]] = {}  # real path -> [lock fd, users]
_spools: Dict[str, Tuple[Spool, List[int], Optional[str]]] = {}  # key -> spool, [users], dir


class DirectoryBusy(Exception):
    def __init__(self, directory: str, holder: str, waited: float) -> None:
        super().__init__(f"buffer_directory {directory} is in use by {holder} (waited "
                         f"{waited:g}s for it)")
        self.directory = directory
        self.holder = holder


def claim(key: str, directory: Optional[str], wait: float,
          open_spool: Callable[[], Spool]) -> Tuple[Spool, bool]:
    """The spool for key, opened (True) or already open in this process (False). The first
    spool of a directory takes the directory's lock, waiting up to `wait` seconds."""
    with _guard:
        if key in _spools:
            spool, users, _ = _spools[key]
            users[0] += 1
            return spool, False
        if directory:
            _lock_directory(directory, wait)
        try:
            spool = open_spool()
        except BaseException:
            if directory:
                _unlock_directory(directory)
            raise
        _spools[key] = (spool, [1], directory)
        return spool, True


def users(spool: Spool) -> int:
    """How many outputs of this process share the spool."""
    with _guard:
        return next((u[0] for s, u, _ in _spools.values() if s is spool), 0)


def release(spool: Spool) -> None:
    """One user less; the last one closes the spool (and unlocks its directory)."""
    with _guard:
        key = next((k for k, (s, _, _) in _spools.items() if s is spool), None)
        if key is None:
            return
        _, count, directory = _spools[key]
        count[0] -= 1
        if count[0] > 0:
            return
        del _spools[key]
        spool.close()
        if directory:
            _unlock_directory(directory)


def _lock_directory(directory: str, wait: float) -> None:
    real = os.path.realpath(directory)
    if real in _directories:
        _directories[real][1] += 1
        return
    fd = os.open(os.path.join(real, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(fd)
                os.close(fd)
                raise DirectoryBusy(directory, holder, wait) from None
            time.sleep(0.05)  # polling a lock with a deadline; flock has no timeout
    _write_owner(fd)
    _directories[real] = [fd, 1]


def _unlock_directory(directory: str) -> None:
    real = os.path.realpath(directory)
    held = _directories.get(real)
    if held is None:
        return
    held[1] -= 1
    if held[1] == 0:
        del _directories[real]
        os.close(held[0])  # closing the descriptor drops the flock


def _write_owner(fd: int) -> None:
    command = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "run"
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} agent {command}\n".encode(), 0)
    except OSError:  # a full disk: the lock holds all the same, without the PID
        pass


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").split()
    except OSError:
        text = []
    if not text:
        return "another process (PID unknown)"
    return f"PID {text[0]} ({' '.join(text[1:])})" if len(text) > 1 else f"PID {text[0]}"
