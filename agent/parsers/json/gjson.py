"""json_query: the subset of GJSON path syntax (github.com/tidwall/gjson) that picks a part of
a document, applied to the parsed document.

Supported: keys separated by dots, `\\` escaping a special character (`fav\\.movie`), `*` and
`?` wildcards in a key (the first matching key), array indexes (`friends.1`), `#` (the length
of an array), `#.rest` (rest applied to every element), and queries `#(key op value)` (the
first match) and `#(key op value)#` (every match) with ==, !=, <, <=, >, >=, % (like) and !%
(not like) against a quoted string, a number, true, false or null, or `#(key)` (has the key).
Not supported (refused by `agent check`): modifiers (@reverse), pipes (|), multipaths
([a,b], {a,b}), nested queries and literals (!true).
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any, List, NamedTuple, Optional, Tuple

MISSING = object()
_QUERY = re.compile(r"#\((?P<key>(?:\\.|[^=!<>%)])*?)\s*(?:(?P<op>==|!=|<=|>=|<|>|!%|%)\s*"
                    r"(?P<value>\"(?:\\.|[^\"])*\"|[^)]*?))?\s*\)(?P<all>#)?")


class PathError(ValueError):
    pass


class Step(NamedTuple):
    kind: str  # "key", "count", "each", "query"
    key: str = ""
    op: str = ""
    value: Any = None
    every: bool = False


def compile_path(path: str) -> List[Step]:
    """The steps of a path; PathError naming what is not supported."""
    if any(path.startswith(c) for c in "@[{!") or "|" in _unescaped(path):
        raise PathError("modifiers (@), pipes (|), multipaths ([..], {..}) and literals (!) "
                        "are not supported")
    steps, rest = [], path
    while rest:
        if rest.startswith("#("):
            match = _QUERY.match(rest)
            if match is None:
                raise PathError(f"cannot read the query {rest!r}")
            steps.append(_query_step(match))
            rest = rest[match.end():]
        else:
            part, rest = _component(rest)
            steps.append(Step("count") if part == "#" and rest == "" else
                         Step("each") if part == "#" else Step("key", part))
            continue
        if rest.startswith("."):
            rest = rest[1:]
        elif rest:
            raise PathError(f"expected a dot after the query, got {rest!r}")
    return steps


def _unescaped(path: str) -> str:
    return re.sub(r"\\.", "", path)


def _component(rest: str) -> Tuple[str, str]:
    """The next key (escapes resolved, wildcards kept as such) and what follows its dot."""
    out, i = [], 0
    while i < len(rest) and rest[i] != ".":
        if rest[i] == "\\" and i + 1 < len(rest):
            i += 1
            out.append("\\" + rest[i] if rest[i] in "*?" else rest[i])
        else:
            out.append(rest[i])
        i += 1
    return "".join(out), rest[i + 1:] if i < len(rest) else ""


def _query_step(match: re.Match) -> Step:
    key = match.group("key").replace("\\", "")
    op = match.group("op") or ""
    value = None
    if op:
        raw = match.group("value").strip()
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw  # gjson compares an unquoted word as a string
    return Step("query", key, op, value, bool(match.group("all")))


def query(document: Any, steps: List[Step]) -> Any:
    """The selected value, or MISSING when the path leads nowhere."""
    current = document
    for index, step in enumerate(steps):
        if current is MISSING:
            return MISSING
        if step.kind == "key":
            current = _child(current, step.key)
        elif step.kind == "count":
            current = len(current) if isinstance(current, list) else MISSING
        elif step.kind == "each":
            if not isinstance(current, list):
                return MISSING
            rest = steps[index + 1:]
            found = [query(item, rest) for item in current]
            return [value for value in found if value is not MISSING]
        else:
            current = _select(current, step, steps[index + 1:])
            if step.every:
                return current
    return current


def _child(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        pattern = _wildcard(key)
        if pattern is None:
            return value.get(key.replace("\\", ""), MISSING)
        for name, child in value.items():
            if fnmatch.fnmatchcase(name, pattern):
                return child
        return MISSING
    if isinstance(value, list) and key.isdigit():
        index = int(key)
        return value[index] if index < len(value) else MISSING
    return MISSING


def _wildcard(key: str) -> Optional[str]:
    """An fnmatch pattern for a key with an unescaped * or ?; None for a plain key."""
    if not re.search(r"(?<!\\)[*?]", key):
        return None
    return re.sub(r"\\([*?])", r"[\1]", key.replace("[", "[[]"))


def _select(value: Any, step: Step, rest: List[Step]) -> Any:
    if not isinstance(value, list):
        return MISSING
    matches = [item for item in value if _matches(item, step)]
    if not step.every:
        return matches[0] if matches else MISSING
    found = [query(item, rest) for item in matches]
    return [value for value in found if value is not MISSING]


def _matches(item: Any, step: Step) -> bool:
    target = query(item, compile_path(step.key)) if step.key else item
    if target is MISSING:
        return False
    if not step.op:
        return True
    return _compare(target, step.op, step.value)


def _compare(left: Any, op: str, right: Any) -> bool:
    if op in ("%", "!%"):
        like = isinstance(left, str) and fnmatch.fnmatchcase(left, str(right))
        return like if op == "%" else not like
    if op in ("==", "!="):
        equal = _same(left, right)
        return equal if op == "==" else not equal
    comparable = _comparable(left, right)
    if comparable is None:
        return False
    a, b = comparable
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(left: Any, right: Any) -> bool:
    if _number(left) and _number(right):
        return left == right
    return type(left) is type(right) and left == right


def _comparable(left: Any, right: Any) -> Optional[Tuple[Any, Any]]:
    if _number(left) and _number(right):
        return left, right
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    return None
