"""The Writer's transport for outputs.mqtt: a body of spooled lines becomes messages (per the
layout) published on one topic, and send() answers OK only once the broker acknowledged every
one of them: PUBACK at QoS 1, PUBCOMP at QoS 2. At QoS 0 there is no acknowledgement: OK means
every message was written to the broker's TCP connection.

Not connected, or no acknowledgement for `timeout`: RETRY, and the Writer sends the same lines
again after its backoff. A message that the client still holds from the failed attempt (QoS 1/2:
it resends it itself after reconnecting) is awaited again instead of published a second time,
so an outage does not double what was in flight.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Deque, Dict, List, Tuple

from agent.common.mqtt.connection import Connection
from agent.delivery.policy import AUTH, OK, REJECT, RETRY, Outcome
from agent.outputs.mqtt.layout import Message, messages
from agent.outputs.mqtt.properties import publish_properties

# MQTT 5 PUBACK/PUBREC reasons that no retry can fix (the message itself is wrong).
_REJECTED = {"Topic Name invalid", "Packet too large", "Payload format invalid"}
_AUTH = {"Not authorized"}


class MQTTTransport:
    def __init__(self, output: Any, connection: Connection) -> None:
        self.output = output
        self.connection = connection
        connection.on_publish = self._acknowledged
        self.qos = output.qos
        self.properties = publish_properties(output.v5) if output.protocol == "5" else None
        self._pending: Dict[Message, Deque[Any]] = {}
        self._refusals: Dict[int, str] = {}
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return self.connection.broker.url

    def send(self, key: str, body: str) -> Outcome:
        if not self.connection.connected.is_set():
            return Outcome(RETRY, 0, f"not connected ({self.connection.last_error})")
        try:
            batch = messages(self.output.layout, key, body)
        except ValueError as err:
            return Outcome(REJECT, 0, str(err))
        sent = [(message, self._publish(message)) for message in batch]
        return self._confirm(sent)

    def _publish(self, message: Message) -> Any:
        with self._lock:
            waiting = self._pending.get(message)
            if waiting:
                info = waiting.popleft()
                if not waiting:
                    del self._pending[message]
                return info
        topic, payload = message
        return self.connection.publish(topic, payload, self.qos, self.output.retain,
                                       self.properties)

    def _confirm(self, sent: List[Tuple[Message, Any]]) -> Outcome:
        """OK when every message was acknowledged; otherwise the first problem. The clock
        restarts with every acknowledgement: `timeout` bounds the wait for one, not for all."""
        timeout = self.output.timeout
        for index, (_message, info) in enumerate(sent):
            if not _wait(info, timeout, self.connection, self.qos):
                self._keep_pending(sent[index:])
                what = "connection lost" if not self.connection.connected.is_set() else \
                    f"no acknowledgement within {timeout:g}s"
                return Outcome(RETRY, 0, f"{what} ({len(sent) - index} of {len(sent)} "
                                         "message(s) unconfirmed)")
            refusal = self._refusals.pop(info.mid, "") if self._refusals else ""
            if refusal:
                self._keep_pending(sent[index + 1:])
                kind = REJECT if refusal in _REJECTED else AUTH if refusal in _AUTH else RETRY
                return Outcome(kind, 0, f"broker refused the message: {refusal}")
        return Outcome(OK)

    def _keep_pending(self, unconfirmed: List[Tuple[Message, Any]]) -> None:
        """What the client still holds (QoS 1/2), to be awaited when the lines come again."""
        if self.qos == 0:
            return
        with self._lock:
            for message, info in unconfirmed:
                if not _done(info):
                    self._pending.setdefault(message, collections.deque()).append(info)

    def _acknowledged(self, mid: int, refusal: str) -> None:
        """PUBACK/PUBCOMP (or at QoS 0 the write) of mid, in the loop thread; a refusal is
        MQTT 5's reason code >= 0x80."""
        if refusal:
            self._refusals[mid] = refusal

    def close(self) -> None:
        self.connection.stop()


def _done(info: Any) -> bool:
    # paho sets _published when PUBACK/PUBCOMP arrives (QoS 0: when written, or lost on a
    # reconnect); is_published() raises instead for a message queued while disconnected.
    return bool(info._published)


def _wait(info: Any, timeout: float, connection: Connection, qos: int) -> bool:
    """True once the message is acknowledged (QoS 0: written without error)."""
    deadline = time.monotonic() + timeout
    while not _done(info):
        if time.monotonic() >= deadline or not connection.connected.is_set():
            return False
        with info._condition:
            info._condition.wait(0.05)
    # QoS 1/2: done means acknowledged (rc may still say it was queued while disconnected);
    # QoS 0: rc says whether it was written or lost with the connection.
    return qos > 0 or info.rc == 0
