"""sd_notify over $NOTIFY_SOCKET (no dependency): READY, RELOADING, STOPPING, WATCHDOG; and
credentials from $CREDENTIALS_DIRECTORY (LoadCredential=)."""

from __future__ import annotations

import os
import time
from typing import Mapping


class CredentialError(Exception):
    """A credential cannot be read; the message names it and never holds its value."""


def notify(state: str) -> bool:
    """Send a state string to systemd; False when not running under a notify-type unit."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    import socket  # only under systemd: a plain start need not pay for the module

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
        return True
    except OSError:
        return False


def reloading() -> bool:
    # systemd >= 253 wants MONOTONIC_USEC with RELOADING=1 for Type=notify-reload.
    return notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")


def watchdog_interval() -> float:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or 0 when not asked for."""
    return watchdog_timeout() / 2


def watchdog_timeout() -> float:
    """WatchdogSec in seconds (systemd's WATCHDOG_USEC for this process), or 0."""
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", "0"))
        pid = int(os.environ.get("WATCHDOG_PID", str(os.getpid())))
    except ValueError:
        return 0.0
    return usec / 1e6 if usec > 0 and pid == os.getpid() else 0.0


def read_credential(name: str, env: Mapping[str, str] = os.environ) -> str:
    """The credential `name` from $CREDENTIALS_DIRECTORY (systemd's LoadCredential=), trailing
    newlines stripped."""
    directory = env.get("CREDENTIALS_DIRECTORY", "")
    if not directory:
        raise CredentialError(f"CREDENTIALS_DIRECTORY is not set (no LoadCredential={name}:... "
                              "in the unit, or not running under systemd)")
    if "/" in name or name in ("", ".", ".."):
        raise CredentialError(f"invalid credential name {name!r}")
    path = os.path.join(directory, name)
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read()
    except FileNotFoundError:
        raise CredentialError(f"no credential {name!r} in {directory} (is "
                              f"LoadCredential={name}:... in the unit?)") from None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not UTF-8 text"
        raise CredentialError(f"cannot read credential {path}: {reason}") from None
    return value.rstrip("\r\n")
