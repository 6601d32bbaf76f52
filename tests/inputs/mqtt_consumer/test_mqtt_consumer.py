"""inputs.mqtt_consumer against a real Mosquitto and InfluxDB 1.x: messages are acknowledged
only once stored, so a kill -9 of the collector loses nothing; bad payloads and a refused login
are one-line errors, counted, and nothing else is lost."""

from __future__ import annotations

import threading
import uuid

import pytest

from agent.lineprotocol.parser import parse_metrics
from tests import servers
from tests.conftest import start_server
from tests.delivery_helpers import AgentProcess, wait_until
from tests.mqtt_helpers import connect_error, publish_all

T0 = 1_700_000_000_000_000_000


def collector_config(tmp_path, broker_url: str, topic: str, outputs: str, *,
                     consumer_extra: str = "", client_id: str = "") -> str:
    client_id = client_id or f"collector-{uuid.uuid4().hex[:8]}"
    return f"""
[agent]
  flush_interval = "200ms"
  metric_batch_size = 1000
  retry_max_interval = "1s"
  buffer_directory = "{tmp_path / 'buffer'}"
  hostname = "collector"

[[inputs.mqtt_consumer]]
  servers = ["{broker_url}"]
  topics = ["{topic}/#"]
  qos = 1
  persistent_session = true
  client_id = "{client_id}"
{consumer_extra}
{outputs}
"""


def influx_output(influxdb1, database: str) -> str:
    return f'[[outputs.influxdb]]\n  urls = ["{influxdb1.url}"]\n  database = "{database}"\n'


def stored_points(influxdb1, database: str) -> int:
    """Distinct series + timestamps in the database (a redelivered point lands on itself)."""
    try:
        rows = influxdb1.rows('SELECT count("v") FROM "reading"', db=database)
    except servers.ServerError:
        return 0
    return rows[0]["count"] if rows else 0


def readings(topic: str, count: int):
    return [(f"{topic}/pi-{i % 10}", f"reading,sensor=s{i % 10} v={i}i {T0 + i}\n".encode())
            for i in range(count)]


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_kill_9_of_the_collector_mid_stream_loses_nothing(tmp_path, influxdb1, protocol):
    broker = start_server(servers.Mosquitto, persistence=True)
    database = f"mqtt_kill_{protocol.replace('.', '')}"
    topic = f"fleet{protocol.replace('.', '')}"
    config = collector_config(tmp_path, broker.url, topic, influx_output(influxdb1, database),
                              consumer_extra=f'  protocol = "{protocol}"')
    try:
        collector = AgentProcess(tmp_path, config, name="first")
        assert wait_until(lambda: "Connected to" in collector.stderr(), 30), collector.stderr()
        # 10k messages over about 10 s: the collector is killed while they still stream in.
        publisher = threading.Thread(target=publish_all, args=(broker, readings(topic, 10_000)),
                                     kwargs={"qos": 1, "protocol": protocol,
                                             "per_second": 1_000})
        publisher.start()
        assert wait_until(lambda: stored_points(influxdb1, database) >= 2_000, 120), \
            collector.stderr()
        collector.kill9()
        assert stored_points(influxdb1, database) < 10_000  # killed in the middle
        publisher.join(180)
        assert not publisher.is_alive()
        with AgentProcess(tmp_path, config, name="second") as again:
            assert wait_until(lambda: stored_points(influxdb1, database) == 10_000, 180), \
                again.stderr()
            again.terminate()
        rows = influxdb1.rows('SELECT sum("v") FROM "reading"', db=database)
        assert rows[0]["sum"] == sum(range(10_000))  # every value, each exactly once
    finally:
        broker.close()


def test_bad_payloads_are_one_line_errors_counted_and_the_rest_is_kept(tmp_path, mosquitto):
    topic = "bad-input"
    out = tmp_path / "collected.lp"
    outputs = f'[[outputs.file]]\n  files = ["{out}"]\n'
    config = collector_config(tmp_path, mosquitto.url, topic, outputs, consumer_extra="""
  max_payload_size = "1KiB"
[[inputs.internal]]
  interval = "200ms"
""")
    messages = [
        (f"{topic}/a", f"reading v=1i {T0 + 1}\n".encode()),
        (f"{topic}/a", b"this is not line protocol"),
        (f"{topic}/a", b"reading v=" + b"9" * 2000 + b"i\n"),  # 2 kB > max_payload_size
        (f"{topic}/a", f"reading v=2i {T0 + 2}\nbroken line\nreading v=3i {T0 + 3}\n".encode()),
        (f"{topic}/a", f"reading v=4i {T0 + 4}\n".encode()),
    ]
    with AgentProcess(tmp_path, config) as collector:
        assert wait_until(lambda: "Connected to" in collector.stderr(), 30)
        publish_all(mosquitto, messages)

        def kept():
            return [m for m in parse_metrics(out.read_text()) if m.name == "reading"] \
                if out.exists() else []

        assert wait_until(lambda: len(kept()) == 4, 30), collector.stderr()

        def counters():
            internal = [m for m in parse_metrics(out.read_text())
                        if m.name == "internal_mqtt_consumer"]
            return internal[-1].fields if internal else {}

        assert wait_until(lambda: counters().get("messages_acked") == 5, 30), counters()
        collector.terminate()
    assert sorted(m.fields["v"] for m in kept()) == [1, 2, 3, 4]
    assert all(m.tags["topic"] == f"{topic}/a" for m in kept())
    fields = counters()
    assert (fields["messages_received"], fields["messages_rejected"],
            fields["parse_errors"]) == (5, 1, 2)
    errors = [line for line in collector.stderr().splitlines() if " E! " in line]
    assert len(errors) == 3, errors  # two bad lines and the oversized payload: one line each
    assert any("exceeds max_payload_size (1024)" in line for line in errors)
    assert all(len(line) < 600 for line in errors)


def test_a_refused_login_is_one_error_and_the_password_stays_secret(tmp_path):
    broker = start_server(servers.Mosquitto, users={"collector": "right"})
    try:
        out = tmp_path / "collected.lp"
        config = collector_config(
            tmp_path, broker.url, "login", f'[[outputs.file]]\n  files = ["{out}"]\n',
            consumer_extra='  username = "collector"\n  password = "not-the-password-42"\n'
                           '  max_reconnect_interval = "1s"\n'
                           '[[inputs.internal]]\n  interval = "200ms"\n')

        def connection_errors() -> int:
            internal = [m for m in parse_metrics(out.read_text())
                        if m.name == "internal_mqtt_consumer"] if out.exists() else []
            return internal[-1].fields["connection_errors"] if internal else 0

        with AgentProcess(tmp_path, config) as collector:
            # It keeps trying with backoff (counted) but says so once.
            assert wait_until(lambda: connection_errors() >= 3, 30), collector.stderr()
            collector.terminate()
        stderr = collector.stderr()
        errors = connect_error(stderr, broker.url)
        assert len(errors) == 1 and "refused by the broker: Not authorized" in errors[0], stderr
        assert "not-the-password-42" not in stderr
    finally:
        broker.close()
