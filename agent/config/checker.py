"""Validation of a parsed config document: every key of every table, all problems at once."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

from agent.config import secrets
from agent.config.agent_options import AGENT_OPTIONS, IGNORED_AGENT_KEYS
from agent.config.model import Config, PluginConfig
from agent.config.variables import expand_env
from agent.plugin import registry
from agent.plugin.base import (
    COMMON_AGGREGATOR_OPTIONS,
    COMMON_INPUT_OPTIONS,
    COMMON_OUTPUT_OPTIONS,
)
from agent.plugin.options import Option


class Checker:
    def __init__(self, label: str, env: Mapping[str, str], require_inputs: bool) -> None:
        self.require_inputs = require_inputs
        self.label = label
        self.env = env
        self.problems: List[str] = []
        self.warnings: List[str] = []
        self.secrets: List[str] = []  # resolved secret values, kept out of every message

    def problem(self, table: str, key: str, message: str) -> None:
        where = f"[{table}] {key}" if key else f"[{table}]"
        self.problems.append(f"{self.label}: {where}: {message}")

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

    def _agent(self, table: Any) -> Dict[str, Any]:
        if not self._is_table(table, "agent"):
            return {o.name: o.default for o in AGENT_OPTIONS}
        for key in sorted(set(table) & IGNORED_AGENT_KEYS):
            self.warnings.append(f"{self.label}: [agent] {key}: Telegraf option not used by agent")
        known = {k: v for k, v in table.items() if k not in IGNORED_AGENT_KEYS}
        return self._options(known, AGENT_OPTIONS, "agent")

    def _global_tags(self, table: Any) -> Dict[str, str]:
        if not self._is_table(table, "global_tags"):
            return {}
        tags = {}
        for key, value in table.items():
            if isinstance(value, str):
                tags[key] = self._expand(value, "global_tags", key)
            else:
                self.problem("global_tags", key, f"tag values must be strings, got {value!r}")
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
            if isinstance(tables, dict):
                tables = [tables]
            for index, table in enumerate(tables, 1):
                found.append(self._plugin(kind, name, index, len(tables), table))
        return found

    def _plugin(self, kind: str, name: str, index: int, count: int, table: Any) -> PluginConfig:
        where = f"{kind}.{name}" + (f" #{index}" if count > 1 else "")
        plugin_class = registry.load(kind, name)
        common_schema = _COMMON_OPTIONS[kind]
        table = table if isinstance(table, dict) else {}
        own = {k: v for k, v in table.items() if k not in {o.name for o in common_schema}}
        common = {k: v for k, v in table.items() if k not in own}
        options = self._options(own, plugin_class.options, where)
        common_values = self._options(common, common_schema, where)
        for key, message in plugin_class.check_options(options):
            self.problem(where, key, message)
        return PluginConfig(kind, name, index, options, common_values)

    def _options(self, table: Dict[str, Any], schema: Tuple[Option, ...], where: str):
        by_name = {o.name: o for o in schema}
        values = {o.name: o.default for o in schema}
        for key, raw in table.items():
            option = by_name.get(key)
            if option is None:
                self.problem(where, key, _unknown_option(key, by_name))
                continue
            try:
                value = self._expand_value(raw, where, key)
                values[key] = option.convert(self._secret_refs(value, option, schema, where, key))
            except ValueError as err:
                self.problem(where, key, str(err))
        return values

    def _secret_refs(self, value: Any, option: Option, schema: Tuple[Option, ...], where: str,
                     key: str) -> Any:
        """Resolve @{store:key} in a secret option; anywhere else a reference is a problem."""
        if isinstance(value, list):
            return [self._secret_refs(v, option, schema, where, key) for v in value]
        if isinstance(value, dict):
            return {k: self._secret_refs(v, option, schema, where, key) for k, v in value.items()}
        if not isinstance(value, str):
            return value
        if option.secret:
            return secrets.resolve(value, self.env, lambda m: self.problem(where, key, m),
                                   self.secrets)
        reference = secrets.REFERENCE.search(value) if "@{" in value else None
        if reference:
            names = ", ".join(o.name for o in schema if o.secret) or "none here"
            self.problem(where, key, f"{reference.group(0)}: secret references are resolved "
                         f"only in secret options ({names})")
        return value

    def _expand_value(self, value: Any, where: str, key: str) -> Any:
        if isinstance(value, str):
            return self._expand(value, where, key)
        if isinstance(value, list):
            return [self._expand_value(v, where, key) for v in value]
        if isinstance(value, dict):
            return {k: self._expand_value(v, where, f"{key}.{k}") for k, v in value.items()}
        return value

    def _expand(self, text: str, where: str, key: str) -> str:
        return expand_env(text, self.env, lambda message: self.problem(where, key, message))

    def _is_table(self, value: Any, where: str) -> bool:
        if isinstance(value, dict):
            return True
        self.problem(where, "", f"expected a table, got {type(value).__name__}")
        return False


def _unknown_option(key: str, known: Dict[str, Option]) -> str:
    import difflib

    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown option {key!r}{hint}"


_COMMON_OPTIONS = {"inputs": COMMON_INPUT_OPTIONS, "outputs": COMMON_OUTPUT_OPTIONS,
                   "aggregators": COMMON_AGGREGATOR_OPTIONS}


def _unknown_section(key: str) -> str:
    if key in ("processors", "secretstores"):
        return f"Telegraf {key} are not supported by agent"
    return f"unknown section {key!r} (expected agent, global_tags, inputs, outputs, aggregators)"
