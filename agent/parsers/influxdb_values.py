"""The values of a line of line protocol as InfluxDB's server reads them (models/points.go):
numbers (int with i, unsigned with u, floats within float64's range, no NaN), booleans, quoted
strings, and the unescaping of keys. Used by influxdb_scan."""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

from agent.lineprotocol.metric import INT64_MAX, INT64_MIN, UINT64_MAX, FieldValue, UInt


class Invalid(Exception):
    """The line is refused; str() is InfluxDB's reason."""


NUMERIC = frozenset("0123456789.")  # what may start a number (with - and N)
_BOOLS = {"t": True, "T": True, "true": True, "True": True, "TRUE": True,
          "f": False, "F": False, "false": False, "False": False, "FALSE": False}


def scan_number(buf: str, i: int, uint: bool) -> int:
    start, end = i, len(buf)
    if buf[i] == "-":
        i += 1
        if i == end:
            raise Invalid("invalid number")
    is_int = is_uint = decimal = scientific = False
    while i < end and buf[i] not in ", ":
        char = buf[i]
        if char in "iu" and i > start and not (is_int or is_uint):
            is_int, is_uint = char == "i", char == "u"
            i += 1
            continue
        if char == ".":
            if decimal:
                raise Invalid("invalid number")
            decimal = True
        if i > start and char in "eE":
            scientific = True
            i += 1
            continue
        if char in "+-" and buf[i - 1] in "eE":
            i += 1
            continue
        if char not in NUMERIC:
            raise Invalid("invalid number")
        i += 1
    _check_number(buf[start:i], is_int, is_uint, decimal, scientific, uint)
    return i


def _check_number(raw: str, is_int: bool, is_uint: bool, decimal: bool, scientific: bool,
                  uint: bool) -> None:
    if (is_int or is_uint) and (decimal or scientific):
        raise Invalid("invalid number")
    digits = len(raw) - is_int - decimal - (raw[0] == "-")
    if digits == 0:
        raise Invalid("invalid number")
    if is_int:
        if raw[-1] != "i":
            raise Invalid("invalid number")
        number = raw[:-1]
        if len(number) >= 19 and not INT64_MIN <= int(number) <= INT64_MAX:
            raise Invalid(f"unable to parse integer {number}: strconv.ParseInt: parsing "
                          f'"{number}": value out of range')
    elif is_uint:
        if not uint or raw[-1] != "u" or raw[0] == "-":
            raise Invalid("invalid number")
        number = raw[:-1]
        if len(number) >= 20 and int(number) > UINT64_MAX:
            raise Invalid(f"unable to parse unsigned {number}: strconv.ParseUint: parsing "
                          f'"{number}": value out of range')
    elif (scientific or len(raw) >= 25) and _float(raw) is None:
        raise Invalid("invalid float")


def _float(raw: str) -> Optional[float]:
    try:
        value = float(raw)
    except ValueError:
        return None
    return None if math.isinf(value) else value


def scan_boolean(buf: str, i: int) -> int:
    start = i
    if buf[i] not in "tfTF":
        raise Invalid("invalid boolean")
    i += 1
    while i < len(buf) and buf[i] not in ", ":
        i += 1
    if buf[start:i] not in _BOOLS:
        raise Invalid("invalid boolean")
    return i


def field_values(pairs: List[Tuple[str, str]]
                  ) -> Tuple[Dict[str, FieldValue], List[Tuple[str, type]]]:
    fields: Dict[str, FieldValue] = {}
    order = []
    for raw_key, raw in pairs:
        key = unescape(raw_key, ',"= ')
        value = _value(raw)
        fields[key] = value  # the last one wins, as in InfluxDB
        order.append((key, type(value)))
    return fields, order


def _value(raw: str) -> FieldValue:
    first, last = raw[0], raw[-1]
    if first == '"':
        return _unescape_string(raw[1:-1])
    if first in "tTfF":
        return _BOOLS[raw]
    if last == "i":
        return int(raw[:-1])
    if last == "u":
        return UInt(int(raw[:-1]))
    return float(raw)


def _unescape_string(text: str) -> str:
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in '\\"':
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out)


def unescape(text: str, specials: str) -> str:
    if "\\" not in text:
        return text
    for char in specials:
        text = text.replace("\\" + char, char)
    return text
