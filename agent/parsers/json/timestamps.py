"""json_time_format / json_timezone as Telegraf reads them (internal.ParseTimestamp): unix,
unix_ms, unix_us, unix_ns (a number or a string, exact to the nanosecond, thousands separators
removed), or a Go layout read in json_timezone (UTC, Local or a tz database name) unless the
text has an offset or a zone abbreviation of its own.
"""

from __future__ import annotations

import calendar
import datetime
import re
import time
from fractions import Fraction
from typing import Callable, Optional

from agent.parsers.json import gotime

UNIX_FACTORS = {"unix": 1_000_000_000, "unix_ms": 1_000_000, "unix_us": 1_000, "unix_ns": 1}
# What Go's big.Rat.SetString reads here: a decimal (underscores between digits allowed),
# an exponent, or a fraction.
_DIGITS = r"\d(?:_?\d)*"
_RATIONAL = re.compile(rf"[+-]?(?:(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})"
                       rf"(?:[eE][+-]?{_DIGITS})?|{_DIGITS}/{_DIGITS})")


def load_zone(name: str):
    """None for UTC, "Local" for the system's zone, else a ZoneInfo; ValueError if unknown."""
    if name in ("", "UTC"):
        return None
    if name == "Local":
        return "Local"
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {name!r} (use UTC, Local or a tz database name "
                         f"like Europe/Berlin)") from err


def check_format(text: str) -> str:
    """"" when json_time_format is usable, else why not."""
    if text in UNIX_FACTORS:
        return ""
    if not any(element for element, _ in gotime.compile_layout(text)):
        return (f"{text!r} is neither unix, unix_ms, unix_us, unix_ns nor a Go layout of the "
                f"reference time (2006-01-02T15:04:05Z07:00, 02 Jan 06 15:04 MST, ...)")
    return ""


class TimestampParser:
    """A time value -> ns since the epoch, for one json_time_format and json_timezone."""

    def __init__(self, fmt: str, zone_name: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.factor = UNIX_FACTORS.get(fmt)
        self.tokens = None if self.factor else gotime.compile_layout(fmt)
        self.zone = load_zone(zone_name)
        self.clock = clock

    def __call__(self, value: object) -> int:
        if self.factor is not None:
            return _unix(value, self.factor)
        if not isinstance(value, str):
            raise ValueError("unsupported type")
        parsed = gotime.parse(self.tokens, value)
        naive = gotime.resolve_date(parsed, time.gmtime(self.clock()).tm_year)
        seconds = self._seconds(naive, parsed)
        return seconds * 1_000_000_000 + parsed.nanos

    def _seconds(self, naive: datetime.datetime, parsed: gotime.Parsed) -> int:
        utc = calendar.timegm(naive.timetuple())
        if parsed.offset is not None:
            return utc - parsed.offset
        if parsed.zone_name:
            return utc - _abbreviation_offset(parsed.zone_name, naive)
        if self.zone is None:
            return utc
        if self.zone == "Local":
            return int(naive.timestamp())
        offset = self.zone.utcoffset(naive)
        return utc - int(offset.total_seconds())


def _unix(value: object, factor: int) -> int:
    if isinstance(value, bool):
        raise ValueError("unsupported type")
    if isinstance(value, (int, float)):
        exact = Fraction(value)
    elif isinstance(value, str):
        text = _sanitize(value)
        if not _RATIONAL.fullmatch(text):
            raise ValueError("invalid number")
        exact = Fraction(text.replace("_", ""))
    else:
        raise ValueError("unsupported type")
    return exact.numerator * factor // exact.denominator


def _sanitize(text: str) -> str:
    """Telegraf's sanitizeTimestamp with its default decimal separators "," and ".": spaces
    go, the first separator found becomes the decimal point."""
    text = text.replace(" ", "")
    for separator in (",", "."):
        if separator in text:
            return text.replace(separator, ".", 1)
    return text


def _abbreviation_offset(name: str, naive: datetime.datetime) -> int:
    """Seconds east of UTC for a zone abbreviation, as Telegraf resolves it: the local
    zone's own abbreviations first, then a tz database zone of that name."""
    local = _local_offset(name)
    if local:
        return local
    import zoneinfo

    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"cannot resolve timezone abbreviation {name!r}") from None
    for moment in (naive, naive.replace(month=1, day=1), naive.replace(month=7, day=1)):
        if zone.tzname(moment) == name:
            return int(zone.utcoffset(moment).total_seconds())
    return int(zone.utcoffset(naive).total_seconds())


def _local_offset(name: str) -> Optional[int]:
    if name == time.tzname[0]:
        return -time.timezone
    if time.daylight and name == time.tzname[1]:
        return -time.altzone
    return None
