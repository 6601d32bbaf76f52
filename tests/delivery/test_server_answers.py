"""What a server says reaches stderr and dead-letter.lp without the secrets in it: a server
that echoes the Authorization header (Token, and 1.x Basic credentials) is redacted; and a 401
from InfluxDB 1.x points at its own settings (username, password, database)."""

from __future__ import annotations

import base64
import subprocess

from tests import servers
from tests.conftest import start_server
from tests.delivery.proxy import InfluxProxy
from tests.delivery_helpers import AGENT

CONFLICT = "m v=1i 1700000000000000001\nm v=1.5 1700000000000000002\nm v=3i 1700000000000000003\n"


def agent_write(tmp_path, output: str, data: str):
    config = tmp_path / "write.toml"
    config.write_text(f'[agent]\n  buffer_directory = "{tmp_path / "spool"}"\n'
                      f'  shutdown_timeout = "3s"\n{output}')
    return subprocess.run([*AGENT, "write", "--config", str(config)], input=data.encode(),
                          capture_output=True, timeout=60)


def assert_redacted(tmp_path, result, secrets):
    stderr = result.stderr.decode()
    dead = (tmp_path / "spool" / "dead-letter.lp").read_text()
    assert result.returncode == 65, stderr
    assert "m v=1.5 1700000000000000002" in dead and "field type conflict" in dead
    assert "request had Authorization: " in dead and "[redacted]" in dead, dead
    for secret in secrets:
        assert secret not in stderr and secret not in dead, secret


def test_basic_credentials_echoed_by_a_server_are_redacted(tmp_path):
    user, password = "writer", "S3cret pass/+="
    secured = start_server(servers.InfluxDB1, username=user, password=password)
    try:
        secured.create_database("echo_v1")
        with InfluxProxy(secured.url, echo_auth=True) as proxy:
            output = (f'[[outputs.influxdb]]\n  urls = ["{proxy.url}"]\n  database = "echo_v1"\n'
                      f'  username = "{user}"\n  password = "{password}"\n')
            result = agent_write(tmp_path, output, CONFLICT)
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        assert_redacted(tmp_path, result, [password, basic, "S3cret"])
        assert [r["v"] for r in secured.rows("SELECT v FROM m", db="echo_v1")] == [1, 3]
    finally:
        secured.close()


def test_a_token_echoed_by_a_server_is_redacted(tmp_path, influxdb1):
    token = "tok-S3cret/with+chars=="
    influxdb1.create_database("echo_v2")
    with InfluxProxy(influxdb1.url, echo_auth=True) as proxy:
        output = (f'[[outputs.influxdb_v2]]\n  urls = ["{proxy.url}"]\n  token = "{token}"\n'
                  f'  organization = "org"\n  bucket = "echo_v2"\n')
        result = agent_write(tmp_path, output, CONFLICT)
    assert_redacted(tmp_path, result, [token, "tok-S3cret", "S3cret%2F"])
    assert [r["v"] for r in influxdb1.rows("SELECT v FROM m", db="echo_v2")] == [1, 3]


def test_a_401_from_influxdb_1_names_username_password_and_database(tmp_path):
    secured = start_server(servers.InfluxDB1, username="admin", password="right-pass")
    try:
        output = (f'[[outputs.influxdb]]\n  urls = ["{secured.url}"]\n  database = "hint"\n'
                  f'  username = "admin"\n  password = "wrong-pass"\n'
                  f'  skip_database_creation = true\n')
        result = agent_write(tmp_path, output, "m v=1i 1\n")
    finally:
        secured.close()
    line = next(x for x in result.stderr.decode().splitlines() if "Cannot write to" in x)
    assert "HTTP 401" in line and "(check the username, password and database)" in line
    assert "token" not in line and "wrong-pass" not in result.stderr.decode()
