"""Aggregators in each way of running: `run --test` pushes what it gathered and keeps nothing,
`run --once` adds to the saved window (for runs from a timer), `execd` leaves them to Telegraf."""

import json
import subprocess
import sys

from agent.lineprotocol.parser import parse_metrics

AGENT = [sys.executable, "-m", "agent"]


def write_config(tmp_path, state):
    path = tmp_path / "agent.toml"
    path.write_text(f'[agent]\nomit_hostname = true\nbuffer_directory = "{state}"\n'
                    '[[inputs.mem]]\n[[aggregators.basicstats]]\nperiod = "24h"\n'
                    'stats = ["count", "max"]\nfieldinclude = ["used"]\n')
    return path


def run(*args, **kwargs):
    result = subprocess.run([*AGENT, *args], capture_output=True, timeout=60, **kwargs)
    assert result.returncode == 0, result.stderr
    return parse_metrics(result.stdout.decode())


def test_run_test_prints_the_summary_of_its_gather_and_saves_nothing(tmp_path):
    state = tmp_path / "state"
    metrics = run("run", "--test", "--config", str(write_config(tmp_path, state)))
    raw, summary = metrics
    assert raw.name == "mem" and "used" in raw.fields
    assert summary.name == "mem" and summary.fields == {"used_count": 1.0,
                                                        "used_max": float(raw.fields["used"])}
    assert not state.exists()  # no state read or written


def test_run_once_adds_to_the_saved_window_without_pushing_it(tmp_path):
    state = tmp_path / "state"
    config = str(write_config(tmp_path, state))
    first = run("run", "--once", "--config", config)
    (path,) = state.glob("aggregators.basicstats-*.json")
    before = json.loads(path.read_text())
    second = run("run", "--once", "--config", config)
    after = json.loads(path.read_text())
    assert [m.name for m in first] == ["mem"]  # the raw metric only
    if after["window"] == before["window"]:  # (not across midnight UTC between the two runs)
        assert [m.name for m in second] == ["mem"]
        (series,) = after["series"]
        assert series[2]["used"][0] == 2.0  # both runs' values in the one window
    else:  # the first day closed: pushed by the second run, stamped with its end
        assert second[0].time == before["window"][1]


def test_execd_leaves_aggregators_to_telegraf(tmp_path):
    state = tmp_path / "state"
    result = subprocess.run([*AGENT, "execd", "--config", str(write_config(tmp_path, state))],
                            input=b"\n", capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    (metric,) = parse_metrics(result.stdout.decode())
    assert metric.name == "mem" and "used" in metric.fields
    assert not state.exists()
