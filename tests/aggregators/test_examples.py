"""The routing recipe's example configs (systemd/examples/agent/co2-daily*.toml): they pass
`agent check` with their env files (exit 78 naming a variable without), the README shows them
verbatim, and the 1.x one routes raw readings and summaries to their retention policies."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.config.loader import load
from agent.engine.agent import Agent
from agent.lineprotocol.metric import Metric
from tests.systemd.test_env_files import parse as parse_env
from tests.systemd.test_env_files import referenced

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "systemd" / "examples" / "agent"
INSTANCES = ("co2-daily", "co2-daily-v1")


@pytest.mark.parametrize("instance", INSTANCES)
def test_example_checks_with_its_env_file_and_names_a_variable_without(instance):
    config = EXAMPLES / f"{instance}.toml"
    env_file = EXAMPLES / f"agent-{instance}.env"
    values, commented = parse_env(env_file)
    assert not referenced(config) - set(values) - commented
    assert f"#AGENT_CONFIG=/etc/agent/{instance}.toml" in env_file.read_text().splitlines()
    command = [sys.executable, "-m", "agent", "check", "--config", str(config)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", **values})
    assert result.returncode == 0, result.stderr
    bare = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert bare.returncode == 78 and "INFLUX_" in bare.stderr, bare.stderr


@pytest.mark.parametrize("instance", INSTANCES)
def test_the_readme_shows_the_example_verbatim(instance):
    readme = (REPO / "agent" / "aggregators" / "basicstats" / "README.md").read_text()
    assert (EXAMPLES / f"{instance}.toml").read_text() in readme


def test_the_v1_example_routes_raw_and_daily_to_their_retention_policies(influxdb1, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    db = "co2_example"
    influxdb1.create_database(db)
    influxdb1._post_query(f'CREATE RETENTION POLICY "raw_3d" ON "{db}" DURATION 3d '
                          f"REPLICATION 1 DEFAULT")
    influxdb1._post_query(f'CREATE RETENTION POLICY "forever" ON "{db}" DURATION INF '
                          f"REPLICATION 1")
    env = {"INFLUX_URL": influxdb1.url, "INFLUX_DATABASE": db, "SERIAL_PORT": "/dev/null"}
    config = load(str(EXAMPLES / "co2-daily-v1.toml"), env)
    config.inputs = []  # the readings come from the test, not from a sensor
    agent = Agent(config)
    agent.start()
    try:
        daily = agent.aggregation.aggregators[0]
        start = daily.window.start
        agent.emit([Metric("mhz19", {"co2": value}, {"host": "pi"}, start + i)
                    for i, value in enumerate((600, 800))])
        agent.aggregation.deliver(daily.close(time.time_ns(), catch_up=True))
        for output in agent.outputs:
            assert output.plugin.flush(10)
    finally:
        agent.stop()
    raw = influxdb1.query(f'SELECT * FROM "{db}"."raw_3d"."mhz19"')["results"][0]["series"]
    assert raw[0]["columns"] == ["time", "co2", "host"] and len(raw[0]["values"]) == 2
    (summary,) = influxdb1.query(f'SELECT * FROM "{db}"."forever"."mhz19"')["results"][0][
        "series"]
    row = dict(zip(summary["columns"], summary["values"][0]))
    assert row.pop("time") == start + 86400 * 10**9  # stamped with the end of the day
    assert row == {"co2_count": 2, "co2_min": 600, "co2_max": 800, "co2_mean": 700,
                   "co2_stdev": pytest.approx(141.42135623730951), "host": "pi"}
