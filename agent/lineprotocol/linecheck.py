"""Validate the common line-protocol line with one regular expression, without parsing it.

`agent write` passes such lines through byte for byte (only a missing timestamp is added), which
is several times faster than parsing and re-serializing; a chunk of thousands of timestamped
lines is checked in one call. A line that does not match (quotes,
backslashes, tabs, uint values, 19-digit numbers, errors) goes through the strict parser.
"""

from __future__ import annotations

import re
from typing import Optional

_NAME = r"[^#,\s\"\\][^,\s\"\\]*"
_KEY = r"[^,=\s\"\\]+"
_EXPONENT = r"(?:[eE][-+]?[0-9]+)?"
# An int (up to 18 digits, so always within int64) or a float; one alternation with a shared
# prefix, so the regex engine never re-reads digits.
_NUMBER = rf"-?(?:[0-9]{{1,18}}(?:i|(?:\.[0-9]*)?{_EXPONENT})|\.[0-9]+{_EXPONENT})"
_BOOL = r"t|T|true|True|TRUE|f|F|false|False|FALSE"
# Timestamps of up to 19 digits below 9e18 (int64 ends at 9.22e18): every ns date to 2255.
_TIME = r" -?(?:[0-9]{1,18}|[1-8][0-9]{18})"


def _line(field_end: str) -> str:
    field = rf"{_KEY}=(?:{_NUMBER}|{_BOOL})(?={field_end})"
    return rf"{_NAME}(?:,{_KEY}={_KEY})* {field}(?:,{field})*"


_SIMPLE = re.compile(rf"({_line('[, ]|$')})({_TIME})?")
# Many timestamped simple lines, each ending in a newline: a whole chunk in one call.
_BLOCK_LINE = _line(r"[, \n]")
_BLOCK = re.compile(rf"(?:{_BLOCK_LINE}{_TIME}\n)+")


def simple_line(line: str) -> Optional[bool]:
    """True: a valid line with a timestamp; False: valid without one; None: not simple."""
    match = _SIMPLE.fullmatch(line)
    if match is None:
        return None
    return match.group(2) is not None


def timestamped_block(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is only simple lines with timestamps, each ending in \\n."""
    return _BLOCK.fullmatch(text, start, end) is not None
