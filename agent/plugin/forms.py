"""The forms a string option may have to take: URLs with allowed schemes, host:port addresses,
HTTP header names and values. Each check raises ValueError with a short reason."""

from __future__ import annotations

import re
import urllib.parse
from typing import Tuple

# RFC 9110 token: the characters an HTTP header name may have.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_url(url: str, schemes: Tuple[str, ...]) -> None:
    """A URL the HTTP outputs can use: an allowed scheme, a host, a port in 1-65535."""
    if any(char.isspace() for char in url) or not url:
        raise ValueError(f"{url!r} is not a URL (like \"http://127.0.0.1:8086\")")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as err:
        raise ValueError(f"{url!r} is not a URL: {err}") from None
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r}: the port must be a number 1-65535") from None
    if not parts.scheme or "://" not in url:
        raise ValueError(f"{url!r} is not a URL (like \"http://127.0.0.1:8086\")")
    if parts.scheme.lower() not in schemes:
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"{url!r}: scheme {parts.scheme}:// is not supported (use {allowed})")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host")
    if port == 0:
        raise ValueError(f"{url!r}: the port must be a number 1-65535")


def check_address(address: str) -> None:
    """host:port or :port (all interfaces) with a port in 1-65535, as Telegraf's listeners."""
    host, sep, port = address.rpartition(":")
    if not sep:
        raise ValueError(f"{address!r}: expected host:port or :port, like \":8186\"")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{address!r}: the port must be a number 1-65535")
    if host.startswith("[") != host.endswith("]") or any(c.isspace() for c in host):
        raise ValueError(f"{address!r}: invalid host {host!r}")


def check_header(name: str, value: str) -> None:
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid HTTP header name")
    check_line(value, f"header {name}")


def check_line(text: str, what: str = "value") -> None:
    """One line of text: no line break or NUL (it goes into an HTTP header)."""
    if any(char in text for char in "\r\n\x00"):
        raise ValueError(f"{what} must not contain a line break or NUL character")
