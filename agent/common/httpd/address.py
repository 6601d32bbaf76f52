"""service_address as Go's net.Listen reads it: "host:port", ":port" (every interface, IPv6
and IPv4), "[::1]:8086"; http_listener_v2 also takes "tcp://host:port" and "unix:///path"."""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple, Optional

_HOST_PORT = re.compile(r"(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})")


class Address(NamedTuple):
    host: str  # "" = every interface
    port: int
    path: str = ""  # a unix socket instead of host and port

    @property
    def loopback(self) -> bool:
        """True when only this machine can connect (a unix socket, 127.0.0.0/8, ::1,
        localhost); "" (every interface) and other addresses are not."""
        if self.path:
            return True
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        if self.path:
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(text: str, schemes: bool = False) -> Address:
    """ValueError with a hint when text is not an address Go would listen on."""
    if schemes:
        match = re.fullmatch(r"(\w+)://(.*)", text)
        if match and match.group(1) == "unix":
            if not match.group(2).startswith("/"):
                raise ValueError(f"{text!r}: a unix socket needs an absolute path")
            return Address("", 0, match.group(2))
        if match and match.group(1) != "tcp":
            raise ValueError(f"{text!r}: unknown protocol {match.group(1)!r} (tcp or unix)")
        text = match.group(2) if match else text
    found = _HOST_PORT.fullmatch(text)
    port = int(found.group("port")) if found else -1
    if not found or not 0 <= port <= 65535:
        raise ValueError(f"{text!r} is not host:port (like \":8086\", \"127.0.0.1:8086\", "
                         f"\"[::1]:8086\")")
    host = found.group("v6") if found.group("v6") is not None else found.group("host")
    return Address(host, port)


def bind_hosts(address: Address) -> list:
    """Where to bind, in order of preference: every interface means IPv6 dual-stack, or IPv4
    alone on a host without IPv6."""
    if address.host in ("", "0.0.0.0"):
        return (["::", "0.0.0.0"] if address.host == "" else ["0.0.0.0"])
    return [address.host]


def describe(address: Optional[Address]) -> str:
    return str(address) if address else "-"
