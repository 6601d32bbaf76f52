"""agent@.service under a real systemd (PID 1 in its own namespaces, see systemd_container.py).

systemd/install.sh installs the agent from this checkout into the container (offline, from
cached wheels), then agent@ram runs with a config that writes to the session's InfluxDB 1.x on
the host's loopback. Tests run in file order on one container.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
import uuid
from pathlib import Path

import pytest

from tests import servers
from tests import systemd_cache as cache
from tests import systemd_container as sc

REPO = Path(__file__).resolve().parents[2]
EXTRAS = ("influx", "serial", "listeners")
SRC = "/usr/src/agent"
WHEELS = "/usr/src/agent-wheels"


def unavailable(reason: str) -> None:
    if os.environ.get("AGENT_REQUIRE_SERVERS") == "1":
        pytest.fail(f"real systemd test: {reason} (AGENT_REQUIRE_SERVERS=1)", pytrace=False)
    pytest.skip(reason)


def copy_checkout(dest: Path) -> None:
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("agent", "systemd", "telegraf"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, dest / name, ignore=ignore)


def ram_config(url: str, database: str, extra: str = "") -> str:
    return (f'[agent]\ninterval = "1s"\nflush_interval = "1s"\n{extra}\n[[inputs.mem]]\n'
            f'[[outputs.influxdb]]\nurls = ["{url}"]\ndatabase = "{database}"\n')


@pytest.fixture(scope="module")
def database():
    return "systemd_" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def box(influxdb1, database, tmp_path_factory):
    try:
        sc.check_prerequisites(need_debootstrap=not cache.rootfs_cached())
    except sc.Unavailable as exc:
        unavailable(str(exc))
    began = time.monotonic()
    lower = cache.rootfs()
    requirements = cache.install_requirements(REPO / "pyproject.toml", EXTRAS)
    wheels = cache.wheelhouse(requirements, cache.rootfs_python(lower))
    container = sc.Container(lower, tmp_path_factory.mktemp("systemd-box"))
    copy_checkout(container.path(SRC))
    shutil.copytree(wheels, container.path(WHEELS))
    # An existing config: the installer must keep it.
    config = container.path("/etc/agent/ram.toml")
    config.parent.mkdir(parents=True)
    config.write_text(ram_config(influxdb1.url, database))
    with container.boot():
        print(f"container ready after {time.monotonic() - began:.1f}s")
        yield container


def install(box: sc.Container, *args: str):
    return box.run(f"{SRC}/systemd/install.sh", "--wheels", WHEELS,
                   "--extras", ",".join(EXTRAS), *args, timeout=300)


def count(influxdb1, database: str, where: str = "") -> int:
    result = influxdb1.query(f"SELECT count(used) FROM mem {where}", db=database)
    series = result["results"][0].get("series")
    return series[0]["values"][0][1] if series else 0


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def test_installer(box):
    result = install(box)
    assert "systemctl enable --now agent@ram" in result.stdout
    assert os.readlink(box.path("/usr/local/bin/agent")) == "/opt/agent/bin/agent"
    assert box.run("agent", "--version").stdout.startswith("agent ")
    box.run("/opt/agent/bin/python", "-c", "import influxdb_client, serial")
    for unit in ("agent@.service", "telegraf@.service"):
        installed = box.path(f"/etc/systemd/system/{unit}").read_text()
        assert installed == (REPO / "systemd" / unit).read_text()
    env = box.path("/etc/agent/agent-ram.env").stat()
    assert (oct(env.st_mode & 0o777), env.st_uid) == ("0o600", 0)
    assert box.path("/etc/agent/credentials").stat().st_mode & 0o777 == 0o700
    assert "[[outputs.influxdb]]" in box.path("/etc/agent/ram.toml").read_text(), "overwritten"
    for example in (REPO / "systemd/examples/agent").glob("*.toml"):
        if example.name != "ram.toml":
            assert box.path(f"/etc/agent/{example.name}").read_text() == example.read_text()
    for conf in (REPO / "telegraf").glob("*.conf"):
        assert box.path(f"/etc/telegraf/{conf.name}").exists()
    env = box.path("/etc/telegraf/telegraf-ram.env").stat()
    assert oct(env.st_mode & 0o777) == "0o600"
    # The installer reloaded systemd: the template is known without a daemon-reload of ours.
    assert box.show("agent@ram.service", "LoadState")["LoadState"] == "loaded"


def test_installer_is_idempotent_and_keeps_edits(box):
    env = box.path("/etc/agent/agent-ram.env")
    env.write_text(env.read_text() + "# edited\n")
    result = install(box)
    assert "keeping /etc/agent/agent-ram.env" in result.stderr
    assert env.read_text().endswith("# edited\n")
    assert box.run("agent", "--version").returncode == 0


def test_start_is_notify_and_points_arrive(box, influxdb1, database):
    # As the README says. (Enabled, the unit also stays loaded after a stop, so that its exit
    # status can be read: an unreferenced inactive unit is garbage-collected.)
    box.run("systemctl", "enable", "--now", "agent@ram")
    props = box.show("agent@ram.service", "Type", "NotifyAccess", "ActiveState", "SubState",
                     "MainPID", "StateDirectory", "DynamicUser")
    assert props == {"Type": "notify", "NotifyAccess": "main", "ActiveState": "active",
                     "SubState": "running", "MainPID": props["MainPID"],
                     "StateDirectory": "agent/ram", "DynamicUser": "yes"}, box.journal()
    wait_for(lambda: count(influxdb1, database) >= 2, 20, "points in InfluxDB")


def test_hardening_is_in_force(box):
    pid = box.show("agent@ram.service", "MainPID")["MainPID"]
    status = box.run("cat", f"/proc/{pid}/status").stdout
    fields = dict(re.findall(r"^(\w+):\s+(.*)$", status, re.M))
    assert fields["Uid"].split()[0] != "0"
    assert fields["NoNewPrivs"] == "1"
    assert fields["Seccomp"] == "2"
    assert int(fields["CapEff"], 16) == 0
    dialout = box.run("getent", "group", "dialout").stdout.split(":")[2]
    assert dialout in fields["Groups"].split()  # SupplementaryGroups=dialout


def test_serial_devices_allowed_others_denied(box):
    """DevicePolicy=closed + DeviceAllow=char-ttyS and group dialout, as the unit says: the
    agent's open() of a ttyS node reaches the kernel driver (no such port: ENXIO), while
    another character device is refused by the device cgroup (EPERM)."""
    box.run("mknod", "-m", "0660", "/dev/ttyS191", "c", "4", "255")  # no such UART
    box.run("chgrp", "dialout", "/dev/ttyS191")
    box.run("mknod", "-m", "0666", "/dev/probe", "c", "1", "11")  # /dev/kmsg's numbers
    box.path("/etc/agent/serial.toml").write_text(
        '[agent]\ninterval = "1s"\n'
        '[[inputs.serial]]\nport = "/dev/ttyS191"\nprotocol = "mhz19"\n'
        '[[inputs.serial]]\nport = "/dev/probe"\nprotocol = "mhz19"\n'
        '[[outputs.file]]\nfiles = ["stdout"]\n')
    box.run("systemctl", "start", "agent@serial")
    try:
        def logged() -> str:
            return box.run("journalctl", "-u", "agent@serial", "-o", "cat").stdout

        wait_for(lambda: logged().count("Cannot open") >= 2, 15, "both ports tried")
        lines = {port: line for line in logged().splitlines()
                 for port in ("/dev/ttyS191", "/dev/probe") if f"Cannot open {port}" in line}
        assert "Errno 6]" in lines["/dev/ttyS191"], lines  # ENXIO: past cgroup and dialout
        assert "Errno 1]" in lines["/dev/probe"], lines  # EPERM: the device cgroup
    finally:
        box.run("systemctl", "stop", "agent@serial")


def test_spool_lives_in_state_directory(box):
    private = box.path("/var/lib/private/agent/ram")
    assert os.readlink(box.path("/var/lib/agent/ram")) == "../private/agent/ram"
    spools = list(private.glob("influxdb-*.sqlite"))
    assert spools, list(private.iterdir())
    assert spools[0].stat().st_uid != 0
    assert private.stat().st_mode & 0o777 == 0o700


def test_reload_keeps_it_running_with_the_new_config(box, influxdb1, database):
    before = box.show("agent@ram.service", "MainPID")["MainPID"]
    box.path("/etc/agent/ram.toml").write_text(
        ram_config(influxdb1.url, database, '[global_tags]\nreloaded = "yes"\n'))
    box.run("systemctl", "reload", "agent@ram")
    # kill -HUP returns at once; the unit is "reloading" until the agent sends READY=1.
    wait_for(lambda: box.show("agent@ram.service", "ActiveState")["ActiveState"] != "reloading",
             20, "the reload to finish")
    props = box.show("agent@ram.service", "ActiveState", "SubState", "MainPID")
    assert props == {"ActiveState": "active", "SubState": "running", "MainPID": before}
    wait_for(lambda: count(influxdb1, database, "WHERE reloaded = 'yes'") >= 2, 20,
             "points with the reloaded config's tag")
    assert box.show("agent@ram.service", "MainPID")["MainPID"] == before


def _low_free_port() -> int:
    """A port below 1024 that nothing listens on (we are root here, as the box needs)."""
    for port in range(1023, 900, -1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below 1024")


def test_a_listener_binds_its_port_and_a_low_port_needs_the_drop_in(box, influxdb1, database):
    """The unit lets a listener bind its port; below 1024 only with the CAP_NET_BIND_SERVICE
    drop-in its comments document. Without it the agent does not run on without that input:
    it exits 1 naming it, as Telegraf does, and systemd keeps trying."""
    high, low = servers.free_port(), _low_free_port()
    box.path("/etc/agent/listen.toml").write_text(
        f'[agent]\nflush_interval = "1s"\n'
        f'[[inputs.influxdb_v2_listener]]\n  service_address = "127.0.0.1:{high}"\n'
        f'[[inputs.influxdb_listener]]\n  service_address = "127.0.0.1:{low}"\n'
        f'[[outputs.influxdb]]\nurls = ["{influxdb1.url}"]\ndatabase = "{database}"\n')
    try:
        assert box.run("systemctl", "start", "agent@listen", check=False).returncode != 0
        journal = box.journal("-u", "agent@listen")
        assert ("Error running agent: starting input inputs.influxdb_listener: cannot listen on "
                f"127.0.0.1:{low}") in journal and "Permission denied" in journal, journal
        assert box.show("agent@listen.service", "ExecMainStatus") == {"ExecMainStatus": "1"}
        assert not servers.port_open(high) and not servers.port_open(low)
        dropin = box.path("/etc/systemd/system/agent@listen.service.d/bind.conf")
        dropin.parent.mkdir(parents=True, exist_ok=True)
        dropin.write_text("[Service]\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"
                          "AmbientCapabilities=CAP_NET_BIND_SERVICE\n")
        box.run("systemctl", "daemon-reload")
        box.run("systemctl", "restart", "agent@listen")
        wait_for(lambda: servers.port_open(high), 20, "the listener's port")
        wait_for(lambda: servers.port_open(low), 20, "the port below 1024")
        status, _ = servers.http("POST", f"http://127.0.0.1:{high}/api/v2/write",
                                 b"listened v=1 1700000000000000000\n")
        assert status == 204
        status, _ = servers.http("POST", f"http://127.0.0.1:{low}/write?db=x",
                                 b"listened v=2 1700000000001000000\n")
        assert status == 204
        wait_for(lambda: len(influxdb1.rows("SELECT v FROM listened", db=database)) == 2, 20,
                 "both acknowledged points in InfluxDB")
    finally:
        box.run("systemctl", "stop", "agent@listen", check=False)


def test_stop_is_quick_and_clean(box):
    began = time.monotonic()
    box.run("systemctl", "stop", "agent@ram")
    took = time.monotonic() - began
    props = box.show("agent@ram.service", "ActiveState", "Result", "ExecMainCode",
                     "ExecMainStatus")
    # ExecMainCode 1 = CLD_EXITED (not killed by a signal).
    assert props == {"ActiveState": "inactive", "Result": "success", "ExecMainCode": "1",
                     "ExecMainStatus": "0"}, box.journal("-u", "agent@ram")
    assert took < 5, f"stop took {took:.1f}s"


def _fast_restarts(box, instance: str) -> None:
    """Test-only drop-in: RestartSec 5s -> 0.2s, so a restart loop would show at once."""
    dropin = box.path(f"/etc/systemd/system/agent@{instance}.service.d/test.conf")
    dropin.parent.mkdir(parents=True, exist_ok=True)
    dropin.write_text("[Service]\nRestartSec=200ms\n")


def test_broken_config_fails_without_restart_loop(box):
    box.path("/etc/agent/bad.toml").write_text("[[inputs.no_such_plugin]]\n")
    _fast_restarts(box, "bad")
    box.run("systemctl", "daemon-reload")
    assert box.run("systemctl", "start", "agent@bad", check=False).returncode != 0
    # Only a unit that is not restarted settles in "failed" (a restart goes through
    # activating/auto-restart, and a loop ends in start-limit-hit with NRestarts > 0).
    wait_for(lambda: box.show("agent@bad.service", "ActiveState")["ActiveState"] == "failed",
             20, "agent@bad to fail")
    props = box.show("agent@bad.service", "ActiveState", "Result", "ExecMainStatus",
                     "NRestarts")
    assert props == {"ActiveState": "failed", "Result": "exit-code", "ExecMainStatus": "78",
                     "NRestarts": "0"}
    assert "no_such_plugin" in box.journal("-u", "agent@bad")


def test_other_failures_are_restarted(box):
    """The control for the test above: exit 1 (not 78) is restarted."""
    box.path("/etc/agent/flaky.toml").write_text(
        '[agent]\nbuffer_strategy = "disk"\nbuffer_directory = "/proc/nope"\n'
        '[[inputs.mem]]\n[[outputs.influxdb]]\nurls = ["http://127.0.0.1:9"]\n')
    _fast_restarts(box, "flaky")
    box.run("systemctl", "daemon-reload")
    box.run("systemctl", "start", "agent@flaky", check=False)
    wait_for(lambda: int(box.show("agent@flaky.service", "NRestarts")["NRestarts"]) >= 2, 10,
             "restarts of agent@flaky")
    box.run("systemctl", "stop", "agent@flaky", check=False)


def test_uninstall_keeps_configs_purge_removes_them(box):
    box.run("systemctl", "enable", "--now", "agent@ram")
    install(box, "--uninstall")
    assert box.show("agent@ram.service", "LoadState", "ActiveState") == {
        "LoadState": "not-found", "ActiveState": "inactive"}
    for gone in ("/opt/agent", "/usr/local/bin/agent", "/etc/systemd/system/agent@.service",
                 "/etc/systemd/system/multi-user.target.wants/agent@ram.service"):
        assert not os.path.lexists(box.path(gone)), gone
    assert box.path("/etc/agent/agent-ram.env").exists()
    install(box, "--uninstall", "--purge")
    assert not box.path("/etc/agent").exists()
    assert not box.path("/var/lib/private/agent").exists()
