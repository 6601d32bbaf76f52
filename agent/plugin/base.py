"""Base classes for inputs and outputs, and the options every plugin of a kind accepts."""

from __future__ import annotations

import logging
from typing import ClassVar, List, Sequence, Tuple

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

COMMON_INPUT_OPTIONS: Tuple[Option, ...] = (
    Option("interval", "duration", None, "gather interval; overrides [agent] interval"),
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

COMMON_OUTPUT_OPTIONS: Tuple[Option, ...] = (
    Option("alias", "str", None, "name this instance in logs"),
    Option("metric_batch_size", "int", None, "overrides [agent] metric_batch_size", minimum=1),
    Option("metric_buffer_limit", "int", None, "overrides [agent] metric_buffer_limit", minimum=1),
    Option("flush_interval", "duration", None, "overrides [agent] flush_interval"),
    Option("flush_jitter", "duration", None, "overrides [agent] flush_jitter"),
    *FILTER_OPTIONS,
)


class Plugin:
    """What inputs and outputs share: a name, an option schema, a sample config, a logger."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    options: ClassVar[Tuple[Option, ...]] = ()
    sample_config: ClassVar[str] = ""

    log: logging.Logger | logging.LoggerAdapter

    def __init__(self, **options: object) -> None:
        for option in self.options:
            setattr(self, option.name, options.get(option.name, option.default))
        self.log = logging.getLogger(f"agent.{self.kind}.{self.name}")


class Input(Plugin):
    """gather() returns metrics; raise for total failure, log and return what it has otherwise."""

    kind = "inputs"

    def start(self) -> None:
        """Open connections or background readers; called once before the first gather."""

    def gather(self) -> List[Metric]:
        raise NotImplementedError

    def stop(self) -> None:
        """Release what start() took."""


class Output(Plugin):
    """write() takes metrics; network outputs queue them and never block the caller."""

    kind = "outputs"

    def connect(self) -> None:
        """Open files or clients; called once before the first write."""

    def write(self, metrics: Sequence[Metric]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Flush what is pending and release resources."""
