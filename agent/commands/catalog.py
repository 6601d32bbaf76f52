"""`agent plugins` and `agent sample-config`: what the registries hold, and how to configure it."""

from __future__ import annotations

from typing import Iterable, Type

from agent.config.agent_options import AGENT_OPTIONS
from agent.plugin import registry
from agent.plugin.base import (
    COMMON_AGGREGATOR_OPTIONS,
    COMMON_INPUT_OPTIONS,
    COMMON_OUTPUT_OPTIONS,
    Plugin,
)
from agent.plugin.options import Option, format_duration


def _plugins() -> Iterable[Type[Plugin]]:
    for kind in ("inputs", "outputs", "aggregators"):
        for name in sorted(registry.REGISTRIES[kind]):
            yield registry.load(kind, name)


def _default(option: Option) -> str:
    if option.default is None:
        return ""
    if option.kind == "duration":
        return f" (default {format_duration(option.default)})"
    return f" (default {option.default!r})"


def print_plugins() -> int:
    for plugin in _plugins():
        print(f"{plugin.kind}.{plugin.name}: {plugin.description}")
        for option in plugin.options:
            kind = f"{option.kind}, secret" if option.secret else option.kind
            print(f"    {option.name} [{kind}]{_default(option)}: {option.help}")
    print("common input options: " + ", ".join(o.name for o in COMMON_INPUT_OPTIONS))
    print("common output options: " + ", ".join(o.name for o in COMMON_OUTPUT_OPTIONS))
    print("common aggregator options: " + ", ".join(o.name for o in COMMON_AGGREGATOR_OPTIONS))
    return 0


def print_sample_config() -> int:
    print("# agent configuration: Telegraf's config language. Environment variables are")
    print("# expanded inside string values, as Telegraf does: $VAR or ${VAR}; ${VAR:-default}")
    print("# when unset or empty, ${VAR-default} when unset; ${VAR:+alt}, ${VAR+alt};")
    print("# ${VAR:?message} or ${VAR?message} refuse the config; $$ is a literal $. An unset")
    print("# $VAR stays as written (`agent check` warns). Secret options ([..., secret] in")
    print("# `agent plugins`) also take \"@{systemd:<credential>}\".\n")
    print("[agent]")
    for option in AGENT_OPTIONS:
        value = option.default
        if option.kind == "duration":
            value = format_duration(value) if value else "0s"
        text = f'"{value}"' if isinstance(value, str) else str(value).lower()
        print(f"  ## {option.help}\n  # {option.name} = {text}")
    print("\n# [global_tags]\n#   site = \"home\"\n")
    for plugin in _plugins():
        if plugin.kind == "aggregators":  # shown, not enabled (as `telegraf config` does)
            print("".join(f"# {line}" if line.strip() else line
                          for line in plugin.sample_config.splitlines(True)))
        else:
            print(plugin.sample_config)
    return 0
