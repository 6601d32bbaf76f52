"""A 2xx from a listener means the data is kept: upstream servers stop for 15 s, the agents
are killed with SIGKILL once in between, and afterwards every point that got a 2xx is in the
upstream, with its value. A full buffer answers 429, a full disk 503: never a 2xx for what was
not stored."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from typing import Dict, List

import pytest

from tests import servers
from tests.conftest import start_server
from tests.delivery_helpers import spooled_lines, wait_until
from tests.listener_helpers import Listening, ports, request

OUTAGE = 15.0  # seconds the upstream servers are away
BASE_MS = 1_700_000_000_000


class Client(threading.Thread):
    """A script writing 50 points a request until stopped; `acked` holds {ms: value} of the
    points whose request got a 2xx."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.acked: Dict[int, float] = {}
        self.requests = 0
        self.failures: List[str] = []
        self.stopping = threading.Event()
        self.next = 0
        self.run_id = uuid.uuid4().hex[:8]

    def batch(self) -> Dict[int, float]:
        points = {BASE_MS + self.next + i: (self.next + i) * 0.5 for i in range(50)}
        self.next += 50
        return points

    def run(self) -> None:
        while not self.stopping.is_set():
            points = self.batch()
            try:
                self.send(points)
            except Exception as err:  # noqa: BLE001 - a refused write: not acknowledged
                self.failures.append(f"{type(err).__name__}: {err}"[:200])
                self.stopping.wait(0.05)  # the script's own pace after an error
                continue
            self.acked.update(points)
            self.requests += 1
            self.stopping.wait(0.02)  # a script's pace: 50 points every 20 ms at most

    def send(self, points: Dict[int, float]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        self.stopping.set()
        self.join(60)


class SynchronousV2(Client):
    def __init__(self, port: int) -> None:
        super().__init__("influxdb-client SYNCHRONOUS")
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.client = InfluxDBClient(url=f"http://127.0.0.1:{port}", token="t", org="o",
                                     timeout=10_000)
        self.write_api = self.client.write_api(write_options=SYNCHRONOUS)

    def send(self, points: Dict[int, float]) -> None:
        lines = "\n".join(f"dur_sync,run={self.run_id} value={v} {t}" for t, v in points.items())
        self.write_api.write(bucket="b", record=lines, write_precision="ms")


class BatchingV2(Client):
    """influxdb-client's batching mode: acknowledged is what its success callback saw."""

    def __init__(self, port: int) -> None:
        super().__init__("influxdb-client batching")
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import WriteOptions

        self.client = InfluxDBClient(url=f"http://127.0.0.1:{port}", token="t", org="o",
                                     timeout=10_000)
        self.write_api = self.client.write_api(
            write_options=WriteOptions(batch_size=100, flush_interval=100, retry_interval=500,
                                       max_retries=3, max_retry_delay=2000),
            success_callback=self._delivered, error_callback=self._failed)
        self._lock = threading.Lock()

    def send(self, points: Dict[int, float]) -> None:
        for stamp, value in points.items():
            self.write_api.write(bucket="b", write_precision="ms",
                                 record=f"dur_batch,run={self.run_id} value={value} {stamp}")
        self.stopping.wait(0.02)

    def run(self) -> None:
        while not self.stopping.is_set():
            self.send(self.batch())  # the client acknowledges through _delivered

    def _delivered(self, conf, data) -> None:
        text = data.decode() if isinstance(data, bytes) else str(data)
        with self._lock:
            for line in text.splitlines():
                fields, stamp = line.split(" ")[1:3]
                self.acked[int(stamp)] = float(fields.split("=")[1])
            self.requests += 1

    def _failed(self, conf, data, err) -> None:
        self.failures.append(f"{type(err).__name__}: {err}"[:200])

    def finish(self) -> None:
        super().finish()
        self.write_api.close()


class InfluxDBPackage(Client):
    """The `influxdb` 1.x package's write_points with line protocol, ms precision."""

    def __init__(self, port: int) -> None:
        super().__init__("influxdb 1.x package")
        from influxdb import InfluxDBClient

        self.client = InfluxDBClient("127.0.0.1", port, database="ignored", timeout=10)

    def send(self, points: Dict[int, float]) -> None:
        lines = [f"dur_v1,run={self.run_id} value={v} {t}" for t, v in points.items()]
        self.client.write_points(lines, time_precision="ms", protocol="line")


def vm_points(vm, name: str, run_id: str, expect: int) -> Dict[int, float]:
    found: Dict[int, float] = {}
    for series in vm.export(f'{{__name__="{name}",run="{run_id}"}}', expect=expect, timeout=5):
        found.update(zip(series["timestamps"], series["values"]))
    return found


def influx_points(influx, database: str, run_id: str) -> Dict[int, float]:
    try:
        rows = influx.rows(f"SELECT value FROM dur_v1 WHERE run = '{run_id}'", db=database)
    except servers.ServerError:
        return {}
    return {row["time"] // 1_000_000: row["value"] for row in rows}


def progress(clients: List[Client], more: int, timeout: float) -> None:
    """Wait until every client had `more` further requests acknowledged."""
    goals = [(c, c.requests + more) for c in clients]
    assert wait_until(lambda: all(c.requests >= goal for c, goal in goals), timeout), \
        {c.name: (c.requests, c.failures[-3:]) for c in clients}


def test_every_acknowledged_point_survives_an_outage_and_kill_9(tmp_path):
    vm = start_server(servers.VictoriaMetrics)
    influx = start_server(servers.InfluxDB1)
    influx.create_database("durable")
    v2_port, v1_port = ports(2)
    roomy = {"metric_buffer_limit": "1000000"}
    v2 = Listening(tmp_path, f'[[inputs.influxdb_v2_listener]]\n'
                             f'  service_address = "127.0.0.1:{v2_port}"\n'
                             f'[[outputs.influxdb_v2]]\n  urls = ["{vm.url}"]\n'
                             f'  token = "x"\n  organization = "o"\n  bucket = "b"\n'
                             f'  timeout = "2s"\n', [v2_port], name="v2", settings=roomy)
    v1 = Listening(tmp_path, f'[[inputs.influxdb_listener]]\n'
                             f'  service_address = "127.0.0.1:{v1_port}"\n'
                             f'[[outputs.influxdb]]\n  urls = ["{influx.url}"]\n'
                             f'  database = "durable"\n  timeout = "2s"\n', [v1_port], name="v1",
                   settings=roomy)
    clients = [SynchronousV2(v2_port), BatchingV2(v2_port), InfluxDBPackage(v1_port)]
    try:
        for client in clients:
            client.start()
        progress(clients, 5, 60)
        vm.stop()
        influx.stop()
        outage_ends = time.monotonic() + OUTAGE
        progress(clients, 5, 30)  # acknowledged while the servers are away: on disk only
        v2.kill9()
        v1.kill9()
        v2.restart()
        v1.restart()
        progress(clients, 5, 60)
        wait_until(lambda: False, max(0.0, outage_ends - time.monotonic()))  # the outage
        vm.start()
        influx.start()
        progress(clients, 5, 60)
    finally:
        for client in clients:
            client.finish()
    expected = {client.name: client.acked for client in clients}
    sync, batching, package = clients
    got = {}

    def arrived() -> bool:
        got[sync.name] = vm_points(vm, "dur_sync_value", sync.run_id, len(sync.acked))
        got[batching.name] = vm_points(vm, "dur_batch_value", batching.run_id,
                                       len(batching.acked))
        got[package.name] = influx_points(influx, "durable", package.run_id)
        return all(set(expected[n]) <= set(got[n]) for n in expected)

    wait_until(arrived, 90, step=1.0)
    for name, acked in expected.items():
        assert len(acked) >= 1000, (name, len(acked))
        missing = sorted(set(acked) - set(got[name]))
        assert missing == [], f"{name}: {len(missing)} of {len(acked)} acknowledged points lost"
        assert {t: got[name][t] for t in acked} == acked, f"{name}: values differ"
    for agent in (v2, v1):
        agent.terminate()
        assert list((agent.spool).glob("dead-letter*")) == []
    vm.close()
    influx.close()


def three_listeners(ports3, extra: str = "") -> str:
    first, second, third = ports3
    return (f'[[inputs.influxdb_v2_listener]]\n  service_address = "127.0.0.1:{first}"\n'
            f'[[inputs.influxdb_listener]]\n  service_address = "127.0.0.1:{second}"\n'
            f'[[inputs.http_listener_v2]]\n  service_address = "127.0.0.1:{third}"\n{extra}')


def dead_output() -> str:
    (dead,) = ports(1)
    return (f'[[outputs.influxdb_v2]]\n  urls = ["http://127.0.0.1:{dead}"]\n  token = "x"\n'
            f'  organization = "o"\n  bucket = "b"\n')


PATHS = ("/api/v2/write", "/write?db=x", "/telegraf")


def test_a_full_buffer_answers_429_with_retry_after_never_204(tmp_path):
    listening = ports(3)
    with Listening(tmp_path, three_listeners(listening) + dead_output(), listening,
                   settings={"metric_buffer_limit": "100", "flush_interval": '"3s"'}) as agent:
        for port, path in zip(listening, PATHS):
            body = "".join(f"full v={i} {1700000000000000000 + i}\n" for i in range(30))
            assert request(port, "POST", path, body.encode()).status == 204
        for port, path in zip(listening, PATHS):
            refused = request(port, "POST", path, b"full v=1 1\nfull v=2 2\nfull v=3 3\n"
                              + b"full v=4 4\nfull v=5 5\nfull v=6 6\nfull v=7 7\n"
                              + b"full v=8 8\nfull v=9 9\nfull v=10 10\nfull v=11 11\n")
            assert refused.status == 429, (path, refused)
            assert refused.headers["retry-after"] == "3"
        assert len(spooled_lines(agent.spool)) == 90  # nothing refused was kept
        agent.terminate()
    assert "buffer full" in agent.stderr()


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs for the spool, filled up by the test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        if os.environ.get("AGENT_REQUIRE_SERVERS") == "1":
            pytest.fail(f"cannot mount a tmpfs (root needed): {done.stderr}", pytrace=False)
        pytest.skip(f"cannot mount a tmpfs: {done.stderr}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_answers_503(tmp_path, small_disk):
    listening = ports(3)
    config = three_listeners(listening) + dead_output()
    with Listening(tmp_path, config, listening, settings={"flush_interval": '"1h"'},
                   spool=small_disk / "spool") as agent:
        filler = small_disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:  # ENOSPC: the disk is full
            pass
        finally:
            os.close(fd)
        big = "".join(f"disk,pad={'x' * 200} v={i} {1700000000000000000 + i}\n"
                      for i in range(200)).encode()
        answers = [request(port, "POST", path, big).status
                   for port, path in zip(listening, PATHS)]
        assert answers == [503, 503, 503]
        filler.unlink()
        assert request(listening[0], "POST", PATHS[0], big).status == 204
        agent.terminate()
    log = agent.stderr()
    for path in ("POST /api/v2/write", "POST /write", "POST /telegraf"):
        # the same words whichever path the listener took (metrics, or its lines as given)
        assert f"{path} from 127.0.0.1: 503 outputs.influxdb_v2: buffer_directory "\
               f"{small_disk / 'spool'} is full (" in log
