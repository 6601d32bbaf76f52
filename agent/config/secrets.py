"""Telegraf's secret-store references, `@{store:key}`, in secret options (token, password,
address). One store: `systemd`, the unit's credentials ($CREDENTIALS_DIRECTORY/<key>).

Resolved after ${VAR} expansion, so a variable may hold a reference; a secret's value is never
expanded again. Messages name the reference, never its value.
"""

from __future__ import annotations

import re
from typing import Callable, List, Mapping

from agent.system.systemd import CredentialError, read_credential

# Telegraf's pattern is @\{(\w+:\w+)\}; keys here may also hold "-" and "." (systemd
# credential names such as influx-token). Anything between @{ and } is matched so that an
# unknown store or a bad key is reported instead of passed on as text.
REFERENCE = re.compile(r"@\{([^{}:\s]*):([^{}\s]*)\}")
STORES = ("systemd",)


def resolve(text: str, env: Mapping[str, str], problem: Callable[[str], None],
            found: List[str]) -> str:
    """Replace every @{store:key} in text; problems go to problem(), values to found."""
    if "@{" not in text:
        return text

    def replace(match: re.Match) -> str:
        store, key = match.group(1), match.group(2)
        if store not in STORES:
            problem(f"{match.group(0)}: unknown secret store {store!r} (agent knows "
                    f"{', '.join(STORES)})")
            return ""
        try:
            value = read_credential(key, env)
        except CredentialError as err:
            problem(f"{match.group(0)}: {err}")
            return ""
        found.append(value)
        return value

    return REFERENCE.sub(replace, text)


def redact(text: str, values: List[str]) -> str:
    """text with every secret value in it replaced by ***."""
    for value in sorted(values, key=len, reverse=True):
        if value:
            text = text.replace(value, "***")
    return text
