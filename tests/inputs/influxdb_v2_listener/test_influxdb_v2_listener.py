"""inputs.influxdb_v2_listener in a real agent, written to by influxdb-client (SYNCHRONOUS and
batching), curl and plain HTTP, relaying to VictoriaMetrics."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.listener_helpers import Listening, ports, request

TOKEN = "t0ken-" + uuid.uuid4().hex


def v2_agent(tmp, vm, port, listener="", agent_extra="", output_extra=""):
    plugins = (f'[[inputs.influxdb_v2_listener]]\n  service_address = "127.0.0.1:{port}"\n'
               f'{listener}\n'
               f'[[outputs.influxdb_v2]]\n  urls = ["{vm.url}"]\n  token = "x"\n'
               f'  organization = "o"\n  bucket = "b"\n{output_extra}\n')
    return Listening(tmp, plugins, [port], agent_extra=agent_extra)


def samples(vm, name: str, expect: int) -> dict:
    """{(labels without __name__, timestamp ms): value} of one VictoriaMetrics series name."""
    found = {}
    for series in vm.export(f'{{__name__="{name}"}}', expect=expect, timeout=20):
        labels = tuple(sorted((k, v) for k, v in series["metric"].items() if k != "__name__"))
        for stamp, value in zip(series["timestamps"], series["values"]):
            found[(labels, stamp)] = value
    return found


@pytest.fixture
def agent(tmp_path, victoria_metrics):
    (port,) = ports(1)
    with v2_agent(tmp_path, victoria_metrics, port, f'  token = "{TOKEN}"') as running:
        running.port = port
        yield running
        running.terminate()
        assert TOKEN not in running.stderr()


def client(port: int, **options):
    from influxdb_client import InfluxDBClient

    return InfluxDBClient(url=f"http://127.0.0.1:{port}", token=TOKEN, org="my-org", **options)


def test_a_synchronous_script_works_unchanged(agent, victoria_metrics):
    from influxdb_client import Point, WritePrecision
    from influxdb_client.client.write_api import SYNCHRONOUS

    camera = uuid.uuid4().hex[:8]
    with client(agent.port) as script:
        write_api = script.write_api(write_options=SYNCHRONOUS)
        for i in range(50):  # the user's `while True` loop
            point = (Point("person_detection").tag("camera", camera).field("count", i)
                     .field("confidence", i / 4).time(1_700_000_000_000 + i, WritePrecision.MS))
            write_api.write(bucket="home", record=point)
    counts = samples(victoria_metrics, "person_detection_count", 50)
    mine = {stamp: value for (labels, stamp), value in counts.items()
            if ("camera", camera) in labels}
    assert mine == {1_700_000_000_000 + i: float(i) for i in range(50)}
    confidence = samples(victoria_metrics, "person_detection_confidence", 50)
    assert sorted(v for (labels, _), v in confidence.items() if ("camera", camera) in labels) \
        == [i / 4 for i in range(50)]


def test_the_batching_client_delivers_every_batch(agent, victoria_metrics):
    from influxdb_client import Point, WritePrecision
    from influxdb_client.client.write_api import WriteOptions

    run = uuid.uuid4().hex[:8]
    acknowledged, failed = [], []
    with client(agent.port) as script:
        write_api = script.write_api(
            write_options=WriteOptions(batch_size=25, flush_interval=200),
            success_callback=lambda conf, data: acknowledged.append(data),
            error_callback=lambda conf, data, err: failed.append(err))
        for i in range(200):
            write_api.write(bucket="home", record=Point("batched").tag("run", run)
                            .field("value", i).time(1_700_000_100_000 + i, WritePrecision.MS))
        write_api.close()
    assert failed == [] and len(acknowledged) == 8
    found = samples(victoria_metrics, "batched_value", 200)
    assert sorted(v for (labels, _), v in found.items() if ("run", run) in labels) == \
        [float(i) for i in range(200)]


def test_curl_posts_line_protocol_with_a_precision(agent, victoria_metrics):
    run = uuid.uuid4().hex[:8]
    result = subprocess.run(
        ["curl", "-s", "-i", "-XPOST", f"http://127.0.0.1:{agent.port}/api/v2/write?org=o&"
         "bucket=b&precision=s", "-H", f"Authorization: Token {TOKEN}", "--data-binary",
         f"curl_lp,run={run} value=0.64 1434055562\ncurl_lp,run={run} value=0.65 1434055563"],
        capture_output=True, text=True, timeout=30)
    assert result.stdout.startswith("HTTP/1.1 204"), result.stdout
    found = samples(victoria_metrics, "curl_lp_value", 2)
    assert {stamp: v for (labels, stamp), v in found.items() if ("run", run) in labels} == \
        {1434055562000: 0.64, 1434055563000: 0.65}


def test_a_bad_line_fails_the_request_with_influxdb_2s_error(agent, victoria_metrics):
    run = uuid.uuid4().hex[:8]
    body = f"bad_req,run={run} v=1 1700000000000000000\nbad_req v=\nbad_req,run={run} v=2\n"
    reply = request(agent.port, "POST", "/api/v2/write?bucket=b", body.encode(),
                    {"Authorization": f"Token {TOKEN}"})
    assert reply.status == 400
    assert json.loads(reply.body) == {
        "code": "invalid", "line": 2,
        "message": "line 2: unable to parse 'bad_req v=': missing field value"}
    assert reply.headers["content-type"] == "application/json"
    # Nothing of the request was kept (InfluxDB 2 refuses it whole): a later write arrives
    # alone.
    good = f"bad_req,run={run} v=3 1700000000001000000\n".encode()
    assert request(agent.port, "POST", "/api/v2/write", good,
                   {"Authorization": f"Token {TOKEN}"}).status == 204
    found = samples(victoria_metrics, "bad_req_v", 1)
    assert [v for (labels, _), v in found.items() if ("run", run) in labels] == [3.0]
    log = agent.stderr()
    assert re.search(r"W! \[inputs.influxdb_v2_listener\] POST /api/v2/write from 127.0.0.1: "
                     r"400 1 bad line\(s\), nothing kept: line 2: unable to parse", log), log


@pytest.mark.parametrize("body,headers,status,code", [
    (b"", {}, 400, "invalid"),
    (b"x" * 2_000_000, {}, 413, "request too large"),
    (gzip.compress(b"a" * 50_000_000), {"Content-Encoding": "gzip"}, 413, "request too large"),
    (b"\x1f\x8b\x08\x00 broken gzip stream", {"Content-Encoding": "gzip"}, 400, "invalid"),
])
def test_bodies_that_cannot_be_taken(tmp_path, victoria_metrics, body, headers, status, code):
    (port,) = ports(1)
    with v2_agent(tmp_path, victoria_metrics, port, '  max_body_size = "1MiB"') as running:
        reply = request(port, "POST", "/api/v2/write", body, headers)
        assert (reply.status, json.loads(reply.body)["code"]) == (status, code)
        status_text = Path(f"/proc/{running.proc.pid}/status").read_text()
        rss_kb = int(re.search(r"VmHWM:\s+(\d+)", status_text).group(1))
        assert rss_kb < 120_000, "a gzip bomb is stopped at max_body_size"
        running.terminate()


def test_gzip_bodies_are_read(agent, victoria_metrics):
    run = uuid.uuid4().hex[:8]
    body = gzip.compress(f"gz_v2,run={run} v=7 1700000000000000000\n".encode())
    reply = request(agent.port, "POST", "/api/v2/write", body,
                    {"Authorization": f"Token {TOKEN}", "Content-Encoding": "gzip"})
    assert reply.status == 204, reply
    found = samples(victoria_metrics, "gz_v2_v", 1)
    assert [v for (labels, _), v in found.items() if ("run", run) in labels] == [7.0]


@pytest.mark.parametrize("authorization", [None, "Token wrong", f"Bearer {TOKEN}", TOKEN])
def test_a_wrong_or_missing_token_is_401(agent, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    reply = request(agent.port, "POST", "/api/v2/write", b"m v=1", headers)
    assert reply.status == 401
    assert json.loads(reply.body) == {"code": "unauthorized", "message": "unauthorized access"}
    assert "401 unauthorized" in agent.stderr()


def test_health_ready_and_ping_need_no_token(agent):
    health = request(agent.port, "GET", "/api/v2/health")
    assert health.status == 200 and json.loads(health.body)["status"] == "pass"
    ready = request(agent.port, "GET", "/api/v2/ready")
    assert ready.status == 200 and json.loads(ready.body)["status"] == "ready"
    ping = request(agent.port, "GET", "/ping")
    assert ping.status == 204 and ping.headers["x-influxdb-build"] == "agent"
    assert request(agent.port, "GET", "/elsewhere",
                   headers={"Authorization": f"Token {TOKEN}"}).status == 404
    assert request(agent.port, "GET", "/api/v2/write",
                   headers={"Authorization": f"Token {TOKEN}"}).status == 405
    with client(agent.port) as script:
        assert script.ping()


def test_bucket_tag_unsigned_integers_and_decorated_metrics(tmp_path, victoria_metrics):
    """bucket_tag keeps the query's bucket; an unsigned field and a renamed input take the
    metric path (not lines as received), with the same result."""
    (port,) = ports(1)
    run = uuid.uuid4().hex[:8]
    listener = ('  bucket_tag = "bucket"\n  name_prefix = "relay_"\n'
                '  [inputs.influxdb_v2_listener.tags]\n    via = "agent"')
    with v2_agent(tmp_path, victoria_metrics, port, listener) as running:
        body = f"dec,run={run} u=5u,f=1.5 1700000000000000000\n".encode()
        assert request(port, "POST", "/api/v2/write?bucket=garden", body).status == 204
        found = samples(victoria_metrics, "relay_dec_u", 1)
        (labels, value), = [(labels, v) for (labels, _), v in found.items()
                            if ("run", run) in labels]
        assert value == 5.0 and ("bucket", "garden") in labels and ("via", "agent") in labels
        running.terminate()


def test_plain_lines_get_the_agents_tags(tmp_path, victoria_metrics):
    (port,) = ports(1)
    run = uuid.uuid4().hex[:8]
    extra = '[global_tags]\n  site = "oyama-4"\n  run = "global"'
    with v2_agent(tmp_path, victoria_metrics, port, '  bucket_tag = "bucket"',
                  agent_extra=extra) as running:
        body = f"plain,run={run} v=1 1700000000000000000\nplain v=2 1700000000001000000\n"
        assert request(port, "POST", "/api/v2/write?bucket=b1", body.encode()).status == 204
        found = samples(victoria_metrics, "plain_v", 2)
        labels = {v: dict(labels) for (labels, _), v in found.items()
                  if dict(labels).get("run") in (run, "global") and dict(labels).get("bucket")}
        assert labels[1.0] == {"run": run, "site": "oyama-4", "bucket": "b1"}
        assert labels[2.0] == {"run": "global", "site": "oyama-4", "bucket": "b1"}
        running.terminate()


def test_max_undelivered_metrics_answers_429_while_the_buffer_holds_that_many(tmp_path):
    """The output's server is away: what was acknowledged waits in the spool."""
    (port, dead) = ports(2)
    plugins = (f'[[inputs.influxdb_v2_listener]]\n  service_address = "127.0.0.1:{port}"\n'
               f'  max_undelivered_metrics = 30\n'
               f'[[outputs.influxdb_v2]]\n  urls = ["http://127.0.0.1:{dead}"]\n'
               f'  token = "x"\n  organization = "o"\n  bucket = "b"\n')
    with Listening(tmp_path, plugins, [port]) as running:
        lines = "".join(f"u v={i} {1700000000000000000 + i}\n" for i in range(20)).encode()
        assert request(port, "POST", "/api/v2/write", lines).status == 204
        assert request(port, "GET", "/api/v2/health").status == 200
        refused = request(port, "POST", "/api/v2/write", lines)
        assert refused.status == 429 and refused.headers["retry-after"] == "10"
        assert json.loads(refused.body)["code"] == "too many requests"
        assert request(port, "POST", "/api/v2/write", lines[:lines.index(b"u v=10")]).status \
            == 204
        health = request(port, "GET", "/api/v2/health")
        assert health.status == 503 and json.loads(health.body)["status"] == "fail"
        too_many = "".join(f"u v={i}\n" for i in range(31)).encode()
        assert request(port, "POST", "/api/v2/write", too_many).status == 413
        running.terminate()


def test_serving_beyond_loopback_without_a_token_is_warned(tmp_path, victoria_metrics):
    (port,) = ports(1)
    plugins = (f'[[inputs.influxdb_v2_listener]]\n  service_address = ":{port}"\n'
               f'[[outputs.file]]\n  files = ["{tmp_path}/out.lp"]\n')
    with Listening(tmp_path, plugins, [port]) as running:
        running.terminate()
    assert re.search(r"W! \[inputs.influxdb_v2_listener\] Listening on \S+:" + str(port) +
                     " beyond this machine without authentication", running.stderr())


def test_output_filters_and_aggregators_still_see_every_metric(tmp_path, victoria_metrics):
    """An output's namepass, or an aggregator, needs the metrics themselves: such an agent
    takes the metric path (lines are not stored as received), with the same answers."""
    (port,) = ports(1)
    run = uuid.uuid4().hex[:8]
    plugins = (f'[[inputs.influxdb_v2_listener]]\n  service_address = "127.0.0.1:{port}"\n'
               f'[[aggregators.minmax]]\n  period = "1h"\n'
               f'[[outputs.influxdb_v2]]\n  urls = ["{victoria_metrics.url}"]\n'
               f'  token = "x"\n  organization = "o"\n  bucket = "b"\n'
               f'  namepass = ["kept_*"]\n')
    with Listening(tmp_path, plugins, [port]) as running:
        body = (f"kept_f,run={run} v=1 1700000000000000000\n"
                f"dropped_f,run={run} v=2 1700000000000000000\n").encode()
        assert request(port, "POST", "/api/v2/write", body).status == 204
        found = samples(victoria_metrics, "kept_f_v", 1)
        assert [v for (labels, _), v in found.items() if ("run", run) in labels] == [1.0]
        assert victoria_metrics.export(f'{{__name__="dropped_f_v",run="{run}"}}') == []
        running.terminate()


def test_a_reload_listens_again_with_the_new_config(tmp_path, victoria_metrics):
    """SIGHUP: the old listener lets go of the port, the new one (a new token) takes it."""
    import signal

    from tests.delivery_helpers import wait_until

    (port,) = ports(1)
    with v2_agent(tmp_path, victoria_metrics, port, '  token = "tok-first-7f3a"') as running:
        assert request(port, "POST", "/api/v2/write", b"r v=1 1700000000000000000\n",
                       {"Authorization": "Token tok-first-7f3a"}).status == 204
        config = running.config_path.read_text()
        running.config_path.write_text(config.replace("tok-first-7f3a", "tok-second-9b2c"))
        running.proc.send_signal(signal.SIGHUP)

        def answers_second() -> bool:
            try:
                return request(port, "POST", "/api/v2/write", b"r v=2 1700000000001000000\n",
                               {"Authorization": "Token tok-second-9b2c"}).status == 204
            except OSError:
                return False

        assert wait_until(answers_second, 20), running.stderr()
        assert request(port, "POST", "/api/v2/write", b"r v=3\n",
                       {"Authorization": "Token tok-first-7f3a"}).status == 401
        running.terminate()
    log = running.stderr()
    assert "tok-first-7f3a" not in log and "tok-second-9b2c" not in log
