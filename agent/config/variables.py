"""Environment variables in config values, exactly as Telegraf's default (strict) mode.

Telegraf (config/envvar.go, strict since v1.38) parses the TOML first and then substitutes
inside string values only, with compose-go's template rules (v1.20). So does this module:

- `$VAR` and `${VAR}`: the value (a name is a letter or _ then letters, digits, _; any case).
  `$VARbase` names `VARbase`, not `VAR`.
- `${VAR:-default}` the default when VAR is unset or empty; `${VAR-default}` only when unset.
- `${VAR:+alt}` alt when VAR is set and not empty, else the value (""); `${VAR+alt}` alt when
  VAR is set at all.
- `${VAR:?message}` an error (the config is refused) when VAR is unset or empty;
  `${VAR?message}` only when unset.
- `$$` is a literal `$`: `$$VAR` gives `$VAR`, `$${VAR}` gives `${VAR}`.
- An undeclared `$VAR` or `${VAR}` stays as written (`agent check` warns, naming it).
- What is not a reference stays as written: `${1}` (a regex group), `${ VAR}`, `$1`, a lone `$`.
- A default, alt or message is itself expanded, so `${A:-${B}}` falls back to B.

Telegraf's quirks are kept, so that a config gives the same values under both:
- a reference ends at the first `}` that closes its `${` (only `${` opens, a plain `{` does
  not): `${A:-x}y}` is A's value (or x) followed by `y}`;
- text after a reference with an operator, up to the last `}` on its line, is expanded like a
  default: an unset variable there becomes "" instead of staying as written;
- inside a default, alt or message an unset variable becomes "";
- a default, alt or message that is not valid (`${A:-${}`) keeps the whole reference as written.

One difference: when a `:?` or `?` reference fails, the message shown runs to the brace that
balances the reference, counting plain `{` and `}` too, so `${IV:?set IV, e.g. {10s}}` reports
`set IV, e.g. {10s}` where Telegraf reports `set IV, e.g. {10s`.
"""

from __future__ import annotations

import re
from typing import Any, Callable, List, Mapping, Optional, Tuple

# compose-go's pattern: $$, $name, ${name[op...]} (greedy to the last } on the line), or an
# invalid ${ (matched empty, so that it is kept as written).
_REFERENCE = re.compile(
    r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)"
    r"|\{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?].*)?)\}|(?P<invalid>)))"
)
_BRACED = re.compile(r"(?i)(?P<name>[_a-z][_a-z0-9]*)(?P<op>:?[-+?])?(?P<arg>.*)", re.DOTALL)

Report = Callable[[str], None]


class Missing(Exception):
    """A `:?`/`?` reference whose variable is unset (or empty, for `:?`)."""

    def __init__(self, name: str, message: str, empty: bool) -> None:
        state = "empty" if empty else "not set"
        super().__init__(f"${{{name}}} is {state}: {message}" if message
                         else f"${{{name}}} is required but {state}")


class _Invalid(Exception):
    """Not a valid reference (compose-go's InvalidTemplateError)."""


class _Result:
    """What expanding one string found: variables left unset (name, whole-reference)."""

    def __init__(self) -> None:
        self.kept: List[str] = []  # undeclared names kept as written
        self.emptied: List[str] = []  # unset names that became ""


def expand_env(text: str, env: Mapping[str, str], problem: Report,
               warn: Optional[Callable[[str, bool], None]] = None) -> str:
    """text with every reference expanded; problem(message) for each failed `:?`/`?`.

    warn(name, kept) is called for each unset variable: kept=True when its reference stays as
    written, False when Telegraf's rules made it "" (see the module docstring).
    """
    if "$" not in text:
        return text
    found = _Result()

    def replace(match: re.Match) -> str:
        reference = match.group(0)
        try:
            value, applied = _apply(reference, env, found)
        except _Invalid:
            return reference
        except Missing as err:
            problem(str(err))
            return ""
        if not applied:
            found.kept.append(match.group("named") or match.group("braced"))
            return reference
        return value

    expanded = _REFERENCE.sub(replace, text)
    if warn is not None:
        for name in found.kept:
            warn(name, True)
        for name in found.emptied:
            warn(name, False)
    return expanded


def expand_value(value: Any, env: Mapping[str, str], problem: Report,
                 warn: Optional[Callable[[str, bool], None]] = None) -> Any:
    """Expand every string inside value (lists and tables too; keys are never expanded)."""
    if isinstance(value, str):
        return expand_env(value, env, problem, warn)
    if isinstance(value, list):
        return [expand_value(v, env, problem, warn) for v in value]
    if isinstance(value, dict):
        return {k: expand_value(v, env, problem, warn) for k, v in value.items()}
    return value


def _apply(reference: str, env: Mapping[str, str], found: _Result) -> Tuple[str, bool]:
    """(value, applied) for one match of _REFERENCE; applied=False: undeclared, no operator."""
    close = _closing_brace(reference)
    head, rest = (reference[:close + 1], reference[close + 1:]) if close >= 0 else (reference, "")
    match = _REFERENCE.match(head)
    if match is None or match.group("invalid") is not None:
        raise _Invalid(reference)
    if match.group("escaped"):
        return "$", True
    named = match.group("named")
    if named:
        return env.get(named, ""), named in env
    parts = _BRACED.fullmatch(match.group("braced"))
    name, op, arg = parts.group("name"), parts.group("op"), parts.group("arg")
    if not op:
        return env.get(name, ""), name in env
    value = _operate(name, op, arg, env, found, reference)
    return value + _nested(rest, env, found), True


def _operate(name: str, op: str, arg: str, env: Mapping[str, str], found: _Result,
             reference: str) -> str:
    """The value of ${name<op>arg}; the argument is expanded first, as in compose-go."""
    inner = _Result()
    argument = _nested(arg, env, inner)
    value = env.get(name)
    unset_or_empty = value is None or (op.startswith(":") and value == "")
    if op.endswith("?"):
        if unset_or_empty:
            raise Missing(name, _full_message(reference, op, argument, env), value == "")
        return value
    if op.endswith("-"):
        if unset_or_empty:
            found.emptied.extend(inner.emptied)
            return argument
        return value
    # + and :+
    if not unset_or_empty:
        found.emptied.extend(inner.emptied)
        return argument
    return value or ""


def _nested(text: str, env: Mapping[str, str], found: _Result) -> str:
    """compose-go's plain Substitute, used for arguments and for text after a reference: an
    unset variable becomes "", and the first invalid or missing reference is an error."""
    if "$" not in text:
        return text

    def replace(match: re.Match) -> str:
        value, applied = _apply(match.group(0), env, found)
        if not applied:
            found.emptied.append(match.group("named") or match.group("braced"))
        return value

    return _REFERENCE.sub(replace, text)


def _closing_brace(text: str) -> int:
    """Index of the } that closes the ${ at 0 (only ${ opens), or -1 (compose-go's rule)."""
    depth, index = 0, 0
    while index < len(text):
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        if text.startswith("${", index):
            depth += 1
            index += 1
        index += 1
    return -1


def _full_message(reference: str, op: str, telegraf_message: str,
                  env: Mapping[str, str]) -> str:
    """The message of a failed :?/? reference, up to the brace that balances it (a plain {
    counts too), so that a } inside the message does not cut it short."""
    depth = 0
    for index, char in enumerate(reference):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                text = reference[reference.index(op) + len(op):index]
                try:
                    return _nested(text, env, _Result())
                except (_Invalid, Missing):
                    return text
    return telegraf_message
