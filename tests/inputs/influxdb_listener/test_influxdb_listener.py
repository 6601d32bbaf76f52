"""inputs.influxdb_listener with InfluxDB 1.x clients: the `influxdb` Python package (JSON
points and line protocol, ping, CREATE DATABASE, queries), curl, every way of authenticating,
and the tags that keep the request's database and retention policy."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time
import uuid

import pytest

from tests.delivery_helpers import influx_times, wait_until
from tests.listener_helpers import Listening, ports, request


def v1_agent(tmp, influxdb1, port, database, listener=""):
    plugins = (f'[[inputs.influxdb_listener]]\n  service_address = "127.0.0.1:{port}"\n'
               f'{listener}\n'
               f'[[outputs.influxdb]]\n  urls = ["{influxdb1.url}"]\n'
               f'  database = "{database}"\n')
    return Listening(tmp, plugins, [port])


@pytest.fixture
def relay(tmp_path, influxdb1):
    database = "v1_" + uuid.uuid4().hex[:8]
    influxdb1.create_database(database)
    (port,) = ports(1)
    listener = ('  database_tag = "db"\n  retention_policy_tag = "rp"\n'
                '  basic_username = "writer"\n  basic_password = "pw-' + database + '"')
    with v1_agent(tmp_path, influxdb1, port, database, listener) as running:
        running.port, running.database = port, database
        running.password = "pw-" + database
        yield running
        running.terminate()
        assert running.password not in running.stderr()


def test_the_influxdb_package_writes_points_unchanged(relay, influxdb1):
    from influxdb import InfluxDBClient

    script = InfluxDBClient("127.0.0.1", relay.port, "writer", relay.password, "sensors")
    assert script.ping() == "1.0"
    script.create_database("sensors")  # answered, not relayed: the output names the database
    assert script.query("SHOW DATABASES") == []  # no result sets, as from Telegraf
    points = [{"measurement": "room", "tags": {"name": "kitchen"},
               "time": 1_700_000_000_000_000_000 + i, "fields": {"temperature": 20.5 + i}}
              for i in range(30)]
    assert script.write_points(points, retention_policy="autogen")
    assert script.write_points([f"room,name=hall temperature={i}.25 {1_700_000_001 + i}"
                                for i in range(5)], time_precision="s", protocol="line")
    wait_until(lambda: len(influx_times(influxdb1, relay.database, "room", "temperature"))
               >= 35, 20)
    rows = influxdb1.rows('SELECT * FROM room', db=relay.database)
    kitchen = [r for r in rows if r["name"] == "kitchen"]
    assert [r["temperature"] for r in kitchen] == [20.5 + i for i in range(30)]
    assert {(r["db"], r["rp"]) for r in kitchen} == {("sensors", "autogen")}
    hall = [r for r in rows if r["name"] == "hall"]
    assert [(r["time"], r["temperature"]) for r in hall] == \
        [((1_700_000_001 + i) * 10**9, i + 0.25) for i in range(5)]


def test_curl_posts_with_token_user_password(relay, influxdb1):
    result = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-XPOST",
         f"http://127.0.0.1:{relay.port}/write?db=x&precision=ms", "-H",
         f"Authorization: Token writer:{relay.password}", "--data-binary",
         "curl_v1 value=0.64 1434055562000"], capture_output=True, text=True, timeout=30)
    assert result.stdout == "204"
    wait_until(lambda: influx_times(influxdb1, relay.database, "curl_v1", "value"), 20)
    assert influx_times(influxdb1, relay.database, "curl_v1", "value") == \
        {1434055562000000000: 0.64}


@pytest.mark.parametrize("headers,query,status", [
    ({}, "", 401),
    ({"Authorization": "Basic " + base64.b64encode(b"writer:nope").decode()}, "", 401),
    ({"Authorization": "Token writer:nope"}, "", 401),
    ({}, "&u=writer&p=nope", 401),
    ({}, "&u=writer&p={password}", 204),
    ({"Authorization": "Basic {basic}"}, "", 204),
])
def test_credentials(relay, headers, query, status):
    basic = base64.b64encode(f"writer:{relay.password}".encode()).decode()
    headers = {k: v.format(basic=basic) for k, v in headers.items()}
    path = "/write?db=x" + query.format(password=relay.password)
    reply = request(relay.port, "POST", path, b"auth_v1 v=1 1\n", headers)
    assert reply.status == status, reply
    if status == 401:
        assert json.loads(reply.body)["error"] in ("authorization failed",
                                                   "unable to parse authentication credentials")
        assert reply.headers["www-authenticate"] == 'Basic realm="influxdb"'


def jwt(secret: str, claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signed = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}"
    signature = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()
    return signed + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def test_json_web_tokens(tmp_path, influxdb1):
    database = "jwt_" + uuid.uuid4().hex[:8]
    influxdb1.create_database(database)
    (port,) = ports(1)
    listener = '  token_shared_secret = "shhh"\n  token_username = "sensor"'
    with v1_agent(tmp_path, influxdb1, port, database, listener) as running:
        later = time.time() + 600
        cases = [
            (jwt("shhh", {"username": "sensor", "exp": later}), 204),
            (jwt("shhh", {"username": "sensor", "exp": time.time() - 5}), 401),
            (jwt("wrong", {"username": "sensor", "exp": later}), 401),
            (jwt("shhh", {"username": "other", "exp": later}), 401),
            (jwt("shhh", {"exp": later}), 401),
            ("not.a.token", 401),
        ]
        answers = [request(port, "POST", "/write?db=x", b"jwt v=1 1\n",
                           {"Authorization": f"Bearer {token}"}).status for token, _ in cases]
        assert answers == [status for _, status in cases]
        telegraf_header = request(port, "POST", "/write?db=x", b"jwt v=2 2\n",
                                  {"Authentication": f"Bearer {cases[0][0]}"})
        assert telegraf_header.status == 204
        wait_until(lambda: len(influx_times(influxdb1, database, "jwt", "v")) == 2, 20)
        assert influx_times(influxdb1, database, "jwt", "v") == {1: 1.0, 2: 2.0}
        running.terminate()
        assert "shhh" not in running.stderr()


def test_query_and_ping_answers(relay):
    query = request(relay.port, "GET", f"/query?q=SHOW+DATABASES&u=writer&p={relay.password}")
    assert (query.status, query.body) == (200, b'{"results":[]}')
    verbose = request(relay.port, "GET", "/ping?verbose=true")
    assert (verbose.status, json.loads(verbose.body)) == (200, {"version": "1.0"})
    assert request(relay.port, "GET", "/ping").status == 204
