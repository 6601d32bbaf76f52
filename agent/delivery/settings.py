"""Where an output's spool lives and how it is drained, from [agent] and the output's options."""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any, Dict, NamedTuple, Optional

log = logging.getLogger("agent.delivery")


class DeliverySettings(NamedTuple):
    directory: Optional[str]  # None: memory buffer
    batch_size: int
    buffer_limit: int
    flush_interval: float
    flush_jitter: float
    shutdown_timeout: float
    retry_max_interval: float = 300.0

    def spool_path(self, plugin: str, identity: str) -> Optional[str]:
        """One spool per destination: the same URLs and bucket find their backlog again."""
        if not self.directory:
            return None
        digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
        return os.path.join(self.directory, f"{plugin}-{digest}.sqlite")

    def spool_key(self, plugin: str, identity: str) -> str:
        """What names one spool within the process (a file, or a memory buffer)."""
        return self.spool_path(plugin, identity) or f"memory:{plugin}:{identity}"

    @property
    def dead_letter_path(self) -> Optional[str]:
        return os.path.join(self.directory, "dead-letter.lp") if self.directory else None


def delivery_settings(agent: Dict[str, Any], common: Dict[str, Any],
                      config_source: str) -> DeliverySettings:
    return DeliverySettings(
        directory=buffer_directory(agent, config_source),
        batch_size=common.get("metric_batch_size") or agent["metric_batch_size"],
        buffer_limit=common.get("metric_buffer_limit") or agent["metric_buffer_limit"],
        flush_interval=common.get("flush_interval") or agent["flush_interval"],
        flush_jitter=(common.get("flush_jitter") if common.get("flush_jitter") is not None
                      else agent["flush_jitter"]),
        shutdown_timeout=agent["shutdown_timeout"],
        retry_max_interval=agent["retry_max_interval"],
    )


def buffer_directory(agent: Dict[str, Any], config_source: str) -> Optional[str]:
    """The disk buffer's directory, or None for the memory strategy.

    [agent] buffer_directory, else systemd's $STATE_DIRECTORY (StateDirectory=), else a
    directory per config under ~/.local/state/agent/. A directory that cannot be used is an
    error when it was asked for (buffer_directory set, or buffer_strategy = "disk"); only the
    default falls back to memory (with a warning).
    """
    if agent["buffer_strategy"] == "memory":
        return None
    directory = agent["buffer_directory"] or _default_directory(config_source)
    problem = _unusable(directory)
    if not problem:
        return directory
    if agent["buffer_directory"] or agent["buffer_strategy"] == "disk":
        raise OSError(f"buffer_directory {directory} cannot be used: {problem}")
    log.warning("Cannot use %s (%s); buffering in memory (lost on restart)", directory, problem)
    return None


def _unusable(directory: str) -> str:
    """Why the spool cannot live in directory; "" when it can."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError as err:
        return err.strerror or str(err)
    if not os.access(directory, os.W_OK | os.X_OK):
        return "not writable"
    return ""


def _default_directory(config_source: str) -> str:
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        return state
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    name = hashlib.sha256(config_source.encode()).hexdigest()[:12]
    return os.path.join(base, "agent", name)
