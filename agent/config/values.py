"""One table's option values: ${VAR} expansion, secret references, conversion to each
option's kind, and the problems and warnings found on the way."""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, Tuple

from agent.config import secrets
from agent.config.variables import expand_value
from agent.plugin.options import Option

Report = Callable[[str, str], None]  # (key, message)
_WHOLE_REFERENCE = re.compile(r"\$(?:[A-Za-z_]\w*|\{[A-Za-z_]\w*\})")


class ValueChecker:
    """Converts tables for one config; problem(key, message) and warning(key, message) are
    bound per table by the caller."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.secrets: List[str] = []  # resolved secret values, kept out of every message

    def expand(self, raw: Any, key: str, problem: Report, warning: Report,
               secret: bool = False) -> Tuple[Any, bool]:
        """(the value with ${VAR}s expanded, whether that went without a problem)."""
        failed: List[str] = []

        def report(message: str) -> None:
            failed.append(message)
            problem(key, message)

        def unset(name: str, kept: bool) -> None:
            warning(key, _unset_message(name, kept, raw, secret))

        return expand_value(raw, self.env, report, unset), not failed

    def options(self, table: Dict[str, Any], schema: Tuple[Option, ...], problem: Report,
                warning: Report) -> Dict[str, Any]:
        """Every option of the schema: the table's value converted, or the default."""
        by_name = {o.name: o for o in schema}
        values = {o.name: o.default for o in schema}
        for key, raw in table.items():
            option = by_name.get(key)
            if option is None:
                problem(key, unknown_option(key, by_name))
                continue
            value, expanded = self.expand(raw, key, problem, warning, option.secret)
            if not expanded:
                continue  # the variable's problem is the one to report, not its empty value
            try:
                values[key] = option.convert(self._secret_refs(value, option, schema, key,
                                                               problem))
            except ValueError as err:
                problem(key, _hide(str(err), value) if option.secret else str(err))
        return values

    def _secret_refs(self, value: Any, option: Option, schema: Tuple[Option, ...], key: str,
                     problem: Report) -> Any:
        """Resolve @{store:key} in a secret option; anywhere else a reference is a problem."""
        if isinstance(value, list):
            return [self._secret_refs(v, option, schema, key, problem) for v in value]
        if isinstance(value, dict):
            return {k: self._secret_refs(v, option, schema, key, problem)
                    for k, v in value.items()}
        if not isinstance(value, str):
            return value
        if option.secret:
            return secrets.resolve(value, self.env, lambda m: problem(key, m), self.secrets)
        reference = secrets.REFERENCE.search(value) if "@{" in value else None
        if reference:
            names = ", ".join(o.name for o in schema if o.secret) or "none here"
            problem(key, f"{reference.group(0)}: secret references are resolved only in secret "
                         f"options ({names})")
        return value


def _hide(message: str, value: Any) -> str:
    """A secret option's problem without its value (a token given as a number, say)."""
    return secrets.redact(message, [repr(value)[:40], str(value)])


def _unset_message(name: str, kept: bool, raw: Any, secret: bool) -> str:
    """Names the variable, never a value. In a secret, a $word inside the text may be part of
    a password rather than a variable: named only when the reference is the whole value."""
    if secret and not (isinstance(raw, str) and _WHOLE_REFERENCE.fullmatch(raw)):
        return ("a $ reference in this secret is not a set variable and stays as written "
                "(write $$ for a literal $)")
    if kept:
        return (f"environment variable {name} is not set: its reference stays in the value "
                f"as written (as in Telegraf)")
    return (f"environment variable {name} is not set: it expands to an empty string here "
            f"(Telegraf's rule after a ${{...:-...}} or inside a default)")


def unknown_option(key: str, known: Dict[str, Option]) -> str:
    import difflib  # only for a config with a typo: not on every start

    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown option {key!r}{hint}"
