"""A validated config: what the engine runs."""

from __future__ import annotations

from typing import Any, Dict, List


class PluginConfig:
    """One [[inputs.X]], [[outputs.X]] or [[aggregators.X]] table, validated."""

    def __init__(self, kind: str, name: str, index: int, options: Dict[str, Any],
                 common: Dict[str, Any]) -> None:
        self.kind, self.name, self.index = kind, name, index
        self.options = options
        self.common = common

    @property
    def label(self) -> str:
        """How logs name this instance, as Telegraf does: inputs.mem or inputs.mem::alias."""
        alias = self.common.get("alias")
        return f"{self.kind}.{self.name}::{alias}" if alias else f"{self.kind}.{self.name}"


class Config:
    # Plain classes, not dataclasses: importing dataclasses costs every start 7 ms and 1 MB.
    def __init__(self, source: str, agent: Dict[str, Any]) -> None:
        self.source = source
        self.agent = agent
        self.global_tags: Dict[str, str] = {}
        self.inputs: List[PluginConfig] = []
        self.outputs: List[PluginConfig] = []
        self.aggregators: List[PluginConfig] = []
        self.warnings: List[str] = []
        self.ignored_outputs = 0  # [[outputs.X]] tables skipped (agent execd)
