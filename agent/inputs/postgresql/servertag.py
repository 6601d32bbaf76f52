"""The `server` tag as Telegraf derives it (plugins/common/postgresql/config.go), without its
leaks: Telegraf removes secrets with a regular expression, which keeps `password  =  x` (more
than one blank around "="), `sslpassword=x` and the tail of `password=a\\ b`. Here the address
is parsed as libpq parses it and every pair whose key is a secret, or one Telegraf drops
(sslcert, sslkey, sslmode, sslrootcert), is cut out, whatever its spelling; the rest of the
text is kept as written, so the tag equals Telegraf's wherever Telegraf's is right.
"""

from __future__ import annotations

import re
from typing import Dict, List, Tuple
from urllib.parse import parse_qsl, unquote

from agent.inputs.postgresql.dsn import (
    SECRET_KEYS,
    AddressError,
    is_url,
    keyword_value_pairs,
    normalize,
)

DROPPED_KEYS = SECRET_KEYS | {"sslcert", "sslkey", "sslmode", "sslrootcert"}
_GO_SPACES = "\t\n\f\r "  # Go's \s, which Telegraf's regular expression removes before a key
_HOST_PORT = re.compile(r"(\[[^\]]*\]|[^:]*)(?::(\d*))?")


def dropped(key: str) -> bool:
    return key.lower() in DROPPED_KEYS


def server_tag(address: str, outputaddress: str = "") -> str:
    """outputaddress, else the address (URLs as Telegraf's sorted key=value) without its
    secrets and ssl* keys. AddressError when libpq could not parse it either."""
    if outputaddress:
        return outputaddress
    address = normalize(address)
    if is_url(address):
        return " ".join(text for key, text in url_parts(address) if not dropped(key))
    return _without_dropped(address)


def _without_dropped(text: str) -> str:
    """From the first kept pair to the last, without the dropped pairs in between (and the one
    blank before each, as Telegraf's expression takes it)."""
    pairs = keyword_value_pairs(text)
    kept = [pair for pair in pairs if not dropped(pair.key)]
    if not kept:
        return ""
    pieces, pos, end = [], kept[0].start, kept[-1].end
    for pair in pairs:
        if dropped(pair.key) and kept[0].start < pair.start < end:
            cut = pair.start - (text[pair.start - 1] in _GO_SPACES)
            pieces.append(text[pos:max(pos, cut)])
            pos = pair.end
    pieces.append(text[pos:end])
    return "".join(pieces)


def url_to_keyword_value(url: str) -> str:
    """Telegraf's toKeyValue: user, password, host, port, dbname and every query parameter,
    quoted where needed, sorted as strings and joined with spaces."""
    return " ".join(text for _, text in url_parts(url))


def url_parts(url: str) -> List[Tuple[str, str]]:
    """(key, "key=value") in Telegraf's order, the URL read as Go's net/url reads it (the last
    "@" ends the user info, "+" in the query is a space)."""
    rest = url.split("://", 1)[1]
    rest, _, query = rest.partition("?")
    authority, _, path = rest.partition("/")
    userinfo, at, hostlist = authority.rpartition("@")
    parts: List[Tuple[str, str]] = []
    if at:
        user, colon, password = userinfo.partition(":")
        parts.append(("user", "user=" + _quote(unquote(user))))
        if colon:
            parts.append(("password", "password=" + _quote(unquote(password))))
    # Go's net.SplitHostPort drops the brackets only when a port follows; empty hosts are skipped.
    hosts = [(_unbracket(h) if p else h, p) for h, p in _split_hosts(hostlist) if h or p]
    if hosts:
        parts.append(("host", "host=" + ",".join(host for host, _ in hosts)))
    if any(port for _, port in hosts):
        parts.append(("port", "port=" + ",".join(port for _, port in hosts)))
    database = unquote(path).lstrip("/")
    if database:
        parts.append(("dbname", "dbname=" + _quote(database)))
    grouped: Dict[str, List[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        grouped.setdefault(key, []).append(value)
    parts.extend((key, f"{key}={_quote(','.join(values))}") for key, values in grouped.items())
    return sorted(parts, key=lambda part: part[1])


def _split_hosts(hostlist: str) -> List[Tuple[str, str]]:
    """[(host, port)], hosts percent-decoded and IPv6 brackets kept, port "" when absent."""
    found = []
    for item in hostlist.split(",") if hostlist else []:
        match = _HOST_PORT.fullmatch(item)
        if match is None:
            raise AddressError("invalid host:port in the URL")
        found.append((unquote(match.group(1)), match.group(2) or ""))
    return found


def _unbracket(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _quote(value: str) -> str:
    """Telegraf's quoteIfNecessary, which quotes for a space, "=", "'" or "\\" only; here for
    any of libpq's blanks and for an empty value too, so that the tag always reads back as
    the same values (Telegraf's "a= b=1" gives a the value "b=1")."""
    if value and not any(char in value for char in "='\\ \t\n\v\f\r"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
