"""Fixtures of the delivery tests: an InfluxDB 1.x of the test's own (to stop and start) and
small tmpfs mounts (a disk that fills up)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests import servers
from tests.conftest import start_server


@pytest.fixture
def own_influx():
    """An InfluxDB 1.x of this test's own, free to be stopped and started."""
    server = start_server(servers.InfluxDB1)
    yield server
    server.close()


@pytest.fixture
def small_disk(tmp_path):
    """mount(size) -> a directory on a tmpfs of that many bytes (as root; otherwise skip, or
    fail under AGENT_REQUIRE_SERVERS=1). Unmounted after the test."""
    mounted = []

    def mount(size: int, name: str = "disk"):
        if os.geteuid() != 0:
            message = "mounting a tmpfs needs root"
            if os.environ.get("AGENT_REQUIRE_SERVERS") == "1":
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        path = tmp_path / name
        path.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                        str(path)], check=True)
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory, leave: int) -> None:
    """Fill the file system of directory with one file until `leave` bytes are free."""
    stat = os.statvfs(directory)
    free = stat.f_bavail * stat.f_frsize
    with open(os.path.join(directory, "filler"), "wb") as filler:
        filler.write(b"\0" * max(0, free - leave))
