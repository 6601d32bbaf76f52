"""The kinds of plugin, with every hook each kind may have, and the options every plugin of a
kind accepts. The engine calls only what is declared here: no getattr probing.

- Input: gather() on a schedule (mem, postgresql, internal).
- ServiceInput: reads in the background and hands metrics over as they come (serial, listeners,
  MQTT consumers); start() is given an Accumulator.
- Output: write() metrics (file).
- BufferedOutput: an Output whose metrics wait in a buffer (the spool) drained by its own
  writer: store() with acknowledgement, flush(), stats (influxdb, influxdb_v2, mqtt).
- Aggregator: add() metrics, push() summaries per period, reset() (basicstats, minmax).
"""

from __future__ import annotations

import copy
import logging
from typing import Any, ClassVar, Dict, Iterable, List, Optional, Protocol, Sequence, Tuple

from agent.lineprotocol.metric import Metric
from agent.plugin.options import Option

_GLOBS = "a list of glob patterns"

FILTER_OPTIONS: Tuple[Option, ...] = (
    Option("namepass", "str_list", None, f"keep only metrics whose name matches ({_GLOBS})"),
    Option("namedrop", "str_list", None, f"drop metrics whose name matches ({_GLOBS})"),
    Option("fieldinclude", "str_list", None, f"keep only these fields ({_GLOBS})"),
    Option("fieldexclude", "str_list", None, f"drop these fields ({_GLOBS})"),
    Option("fieldpass", "str_list", None, "old name of fieldinclude"),
    Option("fielddrop", "str_list", None, "old name of fieldexclude"),
    Option("taginclude", "str_list", None, f"keep only these tags ({_GLOBS})"),
    Option("tagexclude", "str_list", None, f"drop these tags ({_GLOBS})"),
    Option("tagpass", "tag_filter", None, "keep metrics with a tag matching: {tag = [globs]}"),
    Option("tagdrop", "tag_filter", None, "drop metrics with a tag matching: {tag = [globs]}"),
)

_MS = 0.001
# As in Telegraf, a plugin's 0 (or "") leaves the [agent] setting in force.
_AGENTS = dict(empty_is_default=True)

COMMON_INPUT_OPTIONS: Tuple[Option, ...] = (
    Option("interval", "duration", None, "gather interval; overrides [agent] interval",
           minimum=_MS, **_AGENTS),
    Option("precision", "duration", None, "timestamp rounding; overrides [agent] precision"),
    Option("collection_jitter", "duration", None, "random delay before each gather"),
    Option("collection_offset", "duration", None, "fixed delay after each interval boundary"),
    Option("name_override", "str", None, "replace the measurement name"),
    Option("name_prefix", "str", None, "prefix the measurement name"),
    Option("name_suffix", "str", None, "suffix the measurement name"),
    Option("alias", "str", None, "name this instance in logs"),
    Option("tags", "str_map", None, "extra tags for this input's metrics"),
    *FILTER_OPTIONS,
)

COMMON_AGGREGATOR_OPTIONS: Tuple[Option, ...] = (
    Option("period", "duration", 30.0, "window length; windows are aligned to the clock "
           "(\"24h\" ends at UTC midnight)", minimum=0.001),
    Option("delay", "duration", 0.1, "also take metrics stamped up to this long after the end"),
    Option("grace", "duration", 0.0, "also take metrics stamped up to this long before the "
           "start (late ones), into the open window"),
    Option("drop_original", "bool", False, "do not send the metrics this aggregator takes to "
           "the outputs"),
    Option("name_override", "str", None, "replace the name of the pushed metrics"),
    Option("name_prefix", "str", None, "prefix the name of the pushed metrics"),
    Option("name_suffix", "str", None, "suffix the name of the pushed metrics"),
    Option("alias", "str", None, "name this instance in logs"),
    Option("tags", "str_map", None, "extra tags for the pushed metrics"),
    Option("max_series", "int", 10_000, "agent only (not in Telegraf): series kept per "
           "window; metrics of further series are refused and counted", minimum=1),
    *FILTER_OPTIONS,
)

COMMON_OUTPUT_OPTIONS: Tuple[Option, ...] = (
    Option("alias", "str", None, "name this instance in logs"),
    Option("metric_batch_size", "int", None, "overrides [agent] metric_batch_size", minimum=1,
           maximum=1_000_000, **_AGENTS),
    Option("metric_buffer_limit", "int", None, "overrides [agent] metric_buffer_limit", minimum=1,
           maximum=1_000_000_000, **_AGENTS),
    Option("flush_interval", "duration", None, "overrides [agent] flush_interval",
           minimum=_MS, **_AGENTS),
    Option("flush_jitter", "duration", None, "overrides [agent] flush_jitter"),
    *FILTER_OPTIONS,
)


class Plugin:
    """What every plugin has: a name, an option schema, a logger. Its description, sample
    config and documentation are files of its folder (sample.conf, README.md), as Telegraf's."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    options: ClassVar[Tuple[Option, ...]] = ()
    # (module, extra): what it imports when it runs, and the distribution's extra that
    # installs it; `agent check` names the extra when the module is missing.
    requires: ClassVar[Tuple[Tuple[str, str], ...]] = ()

    log: logging.Logger | logging.LoggerAdapter

    def __init__(self, **options: object) -> None:
        for option in self.options:
            # A copy: a mutable default ([] or {}) must never be shared between instances.
            value = options[option.name] if option.name in options else copy.deepcopy(
                option.default)
            setattr(self, option.name, value)
        self.log = logging.getLogger(f"agent.{self.kind}.{self.name}")

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> Iterable[Tuple[str, str]]:
        """(key, problem) for option values that are each valid but do not work together;
        called by config validation (`agent check`), before anything runs."""
        return ()


class Input(Plugin):
    """gather() returns metrics; raise for total failure, log and return what it has otherwise."""

    kind = "inputs"

    def bind(self, agent: Any) -> None:
        """Given the running agent before start(); inputs.internal reads its counters."""

    def start(self) -> None:
        """Open connections; called once before the first gather."""

    def gather(self) -> List[Metric]:
        raise NotImplementedError

    def stop(self) -> None:
        """Release what start() took."""

    def stats(self) -> Dict[str, int]:
        """Counters of its own, reported by inputs.internal as internal_<name>; {} for none."""
        return {}


class NotStored(Exception):
    """Metrics could not be put in every output's buffer: nothing may be acknowledged.

    temporary: retrying later may work (a full buffer: HTTP 429 with Retry-After); otherwise
    the storage itself failed (a full disk, a dead writer: HTTP 503)."""

    def __init__(self, message: str, temporary: bool = True,
                 retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.retry_after = retry_after


class Accumulator(Protocol):
    """What a service input hands its metrics to (the engine provides it)."""

    def add_metrics(self, metrics: Sequence[Metric]) -> None:
        """Tag, filter and stamp the metrics like gathered ones, and put them in every output's
        buffer (aggregators see them too). Returns once they are stored (on disk with the disk
        buffer); raises NotStored when any output could not take them."""

    def undelivered(self) -> int:
        """Metrics waiting in the fullest output buffer, not yet delivered (a listener's
        max_undelivered_metrics)."""

    def line_tags(self) -> Optional[Dict[str, str]]:
        """When line protocol can be stored as received (no rename, filter, precision, every
        output buffering lines as given, as `agent write` does): the tags decoration adds to a
        line that does not have them (plugin, global, host). None: use add_metrics()."""

    def add_text(self, text: str, count: int) -> None:
        """add_metrics() for count valid, plain lines in one text (every newline ends a line)
        that already carry line_tags(): stored in every output as they are."""


class ServiceInput(Input):
    """Reads in the background (a serial port, an HTTP listener, an MQTT subscription).

    Its metrics carry their own timestamps (precision is applied only when the input sets it).
    It may hand metrics over as they come through the accumulator, or keep them for gather();
    after stop() the engine gathers once more, so nothing read is left behind."""

    def start(self, accumulator: Optional[Accumulator] = None) -> None:  # type: ignore[override]
        """Start reading; `accumulator` takes metrics as they come."""

    def gather(self) -> List[Metric]:
        return []


class Output(Plugin):
    """write() takes metrics; it must not block a gather on the network."""

    kind = "outputs"

    def connect(self) -> None:
        """Open files or clients; called once before the first write."""

    def write(self, metrics: Sequence[Metric]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Flush what is pending and release resources."""


class BufferedOutput(Output):
    """An output whose metrics wait in a buffer (durable with the disk strategy) and are
    delivered by its own writer. write() may drop the oldest when the buffer is full (counted);
    store() never drops: it raises NotStored instead."""

    def store(self, metrics: Sequence[Metric]) -> None:
        raise NotImplementedError

    def full(self, count: int) -> Optional[NotStored]:
        """None when store() would take count more metrics now; else the NotStored it would
        raise (checked for every output before a request is stored in any)."""
        return None

    def flush(self, timeout: float) -> bool:
        """Deliver now for at most timeout seconds; True when nothing is left undelivered."""
        raise NotImplementedError

    def write_stats(self) -> Dict[str, int]:
        """internal_write fields for inputs.internal."""
        return {}

    # How much it holds: `agent write` reads about a batch at a time and waits for room.
    batch_size: int
    buffer_limit: int

    @property
    def dead_letter_count(self) -> int:
        """Lines the server refused for good (moved to the dead-letter file)."""
        return 0

    def undelivered(self) -> int:
        """Metrics it holds that no server has acknowledged yet (after close(): those left)."""
        return 0

    @property
    def durable(self) -> bool:
        """True when what it holds survives a restart (the disk buffer)."""
        return False

    # `agent write`: validated line protocol, spooled as given.
    def takes_raw_lines(self) -> bool:
        """True when lines can be buffered as given (nothing routes by tag or rewrites)."""
        return False

    def write_lines(self, lines: List[str]) -> None:
        """Buffer encoded, validated lines, each ending in a newline."""
        raise NotImplementedError

    def write_text(self, text: str, count: int) -> None:
        """Buffer count validated lines given as one text, every newline ending a line."""
        raise NotImplementedError

    def wait_for_room(self, count: int, timeout: float) -> bool:
        """Block until count more lines fit without dropping any; False after timeout."""
        raise NotImplementedError


class Aggregator(Plugin):
    """Telegraf's aggregator: add() every metric of a period, push() the summaries at its end,
    then reset(). state()/restore() carry an open period across a restart.

    The engine sets max_series (the common option) before the first add(); metrics of series
    beyond it are not kept and are counted in `refused` until reset()."""

    kind = "aggregators"
    max_series: int = 10_000
    refused: int = 0

    def add(self, metric: Metric) -> None:
        raise NotImplementedError

    def add_many(self, metrics: Sequence[Metric]) -> None:
        """add() each, in order; plugins may do it faster for a batch."""
        for metric in metrics:
            self.add(metric)

    def push(self) -> List[Metric]:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def state(self) -> Any:
        """The open period's partial state as JSON-able data (None: nothing to keep)."""
        return None

    def restore(self, state: Any) -> None:
        """Take back what state() returned, before the first add()."""

    @property
    def series_count(self) -> int:
        """Series in the open period (for logs)."""
        return 0
