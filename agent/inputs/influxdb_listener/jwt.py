"""JSON Web Tokens signed with a shared secret (HS256, HS384, HS512), as InfluxDB 1.x and
Telegraf's influxdb_listener accept them: a valid signature, not expired (exp), already valid
(nbf), and a "username" claim equal to the configured one."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Callable, Optional

_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def _decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def check_token(token: str, secret: str, username: str,
                clock: Callable[[], float] = time.time) -> Optional[str]:
    """None when the token is good; else why not (Telegraf's words where it has them)."""
    try:
        header_part, payload_part, signature_part = token.split(".")
        header = json.loads(_decode(header_part))
        payload = json.loads(_decode(payload_part))
        signature = _decode(signature_part)
    except (ValueError, binascii.Error):
        return "invalid token: token is malformed"
    digest = _HASHES.get(header.get("alg")) if isinstance(header, dict) else None
    if digest is None:
        return f"invalid token: unexpected signing method: {header.get('alg')}"
    signed = f"{header_part}.{payload_part}".encode()
    if not hmac.compare_digest(hmac.new(secret.encode(), signed, digest).digest(), signature):
        return "invalid token: signature is invalid"
    if not isinstance(payload, dict):
        return "problem authenticating token"
    now = clock()
    if isinstance(payload.get("exp"), (int, float)) and payload["exp"] <= now:
        return "token expired"
    if isinstance(payload.get("nbf"), (int, float)) and payload["nbf"] > now:
        return "invalid token: token is not valid yet"
    claimed = payload.get("username")
    if not isinstance(claimed, str) or not claimed:
        return "token must contain a string username"
    if not hmac.compare_digest(claimed.encode(), username.encode()):
        return "Unauthorized"
    return None
