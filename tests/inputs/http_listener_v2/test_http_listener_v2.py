"""inputs.http_listener_v2 in a real agent: a device's JSON post with curl, Telegraf's json
parser options end to end, and the plugin's paths, methods, status, headers and auth."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import uuid

import pytest

from agent.lineprotocol.parser import parse_metrics
from tests.listener_helpers import Listening, file_output, ports, request, wait_lines

CO2 = '{"co2": 550, "temperature": 24.2, "humidity": 48.2}'


def curl(*args: str) -> str:
    result = subprocess.run(["curl", "-s", "-i", *args], capture_output=True, text=True,
                            timeout=30)
    return result.stdout


def test_the_devices_json_post_becomes_one_metric(tmp_path, victoria_metrics):
    (port,) = ports(1)
    device = uuid.uuid4().hex[:8]
    plugins = (f'[[inputs.http_listener_v2]]\n  service_address = "127.0.0.1:{port}"\n'
               f'  data_format = "json"\n  [inputs.http_listener_v2.tags]\n'
               f'    device = "{device}"\n'
               f'[[outputs.influxdb_v2]]\n  urls = ["{victoria_metrics.url}"]\n'
               f'  token = "x"\n  organization = "o"\n  bucket = "b"\n')
    with Listening(tmp_path, plugins, [port]) as running:
        answer = curl("-X", "POST", "-H", "Content-Type: application/json", "-d", CO2,
                      f"http://127.0.0.1:{port}/telegraf")
        assert answer.startswith("HTTP/1.1 204"), answer
        values = {}
        for field in ("co2", "temperature", "humidity"):
            series = victoria_metrics.export(
                f'{{__name__="http_listener_v2_{field}",device="{device}"}}', expect=1)
            values[field] = [v for s in series for v in s["values"]]
        assert values == {"co2": [550.0], "temperature": [24.2], "humidity": [48.2]}
        running.terminate()


@pytest.fixture
def json_agent(tmp_path):
    (port,) = ports(1)
    out = tmp_path / "out.lp"
    plugins = (f'[[inputs.http_listener_v2]]\n  service_address = "127.0.0.1:{port}"\n'
               '  paths = ["/telegraf", "/sensors"]\n  methods = ["POST"]\n'
               '  http_success_code = 200\n  path_tag = true\n'
               '  http_headers = {"X-Served-By" = "agent"}\n'
               '  http_header_tags = {"X-Device" = "device"}\n'
               '  basic_username = "board"\n  basic_password = "wio"\n'
               '  data_format = "json"\n  json_query = "readings"\n  tag_keys = ["sensor"]\n'
               '  json_string_fields = ["state"]\n  json_name_key = "kind"\n'
               '  json_time_key = "ts"\n  json_time_format = "unix_ms"\n'
               + file_output(out))
    with Listening(tmp_path, plugins, [port]) as running:
        running.port, running.out = port, out
        yield running
        running.terminate()


AUTH = {"Authorization": "Basic " + base64.b64encode(b"board:wio").decode()}


def test_json_options_end_to_end(json_agent):
    document = {"readings": [
        {"kind": "scd30", "sensor": "s1", "co2": 550, "state": "ok", "ts": 1700000000123,
         "nested": {"a": 1, "list": [2, 3]}},
        {"kind": "scd30", "sensor": "s2", "co2": 610, "state": "warm", "ts": 1700000000456},
    ], "ignored": 1}
    reply = request(json_agent.port, "POST", "/sensors", json.dumps(document).encode(),
                    {**AUTH, "X-Device": "wio-1", "Content-Type": "application/json"})
    assert reply.status == 200 and reply.headers["x-served-by"] == "agent"
    metrics = parse_metrics("\n".join(wait_lines(json_agent.out, 2)) + "\n")
    assert [(m.name, m.tags, m.fields, m.time) for m in metrics] == [
        ("scd30", {"sensor": "s1", "device": "wio-1", "http_listener_v2_path": "/sensors"},
         {"co2": 550.0, "state": "ok", "nested_a": 1.0, "nested_list_0": 2.0,
          "nested_list_1": 3.0}, 1700000000123000000),
        ("scd30", {"sensor": "s2", "device": "wio-1", "http_listener_v2_path": "/sensors"},
         {"co2": 610.0, "state": "warm"}, 1700000000456000000),
    ]


@pytest.mark.parametrize("method,path,body,headers,status,answer", [
    ("POST", "/telegraf", b'{"readings": [{"v": 1, "ts": 1}]}', {}, 401, b"Unauthorized.\n"),
    ("POST", "/elsewhere", b"{}", AUTH, 404, b"404 page not found\n"),
    ("PUT", "/telegraf", b"{}", AUTH, 405, b'{"error":"http: method not allowed"}'),
    ("POST", "/telegraf", b"{not json", AUTH, 400, b'{"error":"http: bad request"}'),
    ("POST", "/telegraf", b'{"readings": [{"v": 1}]}', AUTH, 400,
     b'{"error":"http: bad request"}'),  # no ts: json_time_key could not be found
    ("POST", "/telegraf", b'{"readings": 5}', AUTH, 400, b'{"error":"http: bad request"}'),
    ("POST", "/telegraf", b'{"nothing": 1}', AUTH, 200, b""),
])
def test_what_is_refused_and_how(json_agent, method, path, body, headers, status, answer):
    reply = request(json_agent.port, method, path, body, headers)
    assert (reply.status, reply.body) == (status, answer)
    assert reply.headers["x-served-by"] == "agent"  # on every answer, as Telegraf's


def test_influx_format_gzip_and_the_query_string(tmp_path):
    (first, second) = ports(2)
    out = tmp_path / "out.lp"
    plugins = (f'[[inputs.http_listener_v2]]\n  service_address = "tcp://127.0.0.1:{first}"\n'
               f'[[inputs.http_listener_v2]]\n  service_address = "127.0.0.1:{second}"\n'
               f'  data_source = "query"\n  methods = ["GET"]\n  data_format = "influx"\n'
               + file_output(out))
    with Listening(tmp_path, plugins, [first, second]) as running:
        body = gzip.compress(b"lp,src=body v=1i 1700000000000000000\n")
        assert request(first, "POST", "/telegraf", body, {"Content-Encoding": "gzip"}).status \
            == 204
        bad = request(first, "POST", "/telegraf", b"lp v=\n")
        assert (bad.status, bad.body) == (400, b'{"error":"http: bad request"}')
        query = "lp%2Csrc%3Dquery%20v%3D2i%201700000000000000001"
        assert request(second, "GET", f"/telegraf?{query}").status == 204
        lines = sorted(wait_lines(out, 2))
        assert lines == ["lp,src=body v=1i 1700000000000000000",
                         "lp,src=query v=2i 1700000000000000001"]
        running.terminate()
        assert "parse error" in running.stderr()


def test_a_body_over_max_body_size_is_413(tmp_path):
    (port,) = ports(1)
    plugins = (f'[[inputs.http_listener_v2]]\n  service_address = "127.0.0.1:{port}"\n'
               f'  max_body_size = "64KiB"\n' + file_output(tmp_path / "out.lp"))
    with Listening(tmp_path, plugins, [port]) as running:
        big = b"m v=1\n" * 20000
        for body, headers in ((big, {}), (gzip.compress(big), {"Content-Encoding": "gzip"})):
            reply = request(port, "POST", "/telegraf", body, headers)
            assert (reply.status, reply.body) == (413, b'{"error":"http: request body too large"}')
        running.terminate()
