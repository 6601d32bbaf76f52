"""A configured plugin instance with what Telegraf wraps around it (models/running_*.go):
name overrides, plugin/global/host tags, filters, timestamp precision, error isolation."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from agent.config.model import Config, PluginConfig
from agent.delivery.sqlite_file import StorageFull
from agent.engine.filters import Filter
from agent.engine.selfstats import GatherStats
from agent.lineprotocol.metric import Metric
from agent.plugin import registry
from agent.plugin.base import BufferedOutput, Input, NotStored, Output, ServiceInput

NS = 1_000_000_000


def rename(metric: Metric, common: Dict[str, Any]) -> None:
    """name_override, then name_prefix and name_suffix (an input's or an aggregator's)."""
    if common["name_override"]:
        metric.name = common["name_override"]
    if common["name_prefix"]:
        metric.name = common["name_prefix"] + metric.name
    if common["name_suffix"]:
        metric.name = metric.name + common["name_suffix"]


def plugin_logger(pconf: PluginConfig) -> logging.LoggerAdapter:
    logger = logging.getLogger(f"agent.{pconf.kind}.{pconf.name}")
    return logging.LoggerAdapter(logger, {"plugin": pconf.label})


def precision_for(precision: float, interval: float) -> int:
    """Telegraf's getPrecision in ns: the set precision, else 1s/1ms/1us/1ns by interval."""
    if precision > 0:
        return max(1, round(precision * NS))
    for step in (1.0, 1e-3, 1e-6):
        if interval >= step:
            return round(step * NS)
    return 1


def round_ns(timestamp: int, precision: int) -> int:
    """Go's time.Round: to the nearest multiple, halves away from zero."""
    if precision <= 1:
        return timestamp
    half = precision // 2
    if timestamp >= 0:
        return (timestamp + half) // precision * precision
    return -((-timestamp + half) // precision * precision)


class RunningInput:
    def __init__(self, pconf: PluginConfig, config: Config, host: Optional[str],
                 **boundary: object) -> None:
        self.config = pconf
        self.label = pconf.label
        self.plugin: Input = registry.load("inputs", pconf.name)(**boundary, **pconf.options)
        self.plugin.log = self.log = plugin_logger(pconf)
        common, agent = pconf.common, config.agent
        self.interval: float = common["interval"] or agent["interval"]
        self.jitter: float = (common["collection_jitter"] if common["collection_jitter"]
                              is not None else agent["collection_jitter"])
        self.offset: float = common["collection_offset"] or agent["collection_offset"]
        own_precision = common["precision"] or 0.0
        if isinstance(self.plugin, ServiceInput):
            # Telegraf leaves a service input's own timestamps alone unless it sets precision.
            self.precision = precision_for(own_precision, 0)
        else:
            self.precision = precision_for(own_precision or agent["precision"], self.interval)
        self.tags = dict(common["tags"] or {})
        self.global_tags = dict(config.global_tags)
        if host:
            self.global_tags.setdefault("host", host)
        self.filter = Filter(common)
        self.stats = GatherStats()

    def gather(self) -> List[Metric]:
        """Gather, decorate and return metrics; an exception is logged, never raised."""
        started = time.perf_counter_ns()
        try:
            metrics = self.plugin.gather()
        except Exception as err:  # noqa: BLE001 - one input must never stop the others
            self.stats.errors += 1
            self.log.error("Error in plugin: %s", err)
            self.log.debug("traceback", exc_info=True)
            return []
        finally:
            self.stats.gather_time_ns = time.perf_counter_ns() - started
        return self.take(metrics)

    def line_tags(self) -> Optional[Dict[str, str]]:
        """The tags _decorate() adds, when that is all it does (no rename, no filter, no
        precision rounding); else None."""
        common = self.config.common
        if (common["name_override"] or common["name_prefix"] or common["name_suffix"]
                or self.filter.active or self.precision != 1):
            return None
        return {**self.global_tags, **self.tags}  # the plugin's tags win, as in _decorate

    def take_lines(self, count: int) -> None:
        """Count lines stored as given (line_tags) like gathered metrics."""
        self.stats.metrics_gathered += count

    def take(self, metrics: Sequence[Metric]) -> List[Metric]:
        """Metrics of this input (gathered, or handed over by a service input), with its
        name overrides, tags, filters and precision applied."""
        now = time.time_ns()
        metrics = [m for m in metrics if self._decorate(m, now)]
        self.stats.metrics_gathered += len(metrics)
        return metrics

    def _decorate(self, metric: Metric, now: int) -> bool:
        rename(metric, self.config.common)
        for tags in (self.tags, self.global_tags):
            for key, value in tags.items():
                metric.tags.setdefault(key, value)
        if self.filter.active and not self.filter.apply(metric):
            return False
        metric.time = round_ns(now if metric.time is None else metric.time, self.precision)
        return True


class RunningOutput:
    def __init__(self, pconf: PluginConfig, config: Config, **boundary: object) -> None:
        self.config = pconf
        self.label = pconf.label
        plugin_class = registry.load("outputs", pconf.name)
        if issubclass(plugin_class, BufferedOutput):
            from agent.delivery.settings import delivery_settings  # network outputs only

            boundary.setdefault(
                "delivery", delivery_settings(config.agent, pconf.common, config.source))
        self.plugin: Output = plugin_class(**boundary, **pconf.options)
        self.plugin.log = self.log = plugin_logger(pconf)
        self.filter = Filter(pconf.common)
        self.metrics_filtered = 0
        self.metrics_failed = 0  # metrics write() could not take (logged)

    def connect(self) -> None:
        self.plugin.connect()

    def close(self) -> None:
        self.plugin.close()

    def write(self, metrics: Sequence[Metric]) -> None:
        metrics = self._filtered(metrics)
        if not metrics:
            return
        try:
            self.plugin.write(metrics)
        except BrokenPipeError:
            raise
        except Exception as err:  # noqa: BLE001 - a failing output must not stop gathering
            self.metrics_failed += len(metrics)
            self.log.error("Error writing to %s: %s", self.label, err)

    def store(self, metrics: Sequence[Metric]) -> None:
        """Like write(), for metrics that will be acknowledged to their sender: returns once
        the output holds them, raises NotStored when it cannot (never drops old ones)."""
        metrics = self._filtered(metrics)
        if not metrics:
            return
        if isinstance(self.plugin, BufferedOutput):
            self._stored(self.plugin.store, metrics)
        else:
            self._stored(self.plugin.write, metrics)

    def takes_lines(self) -> bool:
        """Lines can go into its buffer as given: nothing filters, routes or rewrites them."""
        plugin = self.plugin
        return (isinstance(plugin, BufferedOutput) and plugin.takes_raw_lines()
                and not self.filter.active)

    def store_text(self, text: str, count: int) -> None:
        """store() for count lines in one text, when takes_lines()."""
        self._stored(self.plugin.write_text, text, count)

    def _stored(self, call: Callable[..., None], *args: Any) -> None:
        """Run a storing call; whatever stops it becomes NotStored naming this output, the
        same words whichever listener path (metrics or raw lines) was taken."""
        try:
            call(*args)
        except NotStored as err:
            raise NotStored(f"{self.label}: {err}", temporary=err.temporary,
                            retry_after=err.retry_after) from err
        except StorageFull as full:
            raise NotStored(f"{self.label}: {full}", temporary=False) from full
        except Exception as err:  # noqa: BLE001 - a failed disk or spool: reported to the sender
            raise NotStored(f"{self.label}: {type(err).__name__}: {err}",
                            temporary=False) from err

    def full(self, count: int) -> Optional[NotStored]:
        """The refusal store() would give count more metrics now, or None."""
        refusal = self.plugin.full(count) if isinstance(self.plugin, BufferedOutput) else None
        if refusal is None:
            return None
        return NotStored(f"{self.label}: {refusal}", temporary=refusal.temporary,
                         retry_after=refusal.retry_after)

    def undelivered(self) -> int:
        if not isinstance(self.plugin, BufferedOutput):
            return 0
        return int(self.plugin.write_stats().get("buffer_size", 0))

    def _filtered(self, metrics: Sequence[Metric]) -> Sequence[Metric]:
        if not self.filter.active:
            return metrics
        kept = [m for m in (m.copy() for m in metrics) if self.filter.apply(m)]
        self.metrics_filtered += len(metrics) - len(kept)
        return kept


def hostname(agent: Dict[str, object]) -> Optional[str]:
    if agent["omit_hostname"]:
        return None
    # os.uname() is gethostname() on POSIX, without importing socket on every start.
    if agent["hostname"]:
        return str(agent["hostname"])
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()
