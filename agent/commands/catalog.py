"""`agent plugins` and `agent sample-config`: what the registries hold, and how to configure it.

Both are assembled from each plugin's folder, as Telegraf's are: agent/<kind>/<name>/sample.conf
(its first line, a comment, is the plugin's one-line description) beside its README.md. The files
are package data, read with importlib.resources so an installed wheel finds them too.
"""

from __future__ import annotations

from importlib import resources
from typing import Iterator, Tuple

from agent.config.agent_options import AGENT_OPTIONS
from agent.plugin import registry
from agent.plugin.base import (
    COMMON_AGGREGATOR_OPTIONS,
    COMMON_INPUT_OPTIONS,
    COMMON_OUTPUT_OPTIONS,
)
from agent.plugin.options import Option, format_duration

# The order of `agent sample-config` and `agent plugins`.
KINDS = ("inputs", "outputs", "aggregators")
# Enabled in `agent sample-config` (the embedded default); every other plugin is shown
# commented out, as `telegraf config` does, so the output runs on a core install as it is.
ENABLED = (("inputs", "mem"), ("outputs", "file"))


def registered() -> Iterator[Tuple[str, str]]:
    """(kind, name) of every registered plugin, kinds in KINDS order, names sorted."""
    for kind in KINDS:
        for name in sorted(registry.REGISTRIES[kind]):
            yield kind, name


def package_of(kind: str, name: str) -> str:
    """The plugin's package, the folder holding its sample.conf and README.md."""
    return registry.REGISTRIES[kind][name].split(":")[0]


def plugin_file(kind: str, name: str, filename: str) -> str:
    """A file of the plugin's folder, as text."""
    return resources.files(package_of(kind, name)).joinpath(filename).read_text(encoding="utf-8")


def sample_config(kind: str, name: str) -> str:
    return plugin_file(kind, name, "sample.conf")


def description(kind: str, name: str) -> str:
    """The first line of sample.conf, without its comment sign."""
    first = sample_config(kind, name).split("\n", 1)[0]
    return first.lstrip("#").strip()


def _default(option: Option) -> str:
    if option.default is None:
        return ""
    if option.kind == "duration":
        return f" (default {format_duration(option.default) if option.default else '0s'})"
    return f" (default {option.default!r})"


def print_plugins() -> int:
    for kind, name in registered():
        print(f"{kind}.{name}: {description(kind, name)}")
        for option in registry.load(kind, name).options:
            option_kind = f"{option.kind}, secret" if option.secret else option.kind
            print(f"    {option.name} [{option_kind}]{_default(option)}: {option.help}")
    print("common input options: " + ", ".join(o.name for o in COMMON_INPUT_OPTIONS))
    print("common output options: " + ", ".join(o.name for o in COMMON_OUTPUT_OPTIONS))
    print("common aggregator options: " + ", ".join(o.name for o in COMMON_AGGREGATOR_OPTIONS))
    print("every plugin's README.md (metrics, troubleshooting) is in its folder, "
          "agent/<kind>/<name>/")
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
    for kind, name in registered():
        text = sample_config(kind, name)
        if (kind, name) not in ENABLED:
            text = "".join(f"# {line}" if line.strip() else line
                           for line in text.splitlines(True))
        print(text)
    return 0
