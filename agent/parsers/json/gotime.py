"""Go's reference-time layouts ("2006-01-02T15:04:05Z07:00", "02 Jan 06 15:04 MST"), parsed
as Go's time.Parse does: fixed and free-width numbers, month and weekday names, AM/PM, numeric
offsets, zone abbreviations, fractional seconds (also when the layout has none), a space run
matching a space run. Telegraf's named layouts (rfc3339, ansic, ...) are accepted too.
"""

from __future__ import annotations

import calendar
import datetime
import re
from typing import List, Tuple

from agent.parsers.json.gotime_elements import Mismatch, Parsed, TimeError, read_element

__all__ = ["NAMED", "Parsed", "TimeError", "compile_layout", "parse", "resolve_date"]

NAMED = {
    "ansic": "Mon Jan _2 15:04:05 2006", "unixdate": "Mon Jan _2 15:04:05 MST 2006",
    "rubydate": "Mon Jan 02 15:04:05 -0700 2006", "rfc822": "02 Jan 06 15:04 MST",
    "rfc822z": "02 Jan 06 15:04 -0700", "rfc850": "Monday, 02-Jan-06 15:04:05 MST",
    "rfc1123": "Mon, 02 Jan 2006 15:04:05 MST", "rfc1123z": "Mon, 02 Jan 2006 15:04:05 -0700",
    "rfc3339": "2006-01-02T15:04:05Z07:00", "rfc3339nano": "2006-01-02T15:04:05.999999999Z07:00",
    "stamp": "Jan _2 15:04:05", "stampmilli": "Jan _2 15:04:05.000",
    "stampmicro": "Jan _2 15:04:05.000000", "stampnano": "Jan _2 15:04:05.000000000",
}
_CHUNKS = re.compile(
    r"January|Jan|Monday|Mon|MST|2006|002|__2|_2|01|02|03|04|05|06|15|1|2|3|4|5|PM|pm"
    r"|Z07:00:00|Z070000|Z07:00|Z0700|Z07|-07:00:00|-070000|-07:00|-0700|-07"
    r"|[.,](?:0+|9+)(?![0-9])")


def compile_layout(layout: str) -> List[Tuple[bool, str]]:
    """The layout as (is_element, text) tokens; Telegraf's names (rfc3339, ...) first."""
    layout = NAMED.get(layout.lower(), layout)
    tokens: List[Tuple[bool, str]] = []
    pos = 0
    for match in _CHUNKS.finditer(layout):
        if match.start() > pos:
            tokens.append((False, layout[pos:match.start()]))
        tokens.append((True, match.group()))
        pos = match.end()
    if pos < len(layout):
        tokens.append((False, layout[pos:]))
    return tokens


def parse(tokens: List[Tuple[bool, str]], value: str) -> Parsed:
    """Go's time.Parse over the tokens; TimeError with Go's message."""
    parsed, rest = Parsed(), value
    layout = "".join(text for _, text in tokens)
    for index, (is_element, text) in enumerate(tokens):
        try:
            if not is_element:
                rest = _skip(rest, text)
                continue
            next_is_fraction = index + 1 < len(tokens) and tokens[index + 1][1][:1] in ".,"
            rest = read_element(parsed, text, rest, next_is_fraction)
        except Mismatch as err:
            raise TimeError(f'parsing time "{value}" as "{layout}": cannot parse '
                            f'"{err.rest}" as "{text}"') from None
        except TimeError as err:
            raise TimeError(f'parsing time "{value}": {err}') from None
    if rest:
        raise TimeError(f'parsing time "{value}": extra text: "{rest}"')
    if parsed.pm is not None:
        if parsed.pm and parsed.hour < 12:
            parsed.hour += 12
        elif not parsed.pm and parsed.hour == 12:
            parsed.hour = 0
    return parsed


def _skip(rest: str, literal: str) -> str:
    while literal:
        if literal[0] == " ":
            if rest and rest[0] != " ":
                raise Mismatch(rest)
            literal, rest = literal.lstrip(" "), rest.lstrip(" ")
            continue
        if not rest or rest[0] != literal[0]:
            raise Mismatch(rest)
        literal, rest = literal[1:], rest[1:]
    return rest


def resolve_date(p: Parsed, year: int) -> datetime.datetime:
    """The naive date and time (no zone applied) with `year` for a layout without one; a day
    of the year (002) picks month and day; Go's range checks."""
    if p.year is None and p.month == 2 and p.day == 29 and not calendar.isleap(year):
        p.month, p.day = 3, 1  # Go's year 0 is a leap year; adding the years rolls over
    year = year if p.year is None else p.year
    if p.yday:
        first = datetime.datetime(year, 1, 1)
        if p.yday > (366 if calendar.isleap(year) else 365):
            raise TimeError("day-of-year out of range")
        day = first + datetime.timedelta(days=p.yday - 1)
        p.month, p.day = day.month, day.day
    if not 1 <= p.day <= calendar.monthrange(year, p.month)[1]:
        raise TimeError("day out of range")
    return datetime.datetime(year, p.month, p.day, p.hour, p.minute, p.second)
