"""Broker URLs as Telegraf takes them: `[scheme://]host[:port][/path]`.

tcp:// and mqtt:// are plain MQTT, ssl://, tls:// and mqtts:// are MQTT over TLS, ws:// and wss://
MQTT over websockets. A bare host:port is tcp (Telegraf's old form). Any TLS option turns TLS on
for every server, as Telegraf does. The servers of one plugin must share one transport.
"""

from __future__ import annotations

from typing import List, NamedTuple, Sequence
from urllib.parse import urlsplit

# scheme -> (TLS, websockets, default port)
SCHEMES = {
    "tcp": (False, False, 1883), "mqtt": (False, False, 1883),
    "ssl": (True, False, 8883), "tls": (True, False, 8883), "mqtts": (True, False, 8883),
    "ws": (False, True, 80), "wss": (True, True, 443),
}


class Broker(NamedTuple):
    url: str  # as configured, for messages
    host: str
    port: int
    tls: bool
    websockets: bool
    path: str


def parse_server(text: str, force_tls: bool = False) -> Broker:
    """One broker URL; ValueError with a short reason."""
    url = text if "://" in text else f"tcp://{text}"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"{text!r}: unknown scheme {scheme!r} (use one of "
                         f"{', '.join(s + '://' for s in SCHEMES)})")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"{text!r}: no host")
    tls, websockets, default_port = SCHEMES[scheme]
    return Broker(text, parts.hostname, port or default_port, tls or force_tls, websockets,
                  parts.path or "/mqtt")


def parse_servers(servers: Sequence[str], force_tls: bool = False) -> List[Broker]:
    """Every broker of a plugin; ValueError naming the first bad one, or a mix of transports."""
    if not servers:
        raise ValueError("no servers specified")
    brokers = [parse_server(s, force_tls) for s in servers]
    kinds = {(b.tls, b.websockets) for b in brokers}
    if len(kinds) > 1:
        raise ValueError("plain and TLS (or websocket and TCP) servers cannot be mixed in one "
                         "plugin; use one plugin per kind")
    return brokers
