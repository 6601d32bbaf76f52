"""telegraf/*.conf and the agent configs they run (systemd/examples/agent/*.toml): valid TOML,
the exact execd command line, and that command line under the execd harness (the way
telegraf@<x> runs it) yields the expected measurements."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from agent.cli import build_parser
from agent.config.loader import tomllib
from agent.lineprotocol.metric import UInt
from tests.execd_harness import Execd
from tests.inputs.mem.test_mem import FLOAT_FIELDS, TELEGRAF_FIELDS
from tests.serial_emulator import MHZ19

ROOT = Path(__file__).resolve().parents[2]
INSTANCES = ("ram", "postgres", "serial")
INSTALLED_AGENT = "/usr/local/bin/agent"
VENV_AGENT = str(Path(sys.executable).parent / "agent")
# What /etc/telegraf/telegraf-<x>.env gives Telegraf, and so its execd child.
TELEGRAF_ENV = {"INFLUX_URL": "http://127.0.0.1:8086", "INFLUX_TOKEN": "tok-Example-123",
                "INFLUX_ORG": "my-org", "INFLUX_BUCKET": "monitoring-system"}


def telegraf_conf(instance: str) -> dict:
    with open(ROOT / "telegraf" / f"{instance}.conf", "rb") as handle:
        return tomllib.load(handle)


def agent_toml(instance: str) -> Path:
    return ROOT / "systemd" / "examples" / "agent" / f"{instance}.toml"


def command_line(instance: str, config: Optional[Path] = None) -> List[str]:
    """The execd command of telegraf/<x>.conf with the installed paths mapped to this repo."""
    (execd,) = telegraf_conf(instance)["inputs"]["execd"]
    mapping = {INSTALLED_AGENT: VENV_AGENT,
               f"/etc/agent/{instance}.toml": str(config or agent_toml(instance))}
    return [mapping.get(arg, arg) for arg in execd["command"]]


def run_under_execd(instance: str, env: Dict[str, str], gathers: int = 2,
                    config: Optional[Path] = None):
    """Start the command like Telegraf, trigger `gathers` times, stop; the parsed metrics."""
    command = command_line(instance, config)
    with Execd(command[1:], env=env, command=command[:1]) as child:
        for n in range(1, gathers + 1):
            child.trigger()
            child.wait_lines(n, timeout=10)
        code, _, how = child.stop()
    assert (code, how) == (0, "eof"), child.stderr_lines
    assert child.unprefixed == []
    assert [m for level, m in child.stderr_lines if level in ("error", "warn")] == []
    return child.metrics()


@pytest.mark.parametrize("instance", INSTANCES)
def test_telegraf_conf_is_complete(instance):
    conf = telegraf_conf(instance)
    assert conf["agent"]["interval"] == "10s"
    (execd,) = conf["inputs"]["execd"]
    assert execd["command"] == [INSTALLED_AGENT, "execd", "--config", f"/etc/agent/{instance}.toml",
                                "--signal", "STDIN"]
    assert execd["signal"] == "STDIN" and execd["restart_delay"] == "10s"
    assert execd["data_format"] == "influx"
    assert set(conf["inputs"]) == {"execd"}
    (output,) = conf["outputs"]["influxdb_v2"]
    assert output == {"urls": ["${INFLUX_URL}"], "token": "${INFLUX_TOKEN}",
                      "organization": "${INFLUX_ORG}", "bucket": "${INFLUX_BUCKET}"}


@pytest.mark.parametrize("instance", INSTANCES)
def test_our_cli_accepts_the_execd_command_line(instance):
    (execd,) = telegraf_conf(instance)["inputs"]["execd"]
    args = build_parser().parse_args(execd["command"][1:])
    assert (args.command, args.config, args.signal) == (
        "execd", f"/etc/agent/{instance}.toml", "STDIN")


@pytest.mark.parametrize("instance", INSTANCES)
def test_example_agent_config_is_toml_with_influxdb_v2_from_the_env(instance):
    with open(agent_toml(instance), "rb") as handle:
        document = tomllib.load(handle)
    (output,) = document["outputs"]["influxdb_v2"]
    for key, var in (("urls", "INFLUX_URL"), ("token", "INFLUX_TOKEN"),
                     ("organization", "INFLUX_ORG"), ("bucket", "INFLUX_BUCKET")):
        assert f"${{{var}" in str(output[key])
    assert "influxdb" not in document["outputs"], "the 1.x alternative stays commented"


def agent_check(path: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("INFLUX_", "PG"))}
    return subprocess.run([VENV_AGENT, "check", "--config", str(path)], capture_output=True,
                          text=True, env={**clean, **env}, timeout=30)


@pytest.mark.parametrize("instance", INSTANCES)
def test_agent_check_passes_with_the_env_file_and_names_what_is_missing_without(instance):
    ok = agent_check(agent_toml(instance), TELEGRAF_ENV)
    assert ok.returncode == 0, ok.stderr
    assert "OK (1 input(s), 1 output(s))" in ok.stdout
    missing = agent_check(agent_toml(instance), {})
    assert missing.returncode == 78
    errors = [line for line in missing.stderr.splitlines() if " E! " in line]
    assert len(errors) == 4, missing.stderr
    for var in ("INFLUX_URL", "INFLUX_TOKEN", "INFLUX_ORG", "INFLUX_BUCKET"):
        assert any("[outputs.influxdb_v2]" in e and f"${{{var}}} is not set" in e
                   for e in errors), missing.stderr


def check_mem(metrics) -> None:
    assert [m.name for m in metrics] == ["mem", "mem"]
    for metric in metrics:
        assert metric.tags == {}, "Telegraf adds the host tag"
        assert sorted(metric.fields) == sorted(TELEGRAF_FIELDS)
        for name, value in metric.fields.items():
            assert type(value) is (float if name in FLOAT_FIELDS else UInt), name


def test_ram_under_telegraf_gives_telegrafs_mem():
    check_mem(run_under_execd("ram", TELEGRAF_ENV))


def test_ram_under_telegraf_needs_no_influx_variables():
    """The agent's [[outputs.*]] are skipped unread under execd: a telegraf@ram env file
    without INFLUX_* (e.g. a config from a URL with fixed values) still works."""
    env = {k: "" for k in TELEGRAF_ENV}
    check_mem(run_under_execd("ram", env))


def test_postgres_under_telegraf_reads_the_fixture_named_by_libpq_variables(postgresql):
    env = {**TELEGRAF_ENV, "PGHOST": "127.0.0.1", "PGPORT": str(postgresql.port),
           "PGUSER": postgresql.user, "PGDATABASE": "postgres"}
    metrics = run_under_execd("postgres", env, gathers=1)
    assert metrics and {m.name for m in metrics} == {"postgresql"}
    server = f"host=127.0.0.1 port={postgresql.port} user={postgresql.user} dbname=postgres"
    assert {m.tags["server"] for m in metrics} == {server}, "sslmode is not part of the tag"
    databases = {m.tags["db"]: m.fields for m in metrics if "datname" in m.fields}
    assert databases["postgres"]["datname"] == "postgres"
    assert isinstance(databases["postgres"]["xact_commit"], int)
    assert any("buffers_clean" in m.fields for m in metrics), "pg_stat_bgwriter"


def test_postgres_credential_variant_reads_the_password_file(postgresql, tmp_path):
    """The commented credential line, enabled: the password comes from
    $CREDENTIALS_DIRECTORY/pgpassword; without a credentials directory it is a config error."""
    config = tmp_path / "postgres.toml"
    text = agent_toml("postgres").read_text()
    assert "  # password_file = " in text
    config.write_text(text.replace("  # password_file = ", "  password_file = "))
    env = {**TELEGRAF_ENV, "PGHOST": "127.0.0.1", "PGPORT": str(postgresql.port),
           "PGUSER": postgresql.user}
    missing = agent_check(config, env)
    assert missing.returncode == 78
    assert "[inputs.postgresql] password_file: ${CREDENTIALS_DIRECTORY} is not set" in \
        missing.stderr
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "pgpassword").write_text("pw-Example-456\n")
    metrics = run_under_execd("postgres", {**env, "CREDENTIALS_DIRECTORY": str(credentials)},
                              gathers=1, config=config)
    assert {m.name for m in metrics} == {"postgresql"}
    (credentials / "pgpassword").unlink()
    command = command_line("postgres", config)
    with Execd(command[1:], env={**env, "CREDENTIALS_DIRECTORY": str(credentials)},
               command=command[:1]) as child:
        child.trigger()
        assert child.wait_stderr("cannot read password_file", timeout=10), child.stderr_lines
        child.stop()


def test_serial_under_telegraf_asks_the_mhz19_on_serial_port():
    with MHZ19(values=(612, 640)) as device:
        env = {**TELEGRAF_ENV, "SERIAL_PORT": device.path}
        metrics = run_under_execd("serial", env)
        assert device.commands == 2, "passive: one read command per gather"
    assert [(m.name, m.fields, m.tags) for m in metrics] == [
        ("mhz19", {"co2": 612}, {"port": device.path}),
        ("mhz19", {"co2": 640}, {"port": device.path}),
    ]


def test_serial_port_defaults_to_serial0():
    from agent.config.loader import load

    config = load(str(agent_toml("serial")), {**TELEGRAF_ENV})
    assert config.inputs[0].options["port"] == "/dev/serial0"
    assert config.inputs[0].options["protocol"] == "mhz19"
