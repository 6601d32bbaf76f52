"""Validate the common line-protocol line with one regular expression, without parsing it.

`agent write` passes such lines through byte for byte (only a missing timestamp is added), which
is several times faster than parsing and re-serializing. A line that does not match (quotes,
backslashes, tabs, uint values, 19-digit numbers, errors) goes through the strict parser.
"""

from __future__ import annotations

import re
from typing import Optional

_NAME = r"[^#,\s\"\\][^,\s\"\\]*"
_KEY = r"[^,=\s\"\\]+"
_NUMBER = r"-?(?:\d{1,18}(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|-?\d{1,18}i"
_BOOL = r"t|T|true|True|TRUE|f|F|false|False|FALSE"
_FIELD = rf"{_KEY}=(?:{_NUMBER}|{_BOOL})(?=[, ]|$)"
_SIMPLE = re.compile(
    # Timestamps of up to 19 digits below 9e18 (int64 ends at 9.22e18): every ns date to 2255.
    rf"({_NAME}(?:,{_KEY}={_KEY})* {_FIELD}(?:,{_FIELD})*)( -?(?:\d{{1,18}}|[1-8]\d{{18}}))?"
)


def simple_line(line: str) -> Optional[bool]:
    """True: a valid line with a timestamp; False: valid without one; None: not simple."""
    match = _SIMPLE.fullmatch(line)
    if match is None:
        return None
    return match.group(2) is not None
