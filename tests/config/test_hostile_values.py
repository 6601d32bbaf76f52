"""Every option of every registered plugin and of [agent], given hostile values (a wrong type,
negative, zero, huge, empty, malformed): `agent check`'s validation either rejects the value in
one line naming file, table and key, or the value runs — the agent starts, gathers, schedules
and stops in bounded time, and nothing raises, in the caller or in a thread (issue 11 #9)."""

from __future__ import annotations

import datetime
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from agent.config.agent_options import AGENT_OPTIONS
from agent.config.checker import Checker
from agent.config.errors import EX_CONFIG
from agent.config.loader import parse
from agent.engine.agent import Agent
from agent.plugin import registry
from agent.plugin.base import (
    COMMON_AGGREGATOR_OPTIONS,
    COMMON_INPUT_OPTIONS,
    COMMON_OUTPUT_OPTIONS,
)

LABEL = "/etc/agent/hostile.toml"
HOSTILE: List[Any] = [
    # a wrong type
    True, 1.5, {"a": 1}, datetime.date(2020, 1, 1), datetime.time(12, 0), [1, 2], 5, "x",
    # negative, zero
    -1, -1.5, "-1s", "-1", 0, 0.0, "0s", "0",
    # huge
    2 ** 63, 2 ** 70, 1e308, float("inf"), float("nan"), "99999999999h", "8761h",
    "x" * 100_000, ["x"] * 10_000, "99999GiB", 10 ** 9,
    # empty
    "", [], {}, [""], {"": ""},
    # malformed
    "not a url", "ftp://h/x", "http://h:99999", "http://h:0", "http://", "a\nb", "a\x00b",
    ["not a url"], ["ftp://h/x"], ["http://127.0.0.1:99999"], {"k": "a\nb"}, {"bad name": "v"},
    "true", "1.5.5", "${UNSET_HOSTILE:?set it}",
]


def base_document(kind: str, name: str, scratch: Path, tty: str) -> Dict[str, Any]:
    """A config that passes check, with [agent] settings that make a run quick."""
    plugin: Dict[str, Any] = {
        ("inputs", "postgresql"): {"address": f"host={scratch}/no-socket connect_timeout=1"},
        ("inputs", "serial"): {"port": tty},
        ("outputs", "file"): {"files": [str(scratch / "out.lp")]},
        ("outputs", "influxdb"): {"urls": ["http://127.0.0.1:1"]},
        ("outputs", "influxdb_v2"): {"urls": ["http://127.0.0.1:1"], "bucket": "b"},
        ("inputs", "mqtt_consumer"): {"servers": ["tcp://127.0.0.1:1"], "topics": ["t/#"]},
        ("outputs", "mqtt"): {"servers": ["tcp://127.0.0.1:1"]},
        # Listeners on a free loopback port, never on every interface of the test machine.
        ("inputs", "influxdb_v2_listener"): {"service_address": "127.0.0.1:0"},
        ("inputs", "influxdb_listener"): {"service_address": "127.0.0.1:0"},
        ("inputs", "http_listener_v2"): {"service_address": "tcp://127.0.0.1:0"},
    }.get((kind, name), {})
    document: Dict[str, Any] = {
        "agent": {"buffer_strategy": "memory", "shutdown_timeout": "0s", "interval": "1h"},
    }
    if kind != "agent":
        document[kind] = {name: [plugin]}
    if kind != "inputs":
        document["inputs"] = {"mem": [{}]}
    if kind != "outputs":
        document["outputs"] = {"file": [{"files": [str(scratch / "base.lp")]}]}
    return document


def cases() -> Iterator[Tuple[str, str, str]]:
    """(kind, plugin, option) for every option the agent knows."""
    for option in AGENT_OPTIONS:
        yield "agent", "", option.name
    # A new kind of plugin is walked too; its base config must pass check (base_document).
    common_options = {"inputs": COMMON_INPUT_OPTIONS, "outputs": COMMON_OUTPUT_OPTIONS,
                      "aggregators": COMMON_AGGREGATOR_OPTIONS}
    for kind, plugins in registry.REGISTRIES.items():
        common = common_options.get(kind, ())
        for name in sorted(plugins):
            for option in (*registry.load(kind, name).options, *common):
                yield kind, name, option.name


def check(document: Dict[str, Any]):
    checker = Checker(LABEL, {}, require_inputs=True)
    config = checker.check(document)
    return config, checker.problems


def runs(config) -> None:
    """Start, gather, schedule and stop as `agent run` does, within a deadline; anything
    raised in the caller or in a thread fails, as does a hang or a logged traceback."""
    raised: List[BaseException] = []
    tracebacks: List[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: record.exc_info and tracebacks.append(record)
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: raised.append(args.exc_value)
    logging.getLogger().addHandler(handler)

    def lifecycle() -> None:
        try:
            agent = Agent(config)
            agent.start()
            agent.gather_all()
            agent.start_schedules()
            agent.stop()
        except BaseException as err:  # noqa: BLE001 - the test reports it
            raised.append(err)

    try:
        worker = threading.Thread(target=lifecycle, daemon=True)
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), "the agent did not stop within 30 s"
    finally:
        logging.getLogger().removeHandler(handler)
        threading.excepthook = previous_hook
    assert not raised, f"{type(raised[0]).__name__}: {raised[0]}"
    assert not tracebacks, tracebacks[0].getMessage()


@pytest.fixture(scope="module")
def tty() -> Iterator[str]:
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


@pytest.mark.parametrize("kind,name,key", list(cases()), ids=lambda v: v or "-")
def test_every_option_rejects_or_runs_every_hostile_value(kind, name, key, tmp_path, tty,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths given as values land here
    base = base_document(kind, name, tmp_path, tty)
    config, problems = check(base)
    assert problems == [], f"the base config must pass: {problems}"
    where = f"{LABEL}: [agent] {key}:" if kind == "agent" else f"{LABEL}: [{kind}.{name}]"
    ran = set()
    for value in HOSTILE:
        document = base_document(kind, name, tmp_path, tty)
        table = document["agent"] if kind == "agent" else document[kind][name][0]
        table[key] = value
        config, problems = check(document)
        shown = repr(value)[:60]
        for problem in problems:
            assert "\n" not in problem and problem.startswith(where), (shown, problem)
        if problems:
            continue
        if kind == "agent":
            signature = repr(config.agent[key])
        else:
            plugin = next(p for p in getattr(config, kind) if p.name == name)
            signature = repr({**plugin.options, **plugin.common}[key])
        if signature not in ran:  # values that convert alike run alike
            ran.add(signature)
            try:
                runs(config)
            except AssertionError as err:
                raise AssertionError(f"{kind}.{name} {key} = {shown} passed check: {err}") \
                    from None


ISSUE_CASES = {
    'interval = "99999999999h"': (
        '[agent]\ninterval = "99999999999h"\n[[inputs.mem]]\n',
        "[agent] interval: must be at most 8760h, got '99999999999h'"),
    "urls = [] is Telegraf's default": None,
    'timeout = "0s" is the default 5s': None,
    'urls = ["not a url"]': (
        '[[inputs.mem]]\n[[outputs.influxdb_v2]]\nurls = ["not a url"]\nbucket = "b"\n',
        "[outputs.influxdb_v2] urls: 'not a url' is not a URL"),
    "port 99999": (
        '[[inputs.mem]]\n[[outputs.influxdb]]\nurls = ["http://127.0.0.1:99999"]\n',
        "[outputs.influxdb] urls: 'http://127.0.0.1:99999': the port must be a number 1-65535"),
    "ftp://": (
        '[[inputs.mem]]\n[[outputs.influxdb]]\nurls = ["ftp://127.0.0.1/x"]\n',
        "[outputs.influxdb] urls: 'ftp://127.0.0.1/x': scheme ftp:// is not supported "
        "(use http:// or https://)"),
    "inputs = {mem = 5}": (
        "inputs = {mem = 5}\n", "[inputs.mem]: expected [[inputs.mem]] tables, got integer 5"),
    "inputs = {mem = [1, 2]}": (
        "inputs = {mem = [1, 2]}\n",
        "[inputs.mem]: expected [[inputs.mem]] tables, got a list of integer"),
    "outputs = {file = []}": (
        "outputs = {file = []}\n[[inputs.mem]]\n",
        "[outputs.file]: expected [[outputs.file]] tables, got an empty list"),
}


@pytest.mark.parametrize("name", [n for n, case in ISSUE_CASES.items() if case])
def test_the_values_of_the_issue_are_one_line_exit_78(name, tmp_path):
    text, message = ISSUE_CASES[name]
    path = tmp_path / "c.toml"
    path.write_text(text)
    result = subprocess.run([sys.executable, "-m", "agent", "check", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == EX_CONFIG
    (line,) = result.stderr.splitlines()
    assert f"E! {path}: {message}" in line
    assert "Traceback" not in result.stderr


def test_empty_values_mean_telegrafs_defaults():
    config = parse('[[inputs.mem]]\n[[outputs.influxdb_v2]]\nurls = []\ntimeout = "0s"\n'
                   'bucket = "b"\ncontent_encoding = ""\n[[outputs.influxdb]]\ntimeout = ""\n'
                   '[[outputs.file]]\nfiles = []\n', "c.toml", {})
    v2, v1, file = config.outputs
    assert v2.options["urls"] == ["http://localhost:8086"] and v2.options["timeout"] == 5.0
    assert v2.options["content_encoding"] == "gzip"
    assert v1.options["timeout"] == 5.0 and file.options["files"] == ["stdout"]
