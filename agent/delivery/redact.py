"""Secrets out of anything a server says: a server may echo the request's Authorization header
(or the token, user or password) in its error body, which would land on stderr and in
dead-letter.lp. Every configured secret is replaced, with the encodings it travels in."""

from __future__ import annotations

import base64
import json
import re
from typing import Iterable, List
from urllib.parse import quote

MASK = "[redacted]"
SHORT = 6  # a secret shorter than this is replaced only as a whole word (not inside others)


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        forms = set()
        for secret in secrets:
            if secret:
                forms.update(_encodings(secret))
        # Longest first: the Basic encoding of "user:password" before the password alone.
        ordered: List[str] = sorted(forms, key=len, reverse=True)
        parts = [re.escape(s) if len(s) >= SHORT else rf"(?<![\w]){re.escape(s)}(?![\w])"
                 for s in ordered]
        self._pattern = re.compile("|".join(parts)) if parts else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern and text else text


def _encodings(secret: str) -> List[str]:
    """The secret as sent and as a server may quote it back (JSON- or URL-escaped)."""
    return list({secret, json.dumps(secret)[1:-1], quote(secret, safe="")})


def basic_credentials(username: str, password: str) -> str:
    """The base64 part of `Authorization: Basic ...` for these credentials."""
    return base64.b64encode(f"{username}:{password}".encode()).decode()
