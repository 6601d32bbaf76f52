"""Typed plugin and agent options: the schema that config validation checks against.

Every value is checked for its kind, its range and its form before anything runs, so that a
value `agent check` accepts also runs: numbers and durations are bounded (durations by a year
unless an option says otherwise, so every wait stays far inside what a 32-bit Pi's clock can
take), strings carry no NUL, URLs have an allowed scheme, a host and a port in 1-65535.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

from agent.plugin import forms
from agent.plugin.durations import describe_duration, format_duration, parse_duration

DURATION_MAX = 365 * 86400.0  # "8760h"
INT_MAX = 2 ** 63 - 1  # Go's int64, and SQLite's INTEGER
HTTP_SCHEMES = ("http", "https")


# A NamedTuple, not a dataclass: importing dataclasses costs every start 7 ms and 1 MB.
class Option(NamedTuple):
    """One config key: its kind, default and what it means (shown by `agent plugins`).

    minimum/maximum bound numbers and durations (for lists: the number of entries);
    empty_is_default: "", 0 or [] mean the default, as Telegraf reads this option;
    schemes: the URL schemes a url_list accepts.
    """

    name: str
    kind: str
    default: Any = None
    help: str = ""
    choices: Tuple[str, ...] = ()
    minimum: Optional[float] = None
    secret: bool = False
    maximum: Optional[float] = None
    empty_is_default: bool = False
    schemes: Tuple[str, ...] = HTTP_SCHEMES

    def convert(self, value: Any) -> Any:
        """The value as this option's kind; ValueError with a short reason otherwise."""
        converted = _CONVERTERS[self.kind](value)
        if self.empty_is_default and converted in (0, "", []) and converted is not False:
            return copy.deepcopy(self.default)
        if self.choices and converted not in self.choices:
            raise ValueError(f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}")
        _check_range(self, converted, value)
        if self.kind == "url_list":
            for url in converted:
                forms.check_url(url, self.schemes)
        return converted


def _check_range(option: Option, converted: Any, raw: Any) -> None:
    if isinstance(converted, list):
        if option.minimum and len(converted) < option.minimum:
            raise ValueError(f"needs at least {option.minimum:g} entr"
                             f"{'y' if option.minimum == 1 else 'ies'}, got []")
        return
    if not isinstance(converted, (int, float)) or isinstance(converted, bool):
        return
    show = describe_duration if option.kind == "duration" else _number
    if option.minimum is not None and converted < option.minimum:
        raise ValueError(f"must be at least {show(option.minimum)}, got {raw!r}")
    maximum = option.maximum
    if maximum is None:
        maximum = DURATION_MAX if option.kind == "duration" else INT_MAX
    if converted > maximum:
        raise ValueError(f"must be at most {show(maximum)}, got {raw!r}")


def _number(value: float) -> str:
    if isinstance(value, int) or value == int(value):
        return f"{int(value):_}"
    return f"{value:g}"


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_describe(value)}")
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _to_line(value: Any) -> str:
    forms.check_line(_to_str(value))
    return value


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {_describe(value)}")
    return value


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {_describe(value)}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
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
    if math.isnan(seconds):
        raise ValueError(f"expected a duration like \"10s\", got {value!r}")
    if seconds < 0:
        raise ValueError(f"duration must not be negative, got {value!r}")
    return seconds


def _to_size(value: Any) -> int:
    """Bytes from an integer or a string like "16MiB", "64KB" (Telegraf's config.Size)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"a size must not be negative, got {value}")
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
    return [_to_str(v) for v in value]


def _to_str_map(value: Any) -> dict:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"expected a table of strings, got {_describe(value)}")
    return {_to_str(k): _to_str(v) for k, v in value.items()}


def _to_header_map(value: Any) -> dict:
    headers = _to_str_map(value)
    for name, text in headers.items():
        forms.check_header(name, text)
    return headers


def _to_tag_filter(value: Any) -> dict:
    """Telegraf's tagpass/tagdrop: a table of tag name -> list of globs."""
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(g, str) for g in v) for v in value.values()
    ):
        raise ValueError(f"expected a table of string lists, got {_describe(value)}")
    return {_to_str(k): _to_str_list(v) for k, v in value.items()}


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


def _to_address(value: Any) -> str:
    forms.check_address(_to_str(value))
    return value


def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "table"}.get(type(value), type(value).__name__)
    shown = repr(value)
    return f"{kind} {shown[:40]}" if kind not in ("table", "list") else kind


describe_value = _describe
__all__ = ["Option", "describe_duration", "describe_value", "format_duration", "parse_duration"]

_CONVERTERS: Dict[str, Callable[[Any], Any]] = {
    "str": _to_str, "line": _to_line, "int": _to_int, "float": _to_float, "bool": _to_bool,
    "duration": _to_duration, "str_list": _to_str_list, "url_list": _to_str_list,
    "str_map": _to_str_map, "header_map": _to_header_map, "size": _to_size,
    "tag_filter": _to_tag_filter, "table": _to_table, "table_list": _to_table_list,
    "address": _to_address,
}
