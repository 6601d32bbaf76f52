"""Connection addresses parsed exactly as libpq parses them (fe-connect.c: conninfo_parse and
conninfo_uri_parse_options), without libpq: key=value strings and postgres:// URIs.

Nothing here imports psycopg, and no error message built here quotes a value from the address,
so a password can never leak through them. The tests hold both parsers to libpq's own
(psycopg.conninfo.conninfo_to_dict) on generated addresses.
"""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple

DEFAULT_ADDRESS = "host=localhost sslmode=disable"
URL_PREFIXES = ("postgresql://", "postgres://")
SPACES = " \t\n\v\f\r"  # C isspace() on bytes: libpq's blanks (not Unicode spaces)
# Keys whose values must never be seen: compared without regard to case, so that no spelling
# a server or a pooler might accept gets through.
SECRET_KEYS = frozenset({"password", "sslpassword"})


class AddressError(ValueError):
    """The address cannot be parsed; the message never contains a value from it."""


class Pair(NamedTuple):
    key: str
    value: str
    start: int  # where the keyword starts in the text
    end: int  # just after the value (after its closing quote, if quoted)


def normalize(address: str) -> str:
    """Telegraf's default: an empty address or "localhost" means a local server without TLS."""
    return DEFAULT_ADDRESS if address in ("", "localhost") else address


def is_url(address: str) -> bool:
    return address.startswith(URL_PREFIXES)


def is_secret(key: str) -> bool:
    return key.lower() in SECRET_KEYS


def parse(address: str) -> Dict[str, str]:
    """The address's parameters, as libpq reads them (URI or key=value; the last of a
    repeated key wins)."""
    return parse_url(address) if is_url(address) else parse_keyword_value(address)


def parse_keyword_value(text: str) -> Dict[str, str]:
    return {pair.key: pair.value for pair in keyword_value_pairs(text)}


def keyword_value_pairs(text: str) -> List[Pair]:
    """libpq's key=value syntax: blanks around `=` allowed, a value single-quoted or not,
    backslash escaping the next character (a trailing one is dropped)."""
    pairs: List[Pair] = []
    pos, end = 0, len(text)
    while True:
        pos = _skip_spaces(text, pos)
        if pos >= end:
            return pairs
        start = pos
        while pos < end and text[pos] != "=" and text[pos] not in SPACES:
            pos += 1
        key = text[start:pos]
        pos = _skip_spaces(text, pos)
        if not key or pos >= end or text[pos] != "=":
            raise AddressError(f"missing \"=\" after keyword number {len(pairs) + 1}")
        value, pos = _value(text, _skip_spaces(text, pos + 1), len(pairs) + 1)
        pairs.append(Pair(key, value, start, pos))


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in SPACES:
        pos += 1
    return pos


def _value(text: str, pos: int, number: int) -> Tuple[str, int]:
    """(the value, the position just after it)."""
    quoted = pos < len(text) and text[pos] == "'"
    pos += quoted
    chars: List[str] = []
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            chars.append(text[pos + 1:pos + 2])
            pos += 2
            continue
        if quoted and char == "'":
            return "".join(chars), pos + 1
        if not quoted and char in SPACES:
            return "".join(chars), pos
        chars.append(char)
        pos += 1
    if quoted:
        raise AddressError(f"unterminated quoted value for keyword number {number}")
    return "".join(chars), len(text)


def parse_url(url: str) -> Dict[str, str]:
    """libpq's URI syntax: postgres://user:password@host1:port1,[::1]:port2/dbname?key=value,
    every part percent-decoded (and nothing else: a "+" stays a "+")."""
    rest = url[len(next(p for p in URL_PREFIXES if url.startswith(p))):]
    params: Dict[str, str] = {}
    at = rest.find("@", 0, rest.find("/") if "/" in rest else len(rest))
    if at >= 0:  # the first "@" before any "/", as libpq looks for it
        user, colon, password = rest[:at].partition(":")
        _store(params, "user", user)
        if colon:
            _store(params, "password", password)
        rest = rest[at + 1:]
    hosts, ports, rest = _netloc(rest)
    _store(params, "host", hosts)
    _store(params, "port", ports)
    path, question, query = rest.partition("?")
    if path.startswith("/"):
        _store(params, "dbname", path[1:])
    if question:
        _query(params, query)
    return params


def _netloc(rest: str) -> Tuple[str, str, str]:
    """(hosts, ports, what follows) of host[:port] items separated by commas; ports has a
    comma per host separator even when empty (",": two hosts, default ports)."""
    hosts: List[str] = []
    ports: List[str] = []
    pos = 0
    while True:
        host, pos = _host(rest, pos)
        hosts.append(host)
        port = ""
        if pos < len(rest) and rest[pos] == ":":
            stop = _find_any(rest, "/?,", pos + 1)
            port, pos = rest[pos + 1:stop], stop
        ports.append(port)
        if pos >= len(rest) or rest[pos] != ",":
            break
        pos += 1
    return ",".join(hosts), ",".join(ports), rest[pos:]


def _host(rest: str, pos: int) -> Tuple[str, int]:
    if pos < len(rest) and rest[pos] == "[":
        close = rest.find("]", pos)
        if close < 0:
            raise AddressError("no \"]\" after an IPv6 address in the URL")
        if close == pos + 1:
            raise AddressError("empty IPv6 address in the URL")
        if close + 1 < len(rest) and rest[close + 1] not in ":/?,":
            raise AddressError("unexpected character after an IPv6 address in the URL")
        return rest[pos + 1:close], close + 1
    stop = _find_any(rest, ":/?,", pos)
    return rest[pos:stop], stop


def _find_any(text: str, chars: str, pos: int) -> int:
    while pos < len(text) and text[pos] not in chars:
        pos += 1
    return pos


def _query(params: Dict[str, str], query: str) -> None:
    for item in query.split("&") if query else ():
        key, equals, value = item.partition("=")
        if not equals:
            raise AddressError("missing \"=\" in a URL query parameter")
        if "=" in value:
            raise AddressError("extra \"=\" in a URL query parameter")
        key, value = percent_decode(key), percent_decode(value)
        if key == "ssl" and value == "true":  # libpq's JDBC-compatible spelling
            key, value = "sslmode", "require"
        params[key] = value


def _store(params: Dict[str, str], key: str, encoded: str) -> None:
    """libpq leaves a URI part out when it is empty."""
    if encoded:
        params[key] = percent_decode(encoded)


def percent_decode(text: str) -> str:
    """libpq's conninfo_uri_decode: %XX only; %00 and malformed escapes are errors."""
    if "%" not in text:
        return text
    data, pos = bytearray(), 0
    raw = text.encode("utf-8")
    while pos < len(raw):
        if raw[pos] != 0x25:  # "%"
            data.append(raw[pos])
            pos += 1
            continue
        digits = raw[pos + 1:pos + 3]
        try:
            byte = int(digits, 16) if len(digits) == 2 and digits.isalnum() else -1
        except ValueError:
            byte = -1
        if byte < 0:
            raise AddressError("invalid percent-encoded token in the URL")
        if byte == 0:
            raise AddressError("forbidden %00 in the URL")
        data.append(byte)
        pos += 3
    return data.decode("utf-8", "replace")


def connection_database(tag: str, env: Mapping[str, str] = os.environ) -> str:
    """The `db` tag of rows without a datname (pg_stat_bgwriter), as Telegraf finds it:
    pgx.ParseConfig(server tag).Database, else "postgres"."""
    try:
        params = parse_keyword_value(tag)
    except AddressError:
        return "postgres"
    return params.get("dbname") or params.get("database") or env.get("PGDATABASE") or "postgres"


def secrets(params: Mapping[str, str]) -> List[str]:
    """Values that must never appear in a log line or an error message."""
    return [v for k, v in params.items() if is_secret(k) and v]


def redact(text: str, hidden: Optional[List[str]]) -> str:
    for secret in hidden or ():
        if secret:
            text = text.replace(secret, "***")
    return text
