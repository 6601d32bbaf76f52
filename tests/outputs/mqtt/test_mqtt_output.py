"""outputs.mqtt against a real Mosquitto: layouts, both protocols, and store-and-forward through
a broker outage with a kill -9 in the middle (nothing missing, values as the spool held them)."""

from __future__ import annotations

import time

import pytest

from agent.lineprotocol.parser import parse_metrics
from tests import servers
from tests.conftest import start_server
from tests.delivery_helpers import AgentProcess, spooled_lines, wait_until
from tests.mqtt_helpers import Subscriber, connect_error


def pi_config(tmp_path, broker_url: str, topic_root: str, *, interval: str = "50ms",
              extra: str = "", output_extra: str = "") -> str:
    return f"""
[agent]
  interval = "{interval}"
  flush_interval = "100ms"
  metric_batch_size = 100
  retry_max_interval = "1s"
  buffer_directory = "{tmp_path / 'buffer'}"
  hostname = "pi-1"
{extra}
[[inputs.mem]]
  fieldinclude = ["used", "free", "used_percent"]

[[outputs.mqtt]]
  servers = ["{broker_url}"]
  topic = '{topic_root}/{{{{ .Tag "host" }}}}/{{{{ .Name }}}}'
  qos = 1
{output_extra}

[[outputs.file]]
  files = ["{tmp_path / 'gathered.lp'}"]
"""


def file_lines(path) -> set:
    return set(path.read_text().splitlines(keepends=True)) if path.exists() else set()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
@pytest.mark.parametrize("layout", ["non-batch", "batch"])
def test_every_gathered_metric_is_published_once_as_written(tmp_path, mosquitto, protocol,
                                                           layout):
    root = f"lay-{layout}-{protocol.replace('.', '')}"
    subscriber = Subscriber(mosquitto, f"{root}/#", protocol=protocol)
    config = pi_config(tmp_path, mosquitto.url, root, interval="200ms",
                       output_extra=f'  protocol = "{protocol}"\n  layout = "{layout}"')
    with AgentProcess(tmp_path, config) as agent:
        assert subscriber.wait_for_lines(5, 30), agent.stderr()
        agent.terminate()
    gathered = file_lines(tmp_path / "gathered.lp")
    assert subscriber.wait_for_lines(len(gathered), 10)
    subscriber.close()
    assert sorted(subscriber.lines()) == sorted(gathered)
    topics = {topic for topic, _ in subscriber.messages}
    assert topics == {f"{root}/pi-1/mem"}
    if layout == "non-batch":
        assert len(subscriber.messages) == len(gathered)


def test_field_layout_and_v5_properties_reach_the_subscriber(tmp_path, mosquitto):
    subscriber = Subscriber(mosquitto, "fields/#", protocol="5")
    config = pi_config(tmp_path, mosquitto.url, "fields", interval="200ms", output_extra="""
  protocol = "5"
  layout = "field"
  [outputs.mqtt.v5]
    content_type = "text/plain"
    message_expiry = "10m"
    [outputs.mqtt.v5.user_properties]
      site = "greenhouse"
""")
    with AgentProcess(tmp_path, config) as agent:
        assert subscriber.wait_for_lines(6, 30), agent.stderr()
        agent.terminate()
    subscriber.close()
    by_topic = {}
    for topic, payload in subscriber.messages:
        by_topic.setdefault(topic, []).append(payload.decode())
    assert set(by_topic) == {"fields/pi-1/mem/used", "fields/pi-1/mem/free",
                             "fields/pi-1/mem/used_percent"}
    gathered = parse_metrics((tmp_path / "gathered.lp").read_text())
    assert sorted(by_topic["fields/pi-1/mem/used"]) == sorted(
        str(m.fields["used"]) for m in gathered)


def test_broker_outage_and_kill_9_lose_nothing(tmp_path):
    """20 Hz gathering; the broker stops for 15 s; during the outage the agent is killed -9 and
    started again. Every gathered metric (and everything the spool held at the kill) arrives,
    byte for byte; duplicates are at most the messages in flight at the kill."""
    broker = start_server(servers.Mosquitto, persistence=True)
    try:
        subscriber = Subscriber(broker, "outage/#", client_id="outage-subscriber",
                                protocol="5", persistent=True)
        config = pi_config(tmp_path, broker.url, "outage", output_extra="""
  protocol = "5"
  layout = "batch"
  client_id = "pi-1-outage"
  persistent_session = true""")
        agent = AgentProcess(tmp_path, config, name="before")
        assert subscriber.wait_for_lines(40, 30), agent.stderr()
        broker.stop()
        outage_started = time.monotonic()
        # 7.5 s of gathers wait in the spool, then kill -9 and start again, broker still down.
        assert wait_until(lambda: len(spooled_lines(tmp_path / "buffer")) >= 150, 30)
        agent.kill9()
        held_at_kill = spooled_lines(tmp_path / "buffer")
        assert len(held_at_kill) >= 150
        with AgentProcess(tmp_path, config, name="after") as again:
            # The rest of the 15 s outage: about 7.5 s more gathers pile up behind them.
            assert wait_until(lambda: time.monotonic() - outage_started >= 15
                              and len(spooled_lines(tmp_path / "buffer")) > len(held_at_kill),
                              40)
            assert "waiting in" in again.stderr()  # the backlog was found at start
            broker.start()
            expected = file_lines(tmp_path / "gathered.lp") | set(held_at_kill)
            assert subscriber.wait_for_lines(len(expected), 60), again.stderr()
            assert wait_until(lambda: not spooled_lines(tmp_path / "buffer"), 30)
            again.terminate()
        expected = file_lines(tmp_path / "gathered.lp") | set(held_at_kill)
        assert wait_until(lambda: set(subscriber.lines()) >= expected, 10)
        received = subscriber.lines()
        assert set(received) == expected  # nothing missing, nothing changed, nothing made up
        assert len(received) - len(set(received)) <= 100  # at most one batch again after -9
        errors = connect_error(again.stderr(), broker.url)
        assert len(errors) == 1, again.stderr()  # the outage logged once, not per retry
        subscriber.close()
    finally:
        broker.close()


def test_a_refused_login_keeps_everything_until_the_password_is_right(tmp_path):
    broker = start_server(servers.Mosquitto, users={"pi": "right-password"})
    try:
        subscriber_config = {"client_id": ""}
        import paho.mqtt.client as mqtt

        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **subscriber_config)
        sub.username_pw_set("pi", "right-password")
        got = []
        sub.on_connect = lambda c, u, f, rc, p: c.subscribe("login/#", 1)
        sub.on_message = lambda c, u, m: got.append(bytes(m.payload).decode())
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        wrong = pi_config(tmp_path, broker.url, "login", interval="200ms",
                          output_extra='  username = "pi"\n  password = "wrong-secret-123"')
        with AgentProcess(tmp_path, wrong, name="wrong") as agent:
            assert wait_until(lambda: len(spooled_lines(tmp_path / "buffer")) >= 10, 30)
            stderr = agent.stderr()
            agent.terminate()
        errors = connect_error(stderr, broker.url)
        assert len(errors) == 1 and "refused by the broker: Not authorized" in errors[0], stderr
        assert "wrong-secret-123" not in stderr
        right = wrong.replace("wrong-secret-123", "right-password")
        with AgentProcess(tmp_path, right, name="right") as agent:
            assert wait_until(lambda: not spooled_lines(tmp_path / "buffer"), 30), agent.stderr()
            agent.terminate()
        gathered = file_lines(tmp_path / "gathered.lp")
        assert wait_until(lambda: len(got) >= len(gathered), 10)
        assert sorted(got) == sorted(gathered)
        sub.disconnect()
        sub.loop_stop()
    finally:
        broker.close()


def test_websockets_transport(tmp_path):
    broker = start_server(servers.Mosquitto, websockets=True)
    try:
        subscriber = Subscriber(broker, "ws/#")
        config = pi_config(tmp_path, broker.ws_url, "ws", interval="200ms")
        with AgentProcess(tmp_path, config) as agent:
            assert subscriber.wait_for_lines(3, 30), agent.stderr()
            agent.terminate()
        gathered = file_lines(tmp_path / "gathered.lp")
        assert subscriber.wait_for_lines(len(gathered), 10)
        assert set(subscriber.lines()) == gathered
        subscriber.close()
    finally:
        broker.close()


def test_tls_with_the_brokers_ca_and_refused_without_it(tmp_path):
    broker = start_server(servers.Mosquitto, tls=True)
    try:
        subscriber = Subscriber(broker, "tls/#")
        config = pi_config(tmp_path, broker.tls_url, "tls", interval="200ms",
                           output_extra=f'  tls_ca = "{broker.ca_file}"')
        with AgentProcess(tmp_path, config) as agent:
            assert subscriber.wait_for_lines(3, 30), agent.stderr()
            agent.terminate()
        assert set(subscriber.lines()) <= file_lines(tmp_path / "gathered.lp")
        other = tmp_path / "untrusted"
        other.mkdir()
        untrusted = pi_config(other, broker.tls_url, "tls", interval="200ms")
        with AgentProcess(other, untrusted) as agent:
            assert wait_until(lambda: "CERTIFICATE_VERIFY_FAILED" in agent.stderr(), 30)
            agent.terminate()
        subscriber.close()
    finally:
        broker.close()


def test_a_tag_value_with_a_wildcard_goes_to_the_dead_letter_file(tmp_path, mosquitto):
    subscriber = Subscriber(mosquitto, "dl/#")
    config = pi_config(tmp_path, mosquitto.url, "dl", interval="200ms").replace(
        'hostname = "pi-1"', 'hostname = "pi+1"')
    with AgentProcess(tmp_path, config) as agent:
        assert wait_until(lambda: (tmp_path / "buffer" / "dead-letter.lp").exists(), 30)
        agent.terminate()
    dead = (tmp_path / "buffer" / "dead-letter.lp").read_text()
    assert "contains '+'" in dead and "mem,host=pi+1" in dead
    assert subscriber.messages == []
    subscriber.close()
