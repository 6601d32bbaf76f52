"""@{systemd:name} secret references: systemd credentials ($CREDENTIALS_DIRECTORY, from
LoadCredential=) in secret options; problems name the reference, never the secret."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.config.errors import ConfigError
from agent.config.loader import parse
from agent.config.secrets import redact
from agent.system.systemd import CredentialError, read_credential

TOKEN = "tok-Secret-7f3a9"


@pytest.fixture
def credentials(tmp_path):
    directory = tmp_path / "credentials"
    directory.mkdir()
    (directory / "influx-token").write_text(TOKEN + "\n")
    (directory / "pgpassword").write_text("pw-Secret-42")
    (directory / "odd").write_text("${HOME}@{systemd:pgpassword}\n")
    return directory


def v2(token: str, extra: str = "") -> str:
    return (f'[[inputs.mem]]\n[[outputs.influxdb_v2]]\nurls = ["http://127.0.0.1:8086"]\n'
            f'token = "{token}"\n{extra}')


def problems(text: str, env) -> list:
    with pytest.raises(ConfigError) as err:
        parse(text, "agent.toml", env)
    return err.value.problems


def test_read_credential_strips_the_trailing_newline(credentials):
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}
    assert read_credential("influx-token", env) == TOKEN
    assert read_credential("pgpassword", env) == "pw-Secret-42"


@pytest.mark.parametrize("name,env,message", [
    ("influx-token", {}, "CREDENTIALS_DIRECTORY is not set"),
    ("missing", None, "no credential 'missing' in"),
    ("../etc", None, "invalid credential name"),
    ("..", None, "invalid credential name"),
])
def test_read_credential_errors(credentials, name, env, message):
    env = {"CREDENTIALS_DIRECTORY": str(credentials)} if env is None else env
    with pytest.raises(CredentialError, match=message):
        read_credential(name, env)


def test_token_from_a_credential(credentials):
    config = parse(v2("@{systemd:influx-token}"), "a.toml",
                   {"CREDENTIALS_DIRECTORY": str(credentials)})
    assert config.outputs[0].options["token"] == TOKEN


def test_reference_inside_a_dsn_and_from_an_env_variable(credentials):
    env = {"CREDENTIALS_DIRECTORY": str(credentials), "TOKEN_REF": "@{systemd:influx-token}"}
    text = v2("${TOKEN_REF}") + (
        '[[inputs.postgresql]]\naddress = "host=db user=m password=@{systemd:pgpassword}"\n')
    config = parse(text, "a.toml", env)
    assert config.outputs[0].options["token"] == TOKEN
    assert config.inputs[1].options["address"] == "host=db user=m password=pw-Secret-42"


def test_a_secret_value_is_taken_as_it_is(credentials):
    """Resolved after ${VAR} expansion: a credential's own ${...} and @{...} stay text."""
    config = parse(v2("@{systemd:odd}"), "a.toml", {"CREDENTIALS_DIRECTORY": str(credentials)})
    assert config.outputs[0].options["token"] == "${HOME}@{systemd:pgpassword}"


def test_missing_directory_file_and_unknown_store_are_config_problems(credentials):
    found = problems(v2("@{systemd:influx-token}"), {})
    assert found == ["agent.toml: [outputs.influxdb_v2] token: @{systemd:influx-token}: "
                     "CREDENTIALS_DIRECTORY is not set (no LoadCredential=influx-token:... in "
                     "the unit, or not running under systemd)"]
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}
    (found,) = problems(v2("@{systemd:nope}"), env)
    assert found.startswith("agent.toml: [outputs.influxdb_v2] token: @{systemd:nope}: "
                            "no credential 'nope' in ")
    (found,) = problems(v2("@{vault:influx-token}"), env)
    assert found == ("agent.toml: [outputs.influxdb_v2] token: @{vault:influx-token}: "
                     "unknown secret store 'vault' (agent knows systemd)")


def test_a_reference_in_a_non_secret_option_is_a_problem(credentials):
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}
    found = problems(v2(TOKEN, 'bucket = "@{systemd:influx-token}"\n'), env)
    assert found == ["agent.toml: [outputs.influxdb_v2] bucket: @{systemd:influx-token}: secret "
                     "references are resolved only in secret options (token)"]


def test_secret_values_are_redacted_from_every_problem(credentials):
    env = {"CREDENTIALS_DIRECTORY": str(credentials), "B": TOKEN}
    # A non-secret option whose (wrong) value happens to be the secret: still not shown.
    text = v2("@{systemd:influx-token}", 'timeout = "${B}"\n')
    (found,) = problems(text, env)
    assert "[outputs.influxdb_v2] timeout:" in found and TOKEN not in found and "***" in found
    assert redact(f"a {TOKEN} b", [TOKEN, ""]) == "a *** b"


def test_agent_check_reports_one_line_exit_78_without_the_secret(credentials, tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text(v2("@{systemd:influx-token}", 'bucket = "@{systemd:gone}"\n'))
    result = subprocess.run(
        [sys.executable, "-m", "agent", "check", "--config", str(config)], capture_output=True,
        text=True, timeout=30, env={"CREDENTIALS_DIRECTORY": str(credentials), "PATH": "/usr/bin"})
    assert result.returncode == 78
    (line,) = result.stderr.splitlines()
    assert f"{config}: [outputs.influxdb_v2] bucket: @{{systemd:gone}}" in line
    assert TOKEN not in result.stderr + result.stdout


def test_agent_execd_does_not_need_the_outputs_credentials(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text(v2("@{systemd:influx-token}"))
    result = subprocess.run(
        [sys.executable, "-m", "agent", "execd", "--config", str(config)], input=b"\n",
        capture_output=True, timeout=30, env={"PATH": "/usr/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"mem ")


def test_a_secret_of_the_wrong_type_is_not_shown():
    (found,) = problems(v2("x").replace('token = "x"', "token = 987654321"), {})
    assert found == "agent.toml: [outputs.influxdb_v2] token: expected a string, got integer ***"
