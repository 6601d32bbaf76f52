"""From received message to acknowledged message: the consumer's supervised ingest worker.

The connection's loop thread only queues messages (blocking when max_undelivered_messages are
waiting: the broker then waits too). The worker takes what is queued, in order, turns payloads
into metrics, hands them to the accumulator (which returns once every output has them in its
buffer: on disk with the disk buffer) and only then acknowledges the messages to the broker,
in the order they came. Messages that cannot become metrics (bad payload, too large, a topic
field that does not convert) are logged in one line, counted and acknowledged: nothing else of
theirs can be kept.

When an output cannot take them (NotStored: buffer full, disk failing) nothing is
acknowledged: the worker keeps the batch, stops taking messages and tries again after a
jittered backoff (the output's Retry-After when it gives one), so it neither spins nor drops;
the broker holds back the rest meanwhile. At shutdown, whatever is not stored stays
unacknowledged: with a persistent session and QoS >= 1 the broker delivers it again.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Dict, List

from agent.lineprotocol.metric import Metric
from agent.plugin.base import Accumulator, NotStored
from agent.system.backoff import Backoff
from agent.system.worker import Worker

TAKE_AT_ONCE = 500  # messages per store: one commit per output for all of them
STORE_CHUNK = 1000  # metrics per add_metrics call, below any sane metric_buffer_limit


class Stats:
    """internal_mqtt_consumer: Telegraf's two counters, and ours."""

    def __init__(self) -> None:
        self.messages_received = 0
        self.payload_size = 0
        self.messages_acked = 0
        self.messages_rejected = 0  # bad payload, too large, topic parsing failed
        self.parse_errors = 0  # invalid lines within payloads
        self.store_retries = 0

    def as_dict(self) -> Dict[str, int]:
        return dict(vars(self))


class Ingest:
    def __init__(self, to_metrics: Callable[[Any], List[Metric]], accumulator: Accumulator,
                 ack: Callable[[int, int], None], limit: int, log: Any) -> None:
        self.to_metrics = to_metrics  # message -> metrics; ValueError rejects the message
        self.accumulator = accumulator
        self.ack = ack
        self.log = log
        self.stats = Stats()
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, limit))
        self.accepting = threading.Event()
        self.accepting.set()
        self.idle = threading.Event()
        self.backoff = Backoff(first=0.5, cap=30.0, jitter=True)
        self._refused_since = False
        self._busy = False
        self.worker = Worker("inputs.mqtt_consumer ingest", self._run, logger=log,
                             stall_after=None)

    def start(self) -> None:
        self.worker.start()

    def offer(self, message: Any) -> None:
        """In the connection's loop thread: queue, waiting while the queue is full."""
        self.stats.messages_received += 1
        self.stats.payload_size += len(message.payload)
        while self.accepting.is_set():
            try:
                self.queue.put(message, timeout=0.2)
                return
            except queue.Full:
                continue
        # Shutting down: left unacknowledged, for the broker to deliver again.

    def drain(self, timeout: float) -> None:
        """Stop taking new messages; store and acknowledge the queued ones for up to timeout."""
        self.accepting.clear()
        self.idle.clear()
        if not self.queue.empty() or self._busy:
            self.idle.wait(timeout)

    def stop(self, timeout: float = 1.0) -> None:
        self.accepting.clear()
        self.worker.stop(timeout)

    def _run(self, worker: Worker) -> None:
        while not worker.stopping.is_set():
            worker.beat()
            batch = self._take()
            if batch:
                self._busy = True
                self._handle(batch, worker)
                self._busy = False
            elif not self.accepting.is_set():
                self.idle.set()

    def _take(self) -> List[Any]:
        try:
            batch = [self.queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(batch) < TAKE_AT_ONCE:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _handle(self, batch: List[Any], worker: Worker) -> None:
        metrics: List[Metric] = []
        for message in batch:
            try:
                metrics += self.to_metrics(message)
            except ValueError as err:
                self.stats.messages_rejected += 1
                self.log.error("Dropped message on topic %s: %s", _topic(message),
                               str(err)[:300])
        for start in range(0, len(metrics), STORE_CHUNK):
            if not self._store(metrics[start:start + STORE_CHUNK], worker):
                return  # stopping: not acknowledged, the broker delivers it again
        for message in batch:
            if message.qos > 0:
                self.ack(message.mid, message.qos)
        self.stats.messages_acked += len(batch)

    def _store(self, metrics: List[Metric], worker: Worker) -> bool:
        """True once stored; False only when stopping before the outputs took them."""
        while True:
            try:
                # Copies: a refused attempt must not leave name_prefix & co. applied twice.
                self.accumulator.add_metrics([m.copy() for m in metrics])
            except NotStored as err:
                delay = self.backoff.next_delay(err.retry_after)
                self.stats.store_retries += 1
                if not self._refused_since:
                    self.log.warning("Outputs cannot take %d metric(s) (%s); holding the "
                                     "messages unacknowledged and retrying", len(metrics), err)
                self._refused_since = True
                if worker.stopping.wait(delay):
                    return False
                continue
            if self._refused_since:
                self.log.info("Outputs take metrics again; acknowledging the held messages")
            self._refused_since = False
            self.backoff.reset()
            return True


def _topic(message: Any) -> str:
    try:
        return message.topic
    except UnicodeDecodeError:
        return "(invalid UTF-8)"
