"""What a server's answer means for a batch (the wait before a retry: agent/system/backoff.py)."""

from __future__ import annotations

import time
from typing import NamedTuple, Optional

OK, RETRY, REJECT, AUTH = "ok", "retry", "reject", "auth"


class Outcome(NamedTuple):
    """A transport's answer: kind (ok/retry/reject/auth), HTTP status (0 = no answer), reason."""

    kind: str
    status: int = 0
    reason: str = ""
    retry_after: Optional[float] = None


def classify(status: int, reason: str, retry_after: Optional[str] = None) -> Outcome:
    """2xx delivered; 429/5xx retry; 401/403/404 a config problem (retry); other 4xx reject."""
    if 200 <= status < 300:
        return Outcome(OK, status)
    delay = parse_retry_after(retry_after)
    if status == 429 or status >= 500:
        return Outcome(RETRY, status, reason, delay)
    if status in (401, 403, 404):
        return Outcome(AUTH, status, reason, delay)
    return Outcome(REJECT, status, reason)


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Retry-After in seconds, or as an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import email.utils  # only for a date-valued Retry-After: costly to import

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
