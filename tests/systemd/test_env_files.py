"""The example env files (systemd/examples/*/…env) fit their units and the example configs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "systemd" / "examples"
INSTANCES = ("ram", "postgres", "serial")
INFLUX = {"INFLUX_URL", "INFLUX_TOKEN", "INFLUX_ORG", "INFLUX_BUCKET"}
# Set by systemd itself, not by an env file.
FROM_SYSTEMD = {"CREDENTIALS_DIRECTORY", "STATE_DIRECTORY"}


def parse(path: Path) -> tuple[dict, set]:
    """(variables set, variables only mentioned in '#VAR=' lines), as EnvironmentFile= reads
    them: VAR=value lines, '#' comments."""
    values, commented = {}, set()
    for line in path.read_text().splitlines():
        if match := re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", line):
            values[match.group(1)] = match.group(2)
        elif match := re.fullmatch(r"#([A-Z_][A-Z0-9_]*)=.*", line):
            commented.add(match.group(1))
        else:
            assert line == "" or line.startswith("#"), f"{path.name}: not VAR=value: {line!r}"
    return values, commented


def referenced(config: Path) -> set:
    """${VAR} references outside comments."""
    code = "\n".join(line for line in config.read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", code)) - FROM_SYSTEMD


@pytest.mark.parametrize("instance", INSTANCES)
def test_agent_env_file(instance):
    env = EXAMPLES / "agent" / f"agent-{instance}.env"
    values, commented = parse(env)
    assert set(values) >= INFLUX
    # The unit's default, documented where an admin would change it.
    assert "AGENT_CONFIG" in commented
    assert f"#AGENT_CONFIG=/etc/agent/{instance}.toml" in env.read_text().splitlines()
    unit = (REPO / "systemd" / "agent@.service").read_text()
    assert "Environment=AGENT_CONFIG=/etc/agent/%i.toml" in unit.splitlines()
    config = EXAMPLES / "agent" / f"{instance}.toml"
    missing = referenced(config) - set(values) - commented
    assert not missing, f"{config.name} uses {missing}, which {env.name} does not mention"


@pytest.mark.parametrize("instance", INSTANCES)
def test_telegraf_env_file(instance):
    env = EXAMPLES / "telegraf" / f"telegraf-{instance}.env"
    values, commented = parse(env)
    assert set(values) >= INFLUX
    assert f"#TELEGRAF_CONFIG=/etc/telegraf/{instance}.conf" in env.read_text().splitlines()
    unit = (REPO / "systemd" / "telegraf@.service").read_text()
    assert "Environment=TELEGRAF_CONFIG=/etc/telegraf/%i.conf" in unit.splitlines()
    config = REPO / "telegraf" / f"{instance}.conf"
    missing = referenced(config) - set(values) - commented
    assert not missing, f"{config.name} uses {missing}, which {env.name} does not mention"


@pytest.mark.parametrize("instance", INSTANCES)
def test_example_config_checks_with_its_env_file(instance):
    """What agent@X would load: the example config with the example env file's variables."""
    values, _ = parse(EXAMPLES / "agent" / f"agent-{instance}.env")
    config = EXAMPLES / "agent" / f"{instance}.toml"
    env = {"PATH": "/usr/bin:/bin", **values}
    command = [sys.executable, "-m", "agent", "check", "--config", str(config)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    # And without it, a clear config error (exit 78) naming a variable, not a traceback.
    bare = subprocess.run(command, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                          timeout=60)
    assert bare.returncode == 78 and "INFLUX_" in bare.stderr, bare.stderr


# The fleet examples (agent/outputs/mqtt/README.md, "Fleet recipe"): agent@ only.
FLEET = {"sensors": "MQTT_", "collector": "MQTT_"}


@pytest.mark.parametrize("instance", FLEET)
def test_fleet_env_file_fits_its_config(instance):
    env = EXAMPLES / "agent" / f"agent-{instance}.env"
    values, commented = parse(env)
    assert f"#AGENT_CONFIG=/etc/agent/{instance}.toml" in env.read_text().splitlines()
    config = EXAMPLES / "agent" / f"{instance}.toml"
    missing = referenced(config) - set(values) - commented
    assert not missing, f"{config.name} uses {missing}, which {env.name} does not mention"
    command = [sys.executable, "-m", "agent", "check", "--config", str(config)]
    result = subprocess.run(command, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", **values}, timeout=60)
    assert result.returncode == 0, result.stderr
    bare = subprocess.run(command, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                          timeout=60)
    assert bare.returncode == 78 and FLEET[instance] in bare.stderr, bare.stderr
