"""One MQTT connection, kept up by a supervised worker.

The worker owns the paho client's network loop: it connects (failing over between servers in
turn), waits for the broker's CONNACK, runs the loop, and after a refused or lost connection
tries again with a jittered exponential backoff capped at max_reconnect_interval. The first
failure of an outage is logged as an error, repeats only at debug, and the return is logged
with the outage's length; every failure is counted. Other threads publish() and ack() through
it; the loop thread alone writes to the socket.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional

from agent.common.mqtt.client import build_client, connect_arguments, error_text
from agent.common.mqtt.settings import ClientSettings
from agent.system.backoff import Backoff
from agent.system.worker import Worker

LOOP_SECONDS = 0.2
STABLE_SECONDS = 10.0  # a connection that lasted less is a failure (no instant reconnect)


class Connection:
    def __init__(self, settings: ClientSettings, label: str,
                 log: logging.Logger | logging.LoggerAdapter,
                 on_connected: Optional[Callable[[bool], None]] = None,
                 on_message: Optional[Callable[[Any], None]] = None,
                 on_publish: Optional[Callable[[int, str], None]] = None) -> None:
        self.settings = settings
        self.label = label
        self.log = log
        self.on_connected = on_connected
        self.on_message = on_message
        self.on_publish = on_publish
        self.connected = threading.Event()
        self.broker = settings.brokers[0]
        self.last_error = "not connected yet"
        self.errors = 0  # refused or failed connects and lost connections
        self.connects = 0
        self.client: Any = None
        self.worker: Optional[Worker] = None
        self._index = 0
        self._delay = 0.0
        self._backoff = Backoff(first=1.0, cap=max(1.0, settings.max_reconnect_interval),
                                jitter=True)
        self._refused = ""
        self._up_since = 0.0
        self._down_since: Optional[float] = None
        self._closing = threading.Event()
        self._closed = threading.Event()

    # -- what other threads call
    def start(self) -> None:
        self.client = build_client(self.settings)
        client = self.client
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        if self.settings.trace:
            client.enable_logger(logging.getLogger("agent.mqtt.client"))
        stall = self.settings.connect_timeout + 30.0
        self.worker = Worker(f"{self.label} connection", self._run, logger=self.log,
                             stall_after=stall).start()

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool,
                properties: Any = None) -> Any:
        return self.client.publish(topic, payload, qos, retain, properties)

    def ack(self, mid: int, qos: int) -> None:
        self.client.ack(mid, qos)

    def stop(self, timeout: float = 2.0) -> None:
        """Disconnect cleanly (what is queued, acknowledgements first, goes out), then end."""
        self._closing.set()
        if self.worker is not None:
            self._closed.wait(timeout)
            self.worker.stop(1.0)

    # -- the worker
    def _run(self, worker: Worker) -> None:
        while not worker.stopping.is_set():
            worker.beat()
            if self._closing.is_set():
                self._close_session()
                worker.stopping.wait(LOOP_SECONDS)
            elif self.connected.is_set():
                rc = self.client.loop(LOOP_SECONDS)
                if rc:
                    self._lost(self._refused or error_text(rc))
            else:
                self._connect(worker)

    def _connect(self, worker: Worker) -> None:
        # Waits on _closing: stop() must not sit out a 30 s backoff.
        if self._delay and (self._closing.wait(self._delay) or worker.stopping.is_set()):
            return
        broker = self.broker = self.settings.brokers[self._index]
        self._refused = ""
        try:
            self.client.connect(broker.host, broker.port, self.settings.keepalive,
                                **connect_arguments(self.settings))
            problem = self._await_connack(worker)
        except Exception as err:  # noqa: BLE001 - DNS, refused, TLS, websocket: all retried
            problem = _describe(err)
        if self._closing.is_set():
            return  # stopping: not a failure to report
        if problem:
            self._failed(problem)
        else:
            self._up()

    def _await_connack(self, worker: Worker) -> str:
        deadline = time.monotonic() + self.settings.connect_timeout
        while not self.connected.is_set() and not self._refused:
            if time.monotonic() > deadline or worker.stopping.is_set() or \
                    self._closing.is_set():
                return f"no answer to CONNECT within {self.settings.connect_timeout:g}s"
            rc = self.client.loop(0.05)
            if rc and not self.connected.is_set():
                return self._refused or error_text(rc)
        return self._refused

    def _up(self) -> None:
        self._up_since = time.monotonic()
        if self._down_since is not None:
            self.log.info("Connected to %s again after %.1fs", self.broker.url,
                          self._up_since - self._down_since)
        else:
            self.log.info("Connected to %s", self.broker.url)
        self._down_since = None
        self._delay = 0.0

    def _failed(self, problem: str) -> None:
        self.errors += 1
        self.last_error = f"{self.broker.url}: {problem}"
        if self._down_since is None:
            self._down_since = time.monotonic()
            self.log.error("Cannot connect to %s: %s; retrying with backoff", self.broker.url,
                           problem)
        else:
            self.log.debug("still cannot connect to %s: %s", self.broker.url, problem)
        self._index = (self._index + 1) % len(self.settings.brokers)
        self._delay = self._backoff.next_delay()

    def _lost(self, problem: str) -> None:
        self.connected.clear()
        self.errors += 1
        self.last_error = f"{self.broker.url}: {problem}"
        self._down_since = time.monotonic()
        self.log.warning("Connection to %s lost: %s; reconnecting", self.broker.url, problem)
        stable = self._down_since - self._up_since >= STABLE_SECONDS
        if stable:
            self._backoff.reset()
        self._delay = 0.0 if stable else self._backoff.next_delay()

    def _close_session(self) -> None:
        if self.connected.is_set():
            self.client.disconnect()
            deadline = time.monotonic() + 2.0
            while self.client.want_write() and time.monotonic() < deadline:
                if self.client.loop(0.05):
                    break
        self.connected.clear()
        self._closed.set()

    # -- paho callbacks, in the loop thread
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            self._refused = f"refused by the broker: {reason}"
            return
        self.connects += 1
        self.connected.set()
        if self.on_connected is not None:
            self.on_connected(bool(flags.session_present))

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        if getattr(flags, "is_disconnect_packet_from_server", False) and not self._refused:
            self._refused = f"disconnected by the broker: {reason}"

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if self.on_message is not None:
            self.on_message(message)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any,
                    properties: Any) -> None:
        if self.on_publish is not None:
            self.on_publish(mid, str(reason) if reason.is_failure else "")


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return f"{type(err).__name__}: {text}"[:300] if isinstance(err, OSError) else text[:300]
