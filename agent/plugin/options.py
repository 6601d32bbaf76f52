"""Typed plugin and agent options: the schema that config validation checks against."""

from __future__ import annotations

import re
from typing import Any, NamedTuple, Optional, Tuple

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)")
_UNIT_SECONDS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
    "d": 86400.0,
}


# A NamedTuple, not a dataclass: importing dataclasses costs every start 7 ms and 1 MB.
class Option(NamedTuple):
    """One config key: its kind, default and what it means (shown by `agent plugins`)."""

    name: str
    kind: str
    default: Any = None
    help: str = ""
    choices: Tuple[str, ...] = ()
    minimum: Optional[float] = None
    secret: bool = False

    def convert(self, value: Any) -> Any:
        """The value as this option's kind; ValueError with a short reason otherwise."""
        converted = _CONVERTERS[self.kind](value)
        if self.choices and converted not in self.choices:
            raise ValueError(f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}")
        if self.minimum is not None and converted < self.minimum:
            raise ValueError(f"must be at least {self.minimum:g}, got {value!r}")
        return converted


def parse_duration(text: str) -> float:
    """Seconds from a Go/Telegraf duration: "10s", "1m30s", "500ms", "1.5h", "2d"; "10" = 10 s."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d*)?", text):
        return float(text)
    if text in ("0", ""):
        return 0.0
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(a + b for a, b in parts) != text:
        hint = 'use Go durations like "10s", "1m30s", "500ms"'
        raise ValueError(f"invalid duration {text!r} ({hint})")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    if seconds and seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds * 1000:g}ms"


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_describe(value)}")
    return value


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {_describe(value)}")
    return value


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {_describe(value)}")
    return float(value)


def _to_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_describe(value)}")
    return value


def _to_duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like \"10s\", got {_describe(value)}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = parse_duration(value)
    else:
        raise ValueError(f"expected a duration like \"10s\", got {_describe(value)}")
    if seconds < 0:
        raise ValueError(f"duration must not be negative, got {value!r}")
    return seconds


def _to_size(value: Any) -> int:
    """Bytes from an integer or a string like "16MiB", "64KB" (Telegraf's config.Size)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]i?B|B)?\s*", value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f'expected a size like "16MiB", got {_describe(value)}')
    unit = match[2] or "B"
    base = 1024 if "i" in unit else 1000
    return int(match[1]) * base ** "BKMG".index(unit[0])


def _to_str_list(value: Any) -> list:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {_describe(value)}")
    return list(value)


def _to_str_map(value: Any) -> dict:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"expected a table of strings, got {_describe(value)}")
    return dict(value)


def _to_tag_filter(value: Any) -> dict:
    """Telegraf's tagpass/tagdrop: a table of tag name -> list of globs."""
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(g, str) for g in v) for v in value.values()
    ):
        raise ValueError(f"expected a table of string lists, got {_describe(value)}")
    return {k: list(v) for k, v in value.items()}


def _to_table(value: Any) -> dict:
    """A TOML table of mixed values, e.g. [outputs.mqtt.v5]; the plugin checks its keys."""
    if not isinstance(value, dict):
        raise ValueError(f"expected a table, got {_describe(value)}")
    return dict(value)


def _to_table_list(value: Any) -> list:
    """A TOML array of tables, e.g. [[inputs.postgresql.query]]; the plugin checks their keys."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"expected [[...]] tables (a list of tables), got {_describe(value)}")
    return [dict(v) for v in value]


def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "table"}.get(type(value), type(value).__name__)
    shown = repr(value)
    return f"{kind} {shown[:40]}" if kind not in ("table", "list") else kind


_CONVERTERS = {
    "str": _to_str, "int": _to_int, "float": _to_float, "bool": _to_bool,
    "duration": _to_duration, "str_list": _to_str_list, "str_map": _to_str_map, "size": _to_size,
    "tag_filter": _to_tag_filter, "table": _to_table, "table_list": _to_table_list,
}
