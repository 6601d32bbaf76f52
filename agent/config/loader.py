"""Telegraf's config language (a subset): read a source, parse TOML, validate every key."""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, Mapping, Optional

from agent.config import secrets
from agent.config.checker import Checker
from agent.config.errors import ConfigError
from agent.config.model import Config
from agent.config.source import read_source

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9/3.10 (Raspberry Pi OS bullseye)
    import tomli as tomllib


def load(location: Optional[str], env: Mapping[str, str] = os.environ,
         require_inputs: bool = True, with_outputs: bool = True) -> Config:
    label, text = read_source(location, env)
    return parse(text, label, env, require_inputs, with_outputs)


def parse(text: str, label: str, env: Mapping[str, str] = os.environ,
          require_inputs: bool = True, with_outputs: bool = True) -> Config:
    """Validate a config text; raises ConfigError listing every problem.

    with_outputs=False (agent execd) skips [[outputs.X]] tables unread: their ${VAR}s and
    credentials need not exist under Telegraf.
    """
    if text.startswith("\ufeff"):  # a byte-order mark (Windows editors): Telegraf's trimBOM
        text = text[1:]
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"{label}: TOML syntax error: {err}"]) from None
    ignored = 0 if with_outputs else _drop_outputs(document)
    checker = Checker(label, env, require_inputs)
    config = checker.check(document)
    if checker.problems:
        raise ConfigError([secrets.redact(p, checker.secrets) for p in checker.problems])
    config.warnings = [secrets.redact(w, checker.secrets) for w in config.warnings]
    config.ignored_outputs = ignored
    return config


def _drop_outputs(document: Dict[str, Any]) -> int:
    """Remove the [[outputs.X]] tables; how many there were."""
    section = document.pop("outputs", {})
    if not isinstance(section, dict):
        return 0
    return sum(len(t) if isinstance(t, list) else 1 for t in section.values())
