"""The ingest worker: acknowledges only what the outputs took, in order; when they refuse, it
holds the messages and retries with backoff (no hot loop, no ack, nothing dropped)."""

from __future__ import annotations

import logging
import threading
from typing import List, NamedTuple

from agent.inputs.mqtt_consumer.ingest import Ingest
from agent.lineprotocol.metric import Metric
from agent.plugin.base import NotStored
from tests.delivery_helpers import wait_until


class Message(NamedTuple):
    topic: str
    payload: bytes
    qos: int
    mid: int


class RefusingTwice:
    """An accumulator whose outputs are full for the first two attempts."""

    def __init__(self) -> None:
        self.attempts = 0
        self.stored: List[Metric] = []
        self.lock = threading.Lock()

    def add_metrics(self, metrics) -> None:
        with self.lock:
            self.attempts += 1
            if self.attempts <= 2:
                raise NotStored("buffer full", retry_after=0.05)
            self.stored += metrics


def test_refused_metrics_are_held_unacknowledged_then_stored_and_acked_in_order():
    accumulator, acks = RefusingTwice(), []
    ingest = Ingest(lambda m: [Metric("m", {"v": m.mid}, time=m.mid)], accumulator,
                    lambda mid, qos: acks.append((mid, qos)), 100, logging.getLogger("t"))
    for mid in range(1, 6):
        ingest.offer(Message("t", b"x", 1 + mid % 2, mid))
    ingest.start()
    try:
        assert wait_until(lambda: len(acks) == 5, 10)
    finally:
        ingest.stop()
    assert accumulator.attempts == 3  # two refusals, backed off, then one store of all five
    assert [mid for mid, _ in acks] == [1, 2, 3, 4, 5]
    assert [m.fields["v"] for m in accumulator.stored] == [1, 2, 3, 4, 5]
    assert ingest.stats.store_retries == 2 and ingest.stats.messages_acked == 5


def test_at_stop_what_the_outputs_never_took_stays_unacknowledged():
    class Full:
        attempts = 0

        def add_metrics(self, metrics) -> None:
            Full.attempts += 1
            raise NotStored("disk full", temporary=False)

    acks = []
    ingest = Ingest(lambda m: [Metric("m", {"v": 1})], Full(), lambda *a: acks.append(a), 10,
                    logging.getLogger("t"))
    ingest.offer(Message("t", b"x", 1, 7))
    ingest.start()
    assert wait_until(lambda: Full.attempts >= 1, 5)
    ingest.drain(0.3)
    ingest.stop()
    assert acks == [] and 1 <= Full.attempts <= 3  # backed off: no hot loop


def test_a_rejected_message_is_counted_and_acknowledged_with_the_rest():
    stored, acks = [], []

    class Accumulator:
        def add_metrics(self, metrics) -> None:
            stored.extend(metrics)

    def to_metrics(message):
        if message.payload == b"bad":
            raise ValueError("not line protocol")
        return [Metric("m", {"v": message.mid})]

    ingest = Ingest(to_metrics, Accumulator(), lambda mid, qos: acks.append(mid), 10,
                    logging.getLogger("t"))
    for mid, payload in ((1, b"ok"), (2, b"bad"), (3, b"ok")):
        ingest.offer(Message("t", payload, 1, mid))
    ingest.start()
    try:
        assert wait_until(lambda: len(acks) == 3, 5)
    finally:
        ingest.stop()
    assert acks == [1, 2, 3] and [m.fields["v"] for m in stored] == [1, 3]
    assert ingest.stats.messages_rejected == 1
