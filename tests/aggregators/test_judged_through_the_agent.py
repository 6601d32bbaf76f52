"""`agent run` with basicstats, judged by InfluxDB 1.x, through restarts.

The real daemon (its CLI, schedules, signals, reload, state directory and outputs) gathers raw
points from files (tests/fake_plugins.py DropboxInput) and writes them with the routing recipe
of the README: raw points to the retention policy "raw", summaries (tagged rollup, which that
output drops) to "longterm" of the same database. Windows are 4 s of the real clock. Inside
windows the agent is stopped with SIGTERM and started again, reloaded with SIGHUP, and killed
with SIGKILL (once its state file holds the points so far); one window closes while it is not
running. Every summary must equal InfluxQL's over the points the window took.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.lineprotocol.metric import Metric
from agent.lineprotocol.serializer import Serializer
from tests.aggregators import judge
from tests.aggregators.points import batch
from tests.serial_emulator import wait_for

REPO = Path(__file__).resolve().parents[2]
NS = 1_000_000_000
MS = 1_000_000
PERIOD, GRACE, DELAY = 4 * NS, 1 * NS, 100 * MS
CONFIG = """
[agent]
  interval = "10s"
  flush_interval = "100ms"
  omit_hostname = true
  buffer_directory = "{state}"
[[inputs.dropbox]]
  interval = "100ms"
  directory = "{box}"
[[aggregators.basicstats]]
  period = "4s"
  grace = "1s"
  stats = ["count", "min", "max", "mean", "stdev", "sum", "first", "last"]
  [aggregators.basicstats.tags]
    rollup = "4s"
[[outputs.influxdb]]
  urls = ["{url}"]
  database = "{db}"
  retention_policy = "raw"
  skip_database_creation = true
  [outputs.influxdb.tagdrop]
    rollup = ["*"]
[[outputs.influxdb]]
  urls = ["{url}"]
  database = "{db}"
  retention_policy = "longterm"
  skip_database_creation = true
  tagexclude = ["rollup"]
  [outputs.influxdb.tagpass]
    rollup = ["*"]
"""


class Daemon:
    """One `agent run` at a time on the same config, state directory and log."""

    def __init__(self, tmp_path: Path, url: str, db: str) -> None:
        self.state, self.box = tmp_path / "state", tmp_path / "box"
        self.state.mkdir()
        self.box.mkdir()
        self.config = tmp_path / "agent.toml"
        self.config.write_text(CONFIG.format(state=self.state, box=self.box, url=url, db=db))
        self.log = open(tmp_path / "agent.log", "ab")  # noqa: SIM115 - closed in close()
        self.proc = None
        self.fed = 0

    def start(self) -> None:
        command = [sys.executable, "-m", "tests.agent_with_test_plugins", "run", "--config",
                   str(self.config)]
        env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
        self.proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                                     stderr=self.log, env=env)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(30)

    def feed(self, metrics, before: int) -> None:
        """Put metrics in the drop box and wait until the agent has gathered them, which must
        happen before `before` (a window's end), or the test cannot say which window took
        them."""
        self.fed += 1
        name = self.box / f"{self.fed:04d}"
        Path(f"{name}.part").write_text(Serializer().serialize_many(metrics))
        os.replace(f"{name}.part", f"{name}.lp")
        assert wait_for(lambda: Path(f"{name}.taken").exists(), timeout=20), self.tail()
        if time.time_ns() >= before - 100 * MS:
            pytest.fail(f"batch {self.fed} gathered too close to its window's end "
                        f"(machine too slow for 4 s windows){self.tail()}")

    def saved_count(self) -> float:
        """co2 values in the state file's open window, over all series."""
        (path,) = self.state.glob("aggregators.basicstats-*.json")
        series = json.loads(path.read_text())["series"] or []
        return sum(fields["co2"][0] for _, _, fields in series if "co2" in fields)

    def tail(self) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace")
        return "\n--- agent log ---\n" + "\n".join(text.splitlines()[-30:])

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def setup(influxdb1, tmp_path, request):
    db = f"sensors_{request.node.name[-24:]}".replace("-", "_")
    influxdb1.create_database(db)
    influxdb1._post_query(f'CREATE RETENTION POLICY "raw" ON "{db}" DURATION 3d REPLICATION 1 '
                          f"DEFAULT")
    influxdb1._post_query(f'CREATE RETENTION POLICY "longterm" ON "{db}" DURATION INF '
                          f"REPLICATION 1")
    daemon = Daemon(tmp_path, influxdb1.url, db)
    yield influxdb1, db, daemon
    daemon.close()


def next_window_start(margin: int = 250 * MS) -> int:
    """Wait for the start of the next window (plus margin); its start."""
    start = (time.time_ns() // PERIOD + 1) * PERIOD
    wait_for(lambda: time.time_ns() >= start + margin, timeout=PERIOD / NS + 5)
    return start


def test_summaries_survive_sigterm_sighup_and_sigkill_inside_windows(setup):
    influxdb1, db, daemon = setup
    rng, taken, raw = random.Random(11), {}, []
    daemon.start()
    actions = ("none", "sigterm", "sighup", "sigkill", "none")
    first = None
    for index, action in enumerate(actions):
        start = next_window_start()
        first = first or start
        fed, accepted = batch(rng, start, PERIOD, GRACE, DELAY, index,
                              ("c",) if action == "sighup" else ())
        half = len(fed) // 2
        daemon.feed(fed[:half], before=start + PERIOD)
        if action == "sigterm":
            assert daemon.stop() == 0
            daemon.start()
        elif action == "sighup":
            daemon.proc.send_signal(signal.SIGHUP)
        elif action == "sigkill":
            so_far = sum(1 for m in accepted if any(m is f for f in fed[:half]))
            assert wait_for(lambda n=so_far: daemon.saved_count() == n, timeout=10), \
                daemon.tail()  # killed once its state file holds the points so far
            daemon.stop(signal.SIGKILL)
            daemon.start()
        daemon.feed(fed[half:], before=start + PERIOD)
        raw.extend(fed)
        taken[start] = accepted
    last_end = first + len(actions) * PERIOD
    assert wait_for(lambda: time.time_ns() > last_end + 300 * MS, timeout=PERIOD / NS + 5)
    assert daemon.stop() == 0

    summaries = wait_for(lambda: _rows(influxdb1, db, len(actions) * 3 - 1), timeout=20)
    assert summaries, daemon.tail()
    influxdb1.create_database(f"{db}_judge")
    judge.write_judge(influxdb1, f"{db}_judge", "climate", taken)
    for field in ("co2", "t"):
        expected = judge.judged(influxdb1, f"{db}_judge", "climate", field, PERIOD / NS,
                                first, last_end)
        assert len(expected) == len(actions) * 3 - 1
        judge.assert_same(judge.ours(summaries, field, PERIOD), expected)
    raw_count = influxdb1.rows(f'SELECT COUNT("t") FROM "{db}"."raw"."climate"')
    assert raw_count and raw_count[0]["count"] == len(raw)  # every raw point, outside too


def test_a_window_that_closed_while_the_agent_was_down_is_pushed_at_start(setup):
    influxdb1, db, daemon = setup
    rng = random.Random(12)
    daemon.start()
    start = next_window_start()
    fed, accepted = batch(rng, start, PERIOD, GRACE, DELAY, 0)
    daemon.feed(fed, before=start + PERIOD)
    assert daemon.stop() == 0
    assert wait_for(lambda: time.time_ns() > start + PERIOD + 500 * MS, timeout=10)
    daemon.start()
    summaries = wait_for(lambda: _rows(influxdb1, db, 3), timeout=20)
    assert summaries, daemon.tail()
    assert {m.time for m in summaries} == {start + PERIOD}  # stamped with the window's end
    influxdb1.create_database(f"{db}_judge")
    judge.write_judge(influxdb1, f"{db}_judge", "climate", {start: accepted})
    expected = judge.judged(influxdb1, f"{db}_judge", "climate", "co2", PERIOD / NS, start,
                            start + PERIOD)
    judge.assert_same(judge.ours(summaries, "co2", PERIOD), expected)
    assert "closed while the agent was not running" in daemon.tail()


def _rows(influxdb1, db: str, expected: int):
    """The summaries in "longterm" as metrics, once there are `expected` of them."""
    result = influxdb1.query(f'SELECT * FROM "{db}"."longterm"."climate" GROUP BY *')
    series = result["results"][0].get("series", [])
    metrics = []
    for one in series:
        for row in one["values"]:
            values = dict(zip(one["columns"], row))
            stamp = values.pop("time")
            fields = {k: v for k, v in values.items() if v is not None}
            metrics.append(Metric("climate", fields, dict(one.get("tags") or {}), stamp))
    return metrics if len(metrics) >= expected else None
