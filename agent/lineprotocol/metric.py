"""The one data type every input produces and every output consumes."""

from __future__ import annotations

from typing import Dict, Optional, Union

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)
UINT64_MAX = (1 << 64) - 1


class UInt(int):
    """An unsigned 64-bit field value (Telegraf's uint64), kept apart from signed ints."""

    __slots__ = ()

    __str__ = int.__repr__  # f"{value}" gives the digits

    def __repr__(self) -> str:
        return f"UInt({int.__repr__(self)})"


FieldValue = Union[int, float, str, bool]


class Metric:
    """A measurement with tags (str -> str), fields and a time in nanoseconds.

    ``time`` may be None until the runner stamps it with the gather time.
    """

    __slots__ = ("name", "tags", "fields", "time")

    def __init__(
        self,
        name: str,
        fields: Dict[str, FieldValue],
        tags: Optional[Dict[str, str]] = None,
        time: Optional[int] = None,
    ) -> None:
        self.name = name
        self.fields = fields
        self.tags = tags if tags is not None else {}
        self.time = time

    def copy(self) -> Metric:
        return Metric(self.name, dict(self.fields), dict(self.tags), self.time)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Metric):
            return NotImplemented
        return (
            self.name == other.name
            and self.tags == other.tags
            and self.time == other.time
            and _typed(self.fields) == _typed(other.fields)
        )

    def __repr__(self) -> str:
        return f"Metric({self.name!r}, {self.fields!r}, tags={self.tags!r}, time={self.time!r})"


def _typed(fields: Dict[str, FieldValue]) -> Dict[str, tuple]:
    """Fields with their kinds, so 1 (int), 1u, 1.0 and True never compare equal."""
    return {k: (type(v), v) for k, v in fields.items()}


def field_kind(value: FieldValue) -> str:
    """The line-protocol kind of a field value: int, uint, float, str or bool."""
    kind = type(value)
    if kind is bool:
        return "bool"
    if kind is UInt:
        return "uint"
    if kind is int:
        return "int"
    if kind is float:
        return "float"
    if kind is str:
        return "str"
    raise TypeError(f"unsupported field type {kind.__name__}")
