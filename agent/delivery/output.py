"""Base of the network outputs: metrics are serialized into the output's spool at once (so a
gather never waits on the network) and a Writer thread delivers them."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from agent.delivery.deadletter import DeadLetters
from agent.delivery.settings import DeliverySettings
from agent.delivery.spool import Spool
from agent.delivery.writer import Transport, Writer
from agent.lineprotocol.metric import Metric
from agent.lineprotocol.serializer import Serializer
from agent.plugin.base import BufferedOutput, NotStored

MEMORY_ONLY = DeliverySettings(None, 1000, 10000, 10.0, 0.0, 10.0)


class SpooledOutput(BufferedOutput):
    influx_uint_support: bool
    # The options that route a metric by one of its tags, e.g. ("bucket_tag",
    # "exclude_bucket_tag"): the tag's value picks the bucket/database.
    route_options = ("", "")

    def __init__(self, delivery: Optional[DeliverySettings] = None, **options: object) -> None:
        super().__init__(**options)
        self.settings = delivery or MEMORY_ONLY
        self.serializer = Serializer(uint_support=self.influx_uint_support)
        self.spool: Optional[Spool] = None
        self.writer: Optional[Writer] = None
        self._dropping = False
        self._flushed = False

    # What subclasses provide.
    def identity(self) -> str:
        """The destination (URLs, bucket/database): one spool per destination."""
        raise NotImplementedError

    def make_transport(self) -> Transport:
        raise NotImplementedError

    @property
    def route_tag(self) -> str:
        return getattr(self, self.route_options[0], "") if self.route_options[0] else ""

    def route(self, metric: Metric) -> str:
        """The spool key for a metric (its bucket/database); "" for the default destination."""
        tag = self.route_tag
        return metric.tags.get(tag, "") if tag else ""

    @property
    def excluded_tag(self) -> str:
        """The routing tag when it is to be left out of the written line."""
        exclude = self.route_options[1] and getattr(self, self.route_options[1], False)
        return self.route_tag if exclude else ""

    def connect(self) -> None:
        settings = self.settings
        self.spool = Spool(settings.spool_path(self.name, self.identity()), settings.buffer_limit,
                           settings.batch_size)
        if len(self.spool):
            self.log.info("%d metric(s) waiting in %s from before; sending them first",
                          len(self.spool), self.spool.path)
        self.writer = Writer(
            f"outputs.{self.name}", self.spool, self.make_transport(),
            DeadLetters(settings.dead_letter_path), settings.batch_size,
            settings.flush_interval, settings.flush_jitter, self.log,
            settings.retry_max_interval,
        )
        self.writer.start()

    def write(self, metrics: Sequence[Metric]) -> None:
        groups: Dict[str, List[str]] = {}
        serialize = self.serializer.serialize
        excluded = self.excluded_tag
        for metric in metrics:
            key = self.route(metric)
            if excluded and excluded in metric.tags:
                metric = metric.copy()  # shared with other outputs: never edit in place
                del metric.tags[excluded]
            line = serialize(metric)
            if line:
                groups.setdefault(key, []).append(line)
        for key, lines in groups.items():
            self._note_drops(self.spool.put(lines, key))
            self.writer.added(len(lines))

    @property
    def batch_size(self) -> int:  # type: ignore[override]
        return self.settings.batch_size

    @property
    def buffer_limit(self) -> int:  # type: ignore[override]
        return self.settings.buffer_limit

    @property
    def dead_letter_count(self) -> int:
        return self.writer.dead_letters.count if self.writer else 0

    def undelivered(self) -> int:
        return len(self.spool) if self.spool is not None else 0

    @property
    def durable(self) -> bool:
        return self.settings.directory is not None

    def store(self, metrics: Sequence[Metric]) -> None:
        """write(), but refused (NotStored) instead of dropping old lines when full."""
        refusal = self.full(len(metrics))
        if refusal is not None:
            raise refusal
        self.write(metrics)

    def full(self, count: int) -> Optional[NotStored]:
        if self.spool is None or self.writer is None:
            return NotStored(f"{self.name}: not running", temporary=False)
        if len(self.spool) + count > self.spool.limit:
            return NotStored(f"{self.name}: buffer full (metric_buffer_limit = "
                             f"{self.spool.limit})", retry_after=self.settings.flush_interval)
        return None

    def takes_raw_lines(self) -> bool:
        """Lines can be spooled as given when nothing routes by tag or rewrites uints."""
        return not self.route_tag

    def write_lines(self, lines: List[str]) -> None:
        """Spool already-encoded, validated lines (each ending in a newline): `agent write`."""
        self._note_drops(self.spool.put(lines))
        self.writer.added(len(lines))

    def write_text(self, text: str, count: int) -> None:
        """Spool count validated lines given as one text, every newline ending a line."""
        self._note_drops(self.spool.put_text(text, count))
        self.writer.added(count)

    def wait_for_room(self, count: int, timeout: float) -> bool:
        """Block until count more lines fit without dropping any (`agent write` has all the
        time in the world; a gather has not). False when the writer did not make room."""
        return self.writer.wait_for_room(count, timeout) if self.writer else True

    def _note_drops(self, dropped: int) -> None:
        """Log once per burst of drops, not once per write."""
        if dropped and not self._dropping:
            self.log.warning("Buffer full (metric_buffer_limit = %d): dropping the oldest "
                             "metrics", self.settings.buffer_limit)
        self._dropping = bool(dropped)

    def flush(self, timeout: float) -> bool:
        """Deliver now for at most timeout; a later close() then does not wait again."""
        self._flushed = True
        return self.writer.flush(timeout) if self.writer else True

    def close(self) -> None:
        if self.writer is not None:
            self.writer.stop(0.0 if self._flushed else self.settings.shutdown_timeout)
            self.writer.transport.close()
            self.writer = None
        if self.spool is not None:
            self.spool.close()

    def write_stats(self) -> Dict[str, int]:
        """internal_write fields for inputs.internal."""
        if self.writer is None or self.spool is None:
            return {}
        stats = self.writer.stats
        return {
            "buffer_limit": self.settings.buffer_limit,
            "buffer_size": len(self.spool),
            "dead_letters": self.writer.dead_letters.count,
            "errors": stats.errors,
            "metrics_added": stats.metrics_added,
            "metrics_dropped": self.spool.dropped,
            "metrics_written": stats.metrics_written,
            "write_time_ns": stats.write_time_ns,
        }
