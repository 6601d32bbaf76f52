"""The [agent] table: Telegraf's keys that this agent uses, and those it accepts unused."""

from __future__ import annotations

from typing import Tuple

from agent.plugin.options import Option

MS = 0.001
# A request carries at most this many lines; the memory buffer holds at most BUFFER_MAX.
BATCH_MAX = 1_000_000
BUFFER_MAX = 1_000_000_000

AGENT_OPTIONS: Tuple[Option, ...] = (
    Option("interval", "duration", 10.0, "default gather interval", minimum=MS),
    Option("round_interval", "bool", True, "align gathers to multiples of the interval"),
    Option("collection_jitter", "duration", 0.0, "random delay before each gather"),
    Option("collection_offset", "duration", 0.0, "fixed delay after each interval boundary"),
    Option("flush_interval", "duration", 10.0, "how often outputs send", minimum=MS),
    Option("flush_jitter", "duration", 0.0, "random delay added to each flush"),
    Option("metric_batch_size", "int", 1000, "metrics per write request", minimum=1,
           maximum=BATCH_MAX),
    Option("metric_buffer_limit", "int", 10000, "metrics kept per output when it is down",
           minimum=1, maximum=BUFFER_MAX),
    Option("precision", "duration", 0.0, "round timestamps to this; 0 = by interval"),
    Option("hostname", "line", "", "the host tag; empty = the system's hostname"),
    Option("omit_hostname", "bool", False, "add no host tag"),
    Option("debug", "bool", False, "log debug messages"),
    Option("quiet", "bool", False, "log errors only"),
    Option("buffer_strategy", "str", "", "disk or memory; default disk when writable",
           choices=("", "disk", "memory")),
    Option("buffer_directory", "str", "", "where disk buffers live"),
    Option("retry_max_interval", "duration", 300.0,
           "longest wait between retries of a failing write (exponential backoff cap)",
           minimum=MS),
    Option("shutdown_timeout", "duration", 10.0,
           "how long to keep delivering at shutdown; the rest stays in the disk buffer"),
)
# Telegraf [agent] keys that a shared config may carry; accepted, with a warning, and unused.
IGNORED_AGENT_KEYS = frozenset({
    "logfile", "logtarget", "logformat", "logfile_rotation_interval", "logfile_rotation_max_size",
    "logfile_rotation_max_archives", "log_with_timezone", "log_level", "snmp_translator",
    "statefile", "always_include_local_tags", "always_include_global_tags",
    "skip_processors_after_aggregators", "utc", "buffer_flush_interval",
})
