"""Where a config comes from (a file, an http(s) URL, the embedded default) and ${VAR} expansion."""

from __future__ import annotations

import os
import re
from typing import Callable, Mapping, Optional, Tuple

DEFAULT_LABEL = "<embedded default>"
DEFAULT_CONFIG = """\
# The embedded default: RAM to stdout every 10 s.
[agent]
  interval = "10s"

[[inputs.mem]]

[[outputs.file]]
  files = ["stdout"]
"""

_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


class SourceError(Exception):
    """The config could not be read. temporary=True when retrying later may help."""

    def __init__(self, message: str, temporary: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary


def read_source(location: Optional[str], env: Mapping[str, str] = os.environ) -> Tuple[str, str]:
    """(label, TOML text) for a path, an http(s) URL, or None for the embedded default."""
    if not location:
        return DEFAULT_LABEL, DEFAULT_CONFIG
    if location.startswith(("http://", "https://")):
        from agent.config.url import fetch_url, safe_url

        return safe_url(location), fetch_url(location, env.get("INFLUX_TOKEN", ""))
    try:
        with open(location, encoding="utf-8") as handle:
            return location, handle.read()
    except FileNotFoundError:
        raise SourceError(f"{location}: config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SourceError(f"{location}: cannot read config: {err}") from None


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
