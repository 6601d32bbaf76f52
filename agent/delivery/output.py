"""Base of the network outputs: metrics are serialized into the output's spool at once (so a
gather never waits on the network) and a Writer delivers them."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

from agent.delivery import owners
from agent.delivery.deadletter import DeadLetters
from agent.delivery.redact import Redactor
from agent.delivery.room import RoomReport
from agent.delivery.settings import DeliverySettings
from agent.delivery.spool import MemorySpool, Spool
from agent.delivery.sqlite_file import StorageFull
from agent.delivery.sqlite_spool import SqliteSpool
from agent.delivery.transport import Transport
from agent.delivery.writer import Writer
from agent.lineprotocol.metric import Metric
from agent.lineprotocol.serializer import Serializer
from agent.plugin.base import BufferedOutput, NotStored

MEMORY_ONLY = DeliverySettings(None, 1000, 10000, 10.0, 0.0, 10.0)
_AUTH_HEADERS = ("authorization", "token", "key", "secret", "cookie", "password")


class SpooledOutput(BufferedOutput):
    influx_uint_support: bool
    timeout: float
    http_headers: Dict[str, str]
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
        self._left_at_close = 0  # what close() left in the spool (run --once reports it)
        self.room = RoomReport(self.log)

    # What subclasses provide.
    def identity(self) -> str:
        """The destination (URLs, bucket/database): one spool per destination."""
        raise NotImplementedError

    def make_transport(self) -> Transport:
        raise NotImplementedError

    def secrets(self) -> List[str]:
        """Every secret a server could echo: secret options and auth-like header values."""
        found = [str(getattr(self, o.name)) for o in self.options if o.secret]
        headers = getattr(self, "http_headers", None) or {}
        found += [v for k, v in headers.items() if any(a in k.lower() for a in _AUTH_HEADERS)]
        return found

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
        settings, identity = self.settings, self.identity()
        self.room.log = self.log  # the engine names the logger after construction
        self.spool, opened = owners.claim(
            settings.spool_key(self.name, identity), settings.directory,
            settings.shutdown_timeout, lambda: self._open_spool(identity))
        try:
            transport = self.make_transport()
        except BaseException:
            owners.release(self.spool)
            self.spool = None
            raise
        if opened and len(self.spool):
            self.log.info("%d metric(s) waiting in %s from before; sending them first",
                          len(self.spool), self.spool.path)
        elif not opened:  # taken over from the agent before a reload: the new sizes apply
            self.spool.limit, self.spool.batch_lines = settings.buffer_limit, settings.batch_size
        self.writer = Writer(
            f"outputs.{self.name}", self.spool, transport, DeadLetters(settings.dead_letter_path),
            settings.batch_size, settings.flush_interval, settings.flush_jitter, self.log,
            settings.retry_max_interval, redact=Redactor(self.secrets()),
            stall_after=2 * self.timeout + 30.0)
        self.writer.start()

    def _open_spool(self, identity: str) -> Spool:
        settings = self.settings
        path = settings.spool_path(self.name, identity)
        if path is None:
            return MemorySpool(settings.buffer_limit, settings.batch_size)
        return SqliteSpool(path, settings.buffer_limit, settings.batch_size, self.log)

    def write(self, metrics: Sequence[Metric]) -> None:
        for key, lines in self._serialize(metrics).items():
            try:
                self._put(self.spool.put, (lines, key), len(lines))
            except StorageFull as full:
                self.room.dropped_for_room(full, len(lines), len(self.spool))

    def _serialize(self, metrics: Sequence[Metric]) -> Dict[str, List[str]]:
        """Lines per spool key (the routing tag's value)."""
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
        return groups

    def _put(self, put: Callable[..., int], args: tuple, count: int) -> None:
        dropped = put(*args)
        self.room.stored()
        self._note_drops(dropped)
        self.writer.added(count)

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
        """Lines not delivered: in the spool now, or left in it when the output closed."""
        return len(self.spool) if self.spool is not None else self._left_at_close

    @property
    def durable(self) -> bool:
        return self.settings.directory is not None

    def store(self, metrics: Sequence[Metric]) -> None:
        """write(), but refused (NotStored) instead of dropping lines: when the buffer is full
        (temporary) or the disk is (the storage failed); nothing is counted as dropped."""
        refusal = self.full(len(metrics))
        if refusal is not None:
            raise refusal
        try:
            for key, lines in self._serialize(metrics).items():
                self._put(self.spool.put, (lines, key), len(lines))
        except StorageFull as full:
            raise NotStored(str(full), temporary=False) from full

    def full(self, count: int) -> Optional[NotStored]:
        if self.spool is None or self.writer is None:
            return NotStored("not running", temporary=False)
        if len(self.spool) + count > self.spool.limit:
            return NotStored(f"buffer full (metric_buffer_limit = {self.spool.limit})",
                             retry_after=self.settings.flush_interval)
        return None

    def takes_raw_lines(self) -> bool:
        """Lines can be spooled as given when nothing routes by tag or rewrites uints."""
        return not self.route_tag

    def write_lines(self, lines: List[str]) -> None:
        """Spool already-encoded, validated lines (each ending in a newline): `agent write`.
        Raises StorageFull when the disk has no room (nothing of them is spooled)."""
        self._put(self.spool.put, (lines,), len(lines))

    def write_text(self, text: str, count: int) -> None:
        """Spool count validated lines given as one text, every newline ending a line."""
        self._put(self.spool.put_text, (text, count), count)

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
        """Stop the writer and let go of the spool. A spool another output of this process
        still uses (a reload's new agent) is left to its writer: no flush here."""
        if self.writer is not None:
            shared = owners.users(self.spool) > 1
            flush = 0.0 if self._flushed or shared else self.settings.shutdown_timeout
            self.writer.stop(flush, join=self.timeout + 1.0 if shared else 1.0)
            if self.writer.stopped:
                self.writer.transport.close()
            self.writer = None
        if self.spool is not None:
            self._left_at_close = len(self.spool)
            owners.release(self.spool)
            self.spool = None
        self.room.close()

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
            "metrics_dropped": self.spool.dropped + self.room.dropped,
            "metrics_written": stats.metrics_written,
            "write_time_ns": stats.write_time_ns,
        }
