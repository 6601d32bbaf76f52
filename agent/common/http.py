"""What the InfluxDB outputs share: URL failover, the HTTP error -> Outcome mapping, the probe."""

from __future__ import annotations

import gzip
from typing import Callable, List, Optional, Sequence

from agent.delivery.policy import RETRY, Outcome, classify

PROBE_TIMEOUT = 1.0


def body_bytes(body: str, content_encoding: str) -> bytes:
    data = body.encode("utf-8")
    return gzip.compress(data, compresslevel=1) if content_encoding == "gzip" else data


def error_text(data: bytes) -> str:
    """The server's reason, short: InfluxDB answers {"error": "..."} or {"message": "..."}."""
    import json

    text = data.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return text[:500]
    if isinstance(parsed, dict):
        return str(parsed.get("error") or parsed.get("message") or text)[:500]
    return text[:500]


class Failover:
    """Try URLs in turn: after a failure without an HTTP answer, the next URL is used."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls: List[str] = list(urls)
        self.current = 0

    @property
    def url(self) -> str:
        return self.urls[self.current]

    def send(self, attempt: Callable[[str], Outcome]) -> Outcome:
        outcome = attempt(self.url)
        if outcome.kind == RETRY and outcome.status == 0 and len(self.urls) > 1:
            self.current = (self.current + 1) % len(self.urls)
        return outcome


def probe(pool, url: str, timeout: float) -> int:
    """The HTTP status of GET /ping at url, 0 when nothing answers, quickly: a writer waiting
    out a backoff asks this about once a second to notice the server is back."""
    import urllib3

    wait = min(timeout, PROBE_TIMEOUT)
    try:
        response = pool.request("GET", f"{url}/ping", retries=False, preload_content=True,
                                timeout=urllib3.Timeout(connect=wait, read=wait))
    except (urllib3.exceptions.HTTPError, OSError):
        return 0
    return response.status


def response_outcome(status: int, data: bytes, retry_after: Optional[str]) -> Outcome:
    return classify(status, "" if 200 <= status < 300 else error_text(data), retry_after)
