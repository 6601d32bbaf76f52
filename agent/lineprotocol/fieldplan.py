"""Compiled field sets: the serializer's fast path.

An input gathers the same field names with the same kinds every time (mem: 32 uints and 2
floats). For each such shape one small function is generated: a %-template with the escaped
keys and type suffixes in place, the float, string and bool conversions, and the int range
checks. Rendering a metric is then a few comparisons and one C-level % call. Anything it
cannot render exactly (a NaN, an int outside int64, an unwritable key) returns None and the
serializer's general path decides, so both paths always give the same bytes.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from agent.lineprotocol.metric import INT64_MAX, INT64_MIN, UInt

# render(header, field values in key order, time or None) -> the whole line, or None.
Render = Callable[[str, Iterable[object], Optional[int]], Optional[str]]

_STRING_ESCAPES = str.maketrans({'"': '\\"', "\\": "\\\\"})


def format_float(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, no exponent."""
    text = repr(value)
    if text.endswith(".0"):
        return text[:-2]
    if "e" in text:
        from decimal import Decimal

        text = format(Decimal(text), "f")
    return text


def compile_render(prefixes: Sequence[str], kinds: Sequence[type], uint_support: bool,
                   order: Sequence[int]) -> Render:
    """The render function of one shape, generated once.

    Only variable names and numbers go into the generated source; the keys live in the
    %-template, passed as data, so no field name can ever change the code.
    """
    slots: List[str] = []
    checks: List[str] = []
    args: List[str] = []
    ints = [f"v{i}" for i in order if kinds[i] is int]
    uints = [f"v{i}" for i in order if kinds[i] is UInt]
    if ints:
        checks.append(f"if {_extreme('max', ints)} > {INT64_MAX}"
                      f" or {_extreme('min', ints)} < {INT64_MIN}: return None")
    if uints:
        cap = (1 << 64) - 1 if uint_support else INT64_MAX  # clamped by the general path
        checks.append(f"if {_extreme('max', uints)} > {cap}: return None")
    for i in order:
        kind, name = kinds[i], f"v{i}"
        key = prefixes[i].replace("%", "%%")
        if kind is float:
            checks.extend(_float_lines(name))
            slots.append(key + "%s")
            args.append(f"f{i}")
        elif kind is str:
            slots.append(key + '"%s"')
            # translate() only when there is something to escape: most strings have not.
            args.append(f"({name}.translate(ESCAPES) if '\"' in {name} or '\\\\' in {name}"
                        f" else {name})")
        elif kind is bool:
            slots.append(key + "%s")
            args.append(f"('true' if {name} else 'false')")
        else:
            slots.append(key + ("%du" if kind is UInt and uint_support else "%di"))
            args.append(name)
    template = "%s" + ",".join(slots)
    unpack = ", ".join(f"v{i}" for i in range(len(kinds)))
    values = ", ".join(args)
    body = "\n    ".join([
        f"{unpack}, = values", *checks,
        f"if time is None: return UNTIMED % (header, {values})",
        f"return TIMED % (header, {values}, time)",
    ])
    namespace = {"TIMED": template + " %d\n", "UNTIMED": template + "\n",
                 "ESCAPES": _STRING_ESCAPES, "format_float": format_float}
    exec(f"def render(header, values, time):\n    {body}\n", namespace)  # noqa: S102
    return namespace["render"]


def _extreme(function: str, names: List[str]) -> str:
    return names[0] if len(names) == 1 else f"{function}({', '.join(names)})"


def _float_lines(name: str) -> List[str]:
    """format_float inlined: repr is all a common float costs. 'nan', 'inf' and exponents all
    contain an n or an e; NaN and Inf go to the general path (which leaves them out)."""
    text = "f" + name[1:]
    return [
        f"{text} = repr({name}).removesuffix('.0')",
        f"if 'e' in {text} or 'n' in {text}:",
        f"    if {name} - {name} != 0.0: return None",
        f"    {text} = format_float({name})",
    ]


def build_plan(keys: Tuple[str, ...], kinds: Tuple[type, ...], prefix_of: Callable[[str], str],
               uint_support: bool, sort_fields: bool) -> Render:
    """The render function for this shape; one that always declines when some field needs the
    general path every time (an unwritable key, a kind the serializer does not know, no field)."""
    if not keys or any(kind not in (int, UInt, float, str, bool) for kind in kinds):
        return decline
    prefixes = [prefix_of(key) for key in keys]
    if not all(prefixes):
        return decline
    order = range(len(keys))
    if sort_fields:
        order = sorted(order, key=keys.__getitem__)
    return compile_render(prefixes, kinds, uint_support, order)


def decline(header: str, values: Iterable[object], time: Optional[int]) -> None:
    """The render of a shape that always takes the general path."""
    return None


PlanCache = Dict[Tuple, Render]
