"""Validation of a parsed config document: every key of every table, all problems at once."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping

from agent.config.agent_options import AGENT_OPTIONS, IGNORED_AGENT_KEYS
from agent.config.model import Config, PluginConfig
from agent.config.values import ValueChecker
from agent.plugin import extras, registry
from agent.plugin.base import (
    COMMON_AGGREGATOR_OPTIONS,
    COMMON_INPUT_OPTIONS,
    COMMON_OUTPUT_OPTIONS,
)
from agent.plugin.options import describe_value


class Checker:
    def __init__(self, label: str, env: Mapping[str, str], require_inputs: bool) -> None:
        self.require_inputs = require_inputs
        self.label = label
        self.values = ValueChecker(env)
        self.problems: List[str] = []
        self.warnings: List[str] = []

    @property
    def secrets(self) -> List[str]:
        return self.values.secrets

    def problem(self, table: str, key: str, message: str) -> None:
        self.problems.append(f"{self.label}: {_where(table, key)}: {message}")

    def warning(self, table: str, key: str, message: str) -> None:
        self.warnings.append(f"{self.label}: {_where(table, key)}: {message}")

    def check(self, document: Dict[str, Any]) -> Config:
        config = Config(self.label, self._agent(document.get("agent", {})))
        config.global_tags = self._global_tags(document.get("global_tags", {}))
        config.inputs = self._plugins(document.get("inputs", {}), "inputs")
        config.outputs = self._plugins(document.get("outputs", {}), "outputs")
        config.aggregators = self._plugins(document.get("aggregators", {}), "aggregators")
        for key in document:
            if key not in ("agent", "global_tags", "inputs", "outputs", "aggregators"):
                self.problem(key, "", _unknown_section(key))
        if not document.get("inputs") and self.require_inputs:
            self.problem("inputs", "", "no inputs configured; add at least one [[inputs.X]]")
        config.warnings = self.warnings
        return config

    def _reporters(self, table: str):
        return (lambda key, m: self.problem(table, key, m),
                lambda key, m: self.warning(table, key, m))

    def _agent(self, table: Any) -> Dict[str, Any]:
        if not self._is_table(table, "agent"):
            return {o.name: o.default for o in AGENT_OPTIONS}
        for key in sorted(set(table) & IGNORED_AGENT_KEYS):
            self.warning("agent", key, "Telegraf option not used by agent")
        known = {k: v for k, v in table.items() if k not in IGNORED_AGENT_KEYS}
        return self.values.options(known, AGENT_OPTIONS, *self._reporters("agent"))

    def _global_tags(self, table: Any) -> Dict[str, str]:
        if not self._is_table(table, "global_tags"):
            return {}
        tags = {}
        problem, warning = self._reporters("global_tags")
        for key, raw in table.items():
            if not isinstance(raw, str):
                problem(key, f"tag values must be strings, got {describe_value(raw)}")
                continue
            value, expanded = self.values.expand(raw, key, problem, warning)
            if "\x00" in value:
                problem(key, "must not contain a NUL character")
            elif expanded:
                tags[key] = value
        return tags

    def _plugins(self, section: Any, kind: str) -> List[PluginConfig]:
        if not self._is_table(section, kind):
            return []
        known = registry.REGISTRIES[kind]
        found = []
        for name, tables in section.items():
            if name not in known:
                self.problem(f"{kind}.{name}", "", f"unknown {kind[:-1]} plugin {name!r} "
                             f"(available: {', '.join(sorted(known))})")
                continue
            tables = self._plugin_tables(kind, name, tables)
            for index, table in enumerate(tables, 1):
                found.append(self._plugin(kind, name, index, len(tables), table))
        return found

    def _plugin_tables(self, kind: str, name: str, tables: Any) -> List[Dict[str, Any]]:
        """[[kind.name]] tables: one table, or a non-empty list of tables; anything else (an
        inline `inputs = {mem = 5}`) is a problem, never a plugin."""
        if isinstance(tables, dict):
            return [tables]
        if isinstance(tables, list) and tables and all(isinstance(t, dict) for t in tables):
            return tables
        shown = "an empty list" if tables == [] else describe_value(tables)
        if isinstance(tables, list) and tables:
            shown = f"a list of {', '.join(sorted({describe_value(t).split()[0] for t in tables}))}"
        self.problem(f"{kind}.{name}", "", f"expected [[{kind}.{name}]] tables, got {shown}")
        return []

    def _plugin(self, kind: str, name: str, index: int, count: int,
                table: Dict[str, Any]) -> PluginConfig:
        where = f"{kind}.{name}" + (f" #{index}" if count > 1 else "")
        plugin_class = registry.load(kind, name)
        for module, extra in extras.missing(plugin_class.requires):
            self.problem(where, "", extras.missing_message(module, extra))
        common_schema = _COMMON_OPTIONS[kind]
        common_names = {o.name for o in common_schema}
        own = {k: v for k, v in table.items() if k not in common_names}
        common = {k: v for k, v in table.items() if k in common_names}
        problem, warning = self._reporters(where)
        failed = set()

        def report(key: str, message: str) -> None:
            failed.add(key)
            problem(key, message)

        options = self.values.options(own, plugin_class.options, report, warning)
        common_values = self.values.options(common, common_schema, report, warning)
        for key, message in plugin_class.check_options(options):
            if key not in failed:  # a key with a problem keeps its default: say it once
                problem(key, message)
        return PluginConfig(kind, name, index, options, common_values)

    def _is_table(self, value: Any, where: str) -> bool:
        if isinstance(value, dict):
            return True
        self.problem(where, "", f"expected a table, got {describe_value(value)}")
        return False


def _where(table: str, key: str) -> str:
    return f"[{table}] {key}" if key else f"[{table}]"


_COMMON_OPTIONS = {"inputs": COMMON_INPUT_OPTIONS, "outputs": COMMON_OUTPUT_OPTIONS,
                   "aggregators": COMMON_AGGREGATOR_OPTIONS}


def _unknown_section(key: str) -> str:
    if key in ("processors", "secretstores"):
        return f"Telegraf {key} are not supported by agent"
    return f"unknown section {key!r} (expected agent, global_tags, inputs, outputs, aggregators)"
