"""Environment variables in config values: ${VAR} and its forms, expanded after TOML parsing."""

from __future__ import annotations

import re
from typing import Callable, Mapping

_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def expand_env(
    text: str, env: Mapping[str, str], problem: Callable[[str], None]
) -> str:
    """Expand ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?msg}, ${VAR?msg}; $${ is a literal ${.

    An unset ${VAR} becomes "", as in Telegraf. A :? reference that is unset or empty calls
    problem() with its message.
    """

    def replace(match: re.Match) -> str:
        if match.group(0) == "$${":
            return "${"
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        value = env.get(name)
        missing = value is None or (value == "" and op is not None and op.startswith(":"))
        if op and op.endswith("?") and missing:
            problem(f"${{{name}}} is not set: {arg or 'required'}")
            return ""
        if op and op.endswith("-") and missing:
            return arg
        return value or ""

    return _ENV_REF.sub(replace, text) if "$" in text else text
