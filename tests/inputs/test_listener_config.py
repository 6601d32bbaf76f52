"""`agent check` on the listeners' options: every problem at once, with the key, before
anything listens."""

from __future__ import annotations

import subprocess
import sys

import pytest

BAD = """
[[inputs.influxdb_v2_listener]]
  service_address = "localhost"
  read_timeout = "ten seconds"
  max_body_size = "lots"
  max_connections = 2
  max_undelivered_metrics = -1
  tls_cert = "/etc/agent/cert.pem"
  tls_min_version = "TLS13"
  tls_max_version = "TLS12"
  tls_cipher_suites = ["TLS_NULL_WITH_NULL_NULL"]
  tls_allowed_dns_names = ["sensor.example"]
  parser_type = "fastest"
[[inputs.influxdb_listener]]
  service_address = "[::1]:99999"
  basic_username = "a"
  token_shared_secret = "s"
[[inputs.influxdb_listener]]
  token_username = "only"
[[inputs.http_listener_v2]]
  service_address = "udp://:8080"
  paths = ["telegraf"]
  methods = []
  http_success_code = 500
  data_source = "header"
  socket_mode = "rwx"
  data_format = "json"
  json_time_key = "ts"
  json_timezone = "Mars/Olympus"
  json_query = "a|b"
[[inputs.http_listener_v2]]
  data_format = "json"
  json_time_key = "ts"
  json_time_format = "yesterday"
"""

EXPECTED = [
    "[inputs.influxdb_v2_listener] service_address: 'localhost' is not host:port",
    "[inputs.influxdb_v2_listener] read_timeout: invalid duration 'ten seconds'",
    "[inputs.influxdb_v2_listener] max_body_size: expected a size like \"16MiB\"",
    "[inputs.influxdb_v2_listener] max_connections: must be at least 8",
    "[inputs.influxdb_v2_listener] max_undelivered_metrics: must be at least 0",
    "[inputs.influxdb_v2_listener] tls_key: TLS needs both tls_cert and tls_key",
    "[inputs.influxdb_v2_listener] tls_min_version: TLS13 is above tls_max_version TLS12",
    "[inputs.influxdb_v2_listener] tls_cipher_suites: unknown or unsupported suite",
    "[inputs.influxdb_v2_listener] tls_allowed_dns_names: needs tls_allowed_cacerts",
    "[inputs.influxdb_v2_listener] parser_type: must be one of 'internal', 'upstream'",
    "[inputs.influxdb_listener #1] service_address: '[::1]:99999' is not host:port",
    "[inputs.influxdb_listener #1] token_shared_secret: cannot use basic-auth and tokens",
    "[inputs.influxdb_listener #2] token_username: neither 'token_shared_secret' nor",
    "[inputs.http_listener_v2 #1] service_address: 'udp://:8080': unknown protocol 'udp'",
    "[inputs.http_listener_v2 #1] paths: 'telegraf' must start with /",
    "[inputs.http_listener_v2 #1] methods: must name at least one method",
    "[inputs.http_listener_v2 #1] http_success_code: must be a 2xx status, got 500",
    "[inputs.http_listener_v2 #1] data_source: must be one of 'body', 'query'",
    "[inputs.http_listener_v2 #1] socket_mode: an octal mode like \"660\"",
    "[inputs.http_listener_v2 #1] json_time_format: required with json_time_key",
    "[inputs.http_listener_v2 #1] json_timezone: unknown time zone 'Mars/Olympus'",
    "[inputs.http_listener_v2 #1] json_query: modifiers (@), pipes (|)",
    "[inputs.http_listener_v2 #2] json_time_format: 'yesterday' is neither unix",
]


def check(tmp_path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "listeners.toml"
    path.write_text(text)
    return subprocess.run([sys.executable, "-m", "agent", "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_every_listener_problem_is_listed_at_once(tmp_path):
    result = check(tmp_path, BAD)
    assert result.returncode == 78
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    missing = [e for e in EXPECTED if not any(e in line for line in lines)]
    assert missing == [], result.stderr
    assert len([line for line in lines if " E! " in line]) == len(EXPECTED), result.stderr


@pytest.mark.parametrize("table", [
    '[[inputs.influxdb_v2_listener]]\n  service_address = "127.0.0.1:8086"\n  token = "t"\n'
    '  max_body_size = "1MiB"\n  read_timeout = "2s"\n  max_undelivered_metrics = 1000\n',
    '[[inputs.influxdb_listener]]\n  service_address = "[::1]:8186"\n'
    '  token_shared_secret = "s"\n  token_username = "u"\n',
    '[[inputs.http_listener_v2]]\n  service_address = "tcp://0.0.0.0:8080"\n'
    '  data_format = "json"\n  json_time_key = "t"\n  json_time_format = "2006-01-02 15:04"\n'
    '  json_timezone = "Europe/Berlin"\n  json_query = "data.#(ok==true)#"\n'
    '  socket_mode = "660"\n',
])
def test_good_listener_configs_pass(tmp_path, table):
    result = check(tmp_path, table)
    assert result.returncode == 0, result.stderr
