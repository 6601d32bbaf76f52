"""Where a config comes from: a file, an http(s) URL, or the embedded default."""

from __future__ import annotations

import os
from typing import Mapping, Optional, Tuple

from agent.config.errors import SourceError

DEFAULT_LABEL = "<embedded default>"
DEFAULT_CONFIG = """\
# The embedded default: RAM to stdout every 10 s.
[agent]
  interval = "10s"

[[inputs.mem]]

[[outputs.file]]
  files = ["stdout"]
"""


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


