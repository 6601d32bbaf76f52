"""The elements of a Go time layout (2006, 01, Jan, 15, 04, 05, .000, PM, MST, Z07:00, ...),
each read from the value as Go's time.Parse reads it into a Parsed."""

from __future__ import annotations

import calendar
import re
from typing import Callable, List, Optional, Tuple

_MONTHS = [calendar.month_name[i].lower() for i in range(1, 13)]


_DAYS = [calendar.day_name[i].lower() for i in range(7)]
# Longest first, as Go's nextStdChunk tries them.


_ZONE = re.compile(r"UTC|GMT(?:[+-]\d{1,2})?|ChST|MeST|[A-Z]{3,5}|[+-]\d{2}(?:\d{2})?")


class TimeError(ValueError):
    pass


class Mismatch(Exception):
    """The value does not fit the layout here; rest: the value from this point."""

    def __init__(self, rest: str) -> None:
        super().__init__(rest)
        self.rest = rest


class Parsed:
    """The fields of a parsed time; year None: the layout has none (Go's year 0)."""

    def __init__(self) -> None:
        self.year: Optional[int] = None
        self.month, self.day, self.yday = 1, 1, 0
        self.hour = self.minute = self.second = self.nanos = 0
        self.pm: Optional[bool] = None
        self.offset: Optional[int] = None  # seconds east of UTC, from the text
        self.zone_name = ""


def _number(rest: str, fixed: bool, width: int = 2) -> Tuple[int, str]:
    digits = len(rest) - len(rest.lstrip("0123456789"))
    take = width if fixed else min(digits, width)
    if digits < (width if fixed else 1):
        raise Mismatch(rest)
    return int(rest[:take]), rest[take:]


def _name(rest: str, names: List[str], short: bool) -> Tuple[int, str]:
    for index, name in enumerate(names):
        candidate = name[:3] if short else name
        if rest[:len(candidate)].lower() == candidate:
            return index, rest[len(candidate):]
    raise Mismatch(rest)


def read_element(p: Parsed, text: str, rest: str, next_is_fraction: bool) -> str:
    handler = _HANDLERS.get(text)
    if handler is not None:
        return handler(p, rest, next_is_fraction)
    if text[0] in ".,":
        return _fraction(p, rest, len(text) - 1, text[1] == "9")
    return _offset(p, rest, text)


def _year2(p: Parsed, rest: str, _: bool) -> str:
    year, rest = _number(rest, True)
    p.year = year + (1900 if year >= 69 else 2000)
    return rest


def _year4(p: Parsed, rest: str, _: bool) -> str:
    p.year, rest = _number(rest, True, 4)
    return rest


def _month(fixed: bool) -> Callable:
    def handle(p: Parsed, rest: str, _: bool) -> str:
        p.month, rest = _number(rest, fixed)
        if not 1 <= p.month <= 12:
            raise TimeError("month out of range")
        return rest
    return handle


def _month_name(short: bool) -> Callable:
    def handle(p: Parsed, rest: str, _: bool) -> str:
        index, rest = _name(rest, _MONTHS, short)
        p.month = index + 1
        return rest
    return handle


def _weekday(short: bool) -> Callable:
    return lambda p, rest, _: _name(rest, _DAYS, short)[1]


def _day(fixed: bool, under: bool = False) -> Callable:
    def handle(p: Parsed, rest: str, _: bool) -> str:
        if under and rest[:1] == " ":
            rest = rest[1:]
        p.day, rest = _number(rest, fixed)
        return rest
    return handle


def _yday(fixed: bool) -> Callable:
    def handle(p: Parsed, rest: str, _: bool) -> str:
        if not fixed:  # "__2": up to two leading spaces
            stripped = len(rest) - len(rest.lstrip(" "))
            rest = rest[min(stripped, 2):]
        p.yday, rest = _number(rest, fixed, 3)
        return rest
    return handle


def _clock(attr: str, fixed: bool, limit: int, twelve: bool = False) -> Callable:
    def handle(p: Parsed, rest: str, next_is_fraction: bool) -> str:
        number, rest = _number(rest, fixed)
        if number > limit or (twelve and number > 12):
            raise TimeError(f"{attr} out of range")
        setattr(p, attr, number)
        if attr == "second" and not next_is_fraction and rest[:1] in (".", ",") \
                and rest[1:2].isdigit():
            digits = len(rest[1:]) - len(rest[1:].lstrip("0123456789"))
            return _fraction(p, rest, digits, False)
        return rest
    return handle


def _pm(upper: bool) -> Callable:
    def handle(p: Parsed, rest: str, _: bool) -> str:
        word = rest[:2]
        choices = ("AM", "PM") if upper else ("am", "pm")
        if word not in choices:
            raise Mismatch(rest)
        p.pm = word == choices[1]
        return rest[2:]
    return handle


def _zone(p: Parsed, rest: str, _: bool) -> str:
    match = _ZONE.match(rest)
    if match is None:
        raise Mismatch(rest)
    name = match.group()
    if name == "UTC":
        p.offset = 0
    elif name.startswith("GMT") and len(name) > 3:
        p.offset = int(name[3:]) * 3600
    elif name[0] in "+-":
        p.offset = _signed(name[0], int(name[1:3]), int(name[3:5] or 0), 0)
    else:
        p.zone_name = name
    return rest[len(name):]


def _offset(p: Parsed, rest: str, text: str) -> str:
    if text[0] == "Z" and rest[:1] == "Z":
        p.offset = 0
        return rest[1:]
    shape = text[1:]  # e.g. "07:00", "0700", "07"
    pattern = re.escape(shape).replace("07", r"(\d\d)").replace("00", r"(\d\d)")
    match = re.match(r"([+-])" + pattern, rest)
    if match is None:
        raise Mismatch(rest)
    numbers = [int(g) for g in match.groups()[1:]] + [0, 0]
    p.offset = _signed(match.group(1), numbers[0], numbers[1], numbers[2])
    return rest[match.end():]


def _signed(sign: str, hours: int, minutes: int, seconds: int) -> int:
    total = hours * 3600 + minutes * 60 + seconds
    return -total if sign == "-" else total


def _fraction(p: Parsed, rest: str, digits: int, optional: bool) -> str:
    if optional:
        if len(rest) < 2 or rest[0] not in ".," or not rest[1].isdigit():
            return rest
        digits = len(rest[1:]) - len(rest[1:].lstrip("0123456789"))
    text = rest[1:1 + digits]
    if rest[:1] not in (".", ",") or len(text) < digits or not text.isdigit():
        raise Mismatch(rest)
    p.nanos = int((text + "000000000")[:9])
    return rest[1 + digits:]


_HANDLERS = {
    "2006": _year4, "06": _year2, "January": _month_name(False), "Jan": _month_name(True),
    "01": _month(True), "1": _month(False), "Monday": _weekday(False), "Mon": _weekday(True),
    "02": _day(True), "2": _day(False), "_2": _day(False, under=True),
    "002": _yday(True), "__2": _yday(False),
    "15": _clock("hour", False, 23), "03": _clock("hour", True, 12, True),
    "3": _clock("hour", False, 12, True), "04": _clock("minute", True, 59),
    "4": _clock("minute", False, 59), "05": _clock("second", True, 59),
    "5": _clock("second", False, 59), "PM": _pm(True), "pm": _pm(False), "MST": _zone,
}
