"""Connection addresses: libpq key=value strings and postgres:// URLs, parsed without libpq, and
the `server` tag exactly as Telegraf derives it (plugins/common/postgresql/config.go).

Nothing here imports psycopg, and no error message built here quotes a value from the address,
so a password can never leak through them.
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, unquote

DEFAULT_ADDRESS = "host=localhost sslmode=disable"
URL_PREFIXES = ("postgres://", "postgresql://")

# Telegraf's sanitizer, with Go's \s and \S spelled out (Go: [\t\n\f\r ], not Unicode spaces).
_SPACE = r"[\t\n\f\r ]"
_SANITIZER = re.compile(
    rf"({_SPACE}|^)((?:password|sslcert|sslkey|sslmode|sslrootcert){_SPACE}?={_SPACE}?"
    rf"(?:(?:'(?:[^'\\]|\\.)*')|(?:[^\t\n\f\r ]+)))"
)
_KEY = re.compile(r"[^=\s]+")
_HOST_PORT = re.compile(r"(\[[^\]]*\]|[^:]*)(?::(\d*))?")


class AddressError(ValueError):
    """The address cannot be parsed; the message never contains a value from it."""


def normalize(address: str) -> str:
    """Telegraf's default: an empty address or "localhost" means a local server without TLS."""
    return DEFAULT_ADDRESS if address in ("", "localhost") else address


def is_url(address: str) -> bool:
    return address.startswith(URL_PREFIXES)


def parse(address: str) -> Dict[str, str]:
    """The address's parameters, as libpq reads them (URL or key=value)."""
    return parse_url(address) if is_url(address) else parse_keyword_value(address)


def parse_keyword_value(text: str) -> Dict[str, str]:
    """libpq's key=value syntax: `key = value`, values single-quoted or not, \\ escapes."""
    params: Dict[str, str] = {}
    pos, end = 0, len(text)
    while True:
        pos = _skip_spaces(text, pos)
        if pos >= end:
            return params
        match = _KEY.match(text, pos)
        key = match.group() if match else ""
        pos = _skip_spaces(text, pos + len(key))
        if not key or pos >= end or text[pos] != "=":
            raise AddressError(f"missing \"=\" after keyword number {len(params) + 1}")
        value, pos = _value(text, _skip_spaces(text, pos + 1), len(params) + 1)
        params[key] = value


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _value(text: str, pos: int, number: int) -> Tuple[str, int]:
    quoted = pos < len(text) and text[pos] == "'"
    pos += quoted
    chars: List[str] = []
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            chars.append(text[pos + 1])
            pos += 2
            continue
        if (quoted and char == "'") or (not quoted and char.isspace()):
            return "".join(chars), pos + 1
        chars.append(char)
        pos += 1
    if quoted:
        raise AddressError(f"unterminated quoted value for keyword number {number}")
    return "".join(chars), pos


def parse_url(url: str) -> Dict[str, str]:
    """libpq's URI syntax: postgres://user:password@host1:port1,host2/dbname?key=value."""
    rest = url.split("://", 1)[1]
    rest, _, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    userinfo, at, hostlist = authority.rpartition("@")
    params: Dict[str, str] = {}
    if at:
        user, colon, password = userinfo.partition(":")
        if user:
            params["user"] = unquote(user)
        if colon:
            params["password"] = unquote(password)
    hosts = _split_hosts(hostlist)
    if any(host for host, _ in hosts):
        params["host"] = ",".join(_unbracket(host) for host, _ in hosts)
    if any(port for _, port in hosts):
        params["port"] = ",".join(port for _, port in hosts)
    if slash and path:
        params["dbname"] = unquote(path)
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise AddressError("invalid query parameters in the URL") from None
    for key, value in pairs:
        params[key] = value
    if params.pop("ssl", None) == "true":  # libpq's JDBC-compatible spelling
        params.setdefault("sslmode", "require")
    return params


def _split_hosts(hostlist: str) -> List[Tuple[str, str]]:
    """[(host, port)] with hosts percent-decoded, IPv6 brackets kept, port "" when absent."""
    found = []
    for item in hostlist.split(",") if hostlist else []:
        match = _HOST_PORT.fullmatch(item)
        if match is None:
            raise AddressError("invalid host:port in the URL")
        found.append((unquote(match.group(1)), match.group(2) or ""))
    return found


def _unbracket(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def server_tag(address: str, outputaddress: str = "") -> str:
    """Telegraf's `server` tag: outputaddress, else the address (URLs as sorted key=value)
    without password, sslcert, sslkey, sslmode and sslrootcert."""
    if outputaddress:
        return outputaddress
    address = normalize(address)
    if is_url(address):
        address = url_to_keyword_value(address)
    return _SANITIZER.sub("", address).strip()


def url_to_keyword_value(url: str) -> str:
    """Telegraf's toKeyValue: user, password, host, port, dbname and every query parameter,
    quoted where needed, sorted as strings and joined with spaces."""
    scheme_rest = url.split("://", 1)[1]
    rest, _, query = scheme_rest.partition("?")
    authority, _, path = rest.partition("/")
    userinfo, at, hostlist = authority.rpartition("@")
    parts: List[str] = []
    if at:
        user, colon, password = userinfo.partition(":")
        parts.append("user=" + _quote(unquote(user)))
        if colon:
            parts.append("password=" + _quote(unquote(password)))
    # Go's net.SplitHostPort drops the brackets only when a port follows; empty hosts are skipped.
    hosts = [(_unbracket(h) if p else h, p) for h, p in _split_hosts(hostlist) if h or p]
    if hosts:
        parts.append("host=" + ",".join(host for host, _ in hosts))
    if any(port for _, port in hosts):
        parts.append("port=" + ",".join(port for _, port in hosts))
    database = unquote(path).lstrip("/")
    if database:
        parts.append("dbname=" + _quote(database))
    grouped: Dict[str, List[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        grouped.setdefault(key, []).append(value)
    parts.extend(f"{key}={_quote(','.join(values))}" for key, values in grouped.items())
    return " ".join(sorted(parts))


def _quote(value: str) -> str:
    if not any(char in value for char in " ='\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


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
    return [v for k, v in params.items() if k in ("password", "sslpassword") and v]


def redact(text: str, hidden: Optional[List[str]]) -> str:
    for secret in hidden or ():
        if secret:
            text = text.replace(secret, "***")
    return text
