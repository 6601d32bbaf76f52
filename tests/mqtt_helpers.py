"""A real MQTT client for tests (paho-mqtt): subscribe and collect, or publish and wait for
the broker's acknowledgements."""

from __future__ import annotations

import threading
import time
from typing import List, Tuple

from tests.delivery_helpers import wait_until


def _client(client_id: str, protocol: str, persistent: bool):
    import paho.mqtt.client as mqtt

    v5 = protocol == "5"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=None if v5 else not persistent,
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    client.reconnect_delay_set(0.1, 1)
    return client


def _connect_kwargs(protocol: str, persistent: bool) -> dict:
    if protocol != "5":
        return {}
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    properties = Properties(PacketTypes.CONNECT)
    if persistent:
        properties.SessionExpiryInterval = 3600
    return {"clean_start": not persistent, "properties": properties}


class Subscriber:
    """Collects (topic, payload) of every message on `topic`; resubscribes after the broker
    restarts (with persistent=True the broker also keeps what came meanwhile)."""

    def __init__(self, broker, topic: str = "#", qos: int = 1, client_id: str = "",
                 protocol: str = "3.1.1", persistent: bool = False) -> None:
        self.messages: List[Tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = _client(client_id, protocol, persistent)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos)
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._received
        self.client.connect("127.0.0.1", broker.port, 30, **_connect_kwargs(protocol, persistent))
        self.client.loop_start()
        assert self._subscribed.wait(10), "no SUBACK from the broker"

    def _received(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def lines(self) -> List[str]:
        """Every line of every payload received (a batch payload holds several)."""
        with self._lock:
            payloads = [payload.decode() for _, payload in self.messages]
        return [line + "\n" for payload in payloads for line in payload.split("\n") if line]

    def wait_for_lines(self, count: int, timeout: float) -> bool:
        return wait_until(lambda: len(self.lines()) >= count, timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish_all(broker, messages: List[Tuple[str, bytes]], qos: int = 1,
                protocol: str = "3.1.1", client_id: str = "",
                timeout: float = 120.0, per_second: float = 0.0) -> None:
    """Publish and wait until the broker acknowledged every message; per_second > 0 paces
    the publishing (a stream that a collector cannot finish ahead of the test)."""
    client = _client(client_id, protocol, False)
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", broker.port, 30, **_connect_kwargs(protocol, False))
    client.loop_start()
    try:
        infos = []
        started = time.monotonic()
        for index, (topic, payload) in enumerate(messages):
            if per_second and index % 100 == 0:  # pacing, not synchronisation
                time.sleep(max(0.0, started + index / per_second - time.monotonic()))
            infos.append(client.publish(topic, payload, qos))
        for info in infos:
            info.wait_for_publish(timeout)
        assert all(info.is_published() for info in infos)
    finally:
        client.disconnect()
        client.loop_stop()


def connect_error(stderr: str, url: str) -> List[str]:
    """The error lines an agent logged about connecting to url."""
    return [line for line in stderr.splitlines()
            if " E! " in line and f"Cannot connect to {url}" in line]

