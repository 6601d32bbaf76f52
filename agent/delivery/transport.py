"""What a writer sends through: one destination's protocol (InfluxDB 1.x /write, the v2 API)."""

from __future__ import annotations

from typing import Protocol

from agent.delivery.policy import Outcome


class Transport(Protocol):
    label: str  # the destination in log lines, e.g. "http://db:8086 bucket 'metrics'"
    auth_hint: str  # what to check after a 401/403/404, e.g. "the token, organization and bucket"

    def send(self, key: str, body: str) -> Outcome:
        """Deliver body (lines) to the destination picked by key ("" = the default)."""

    def probe(self) -> int:
        """Quickly: the status of a cheap request (HTTP: GET /ping), 0 when nothing answers."""

    def close(self) -> None: ...


class BaseTransport:
    """Defaults a transport may inherit: no probe (a retry waits its whole backoff)."""

    label = "the server"
    auth_hint = "the credentials"

    def probe(self) -> int:
        return 0

    def close(self) -> None:
        pass
