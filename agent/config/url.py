"""Fetching a config from an http(s) URL the way Telegraf does (imported only for a URL: the
HTTP and TLS machinery costs memory and start-up time a file config does not need)."""

from __future__ import annotations

import base64
import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable, Optional, Tuple

from agent.config.errors import SourceError

URL_ATTEMPTS = 3
URL_TIMEOUT = 10.0  # seconds per attempt (connect, and each read)
URL_MAX_BYTES = 16 * 1024 * 1024


def fetch_url(url: str, token: str, attempts: int = URL_ATTEMPTS, timeout: float = URL_TIMEOUT,
              sleep: Callable[[float], None] = time.sleep) -> str:
    """GET a config the way Telegraf does: Token auth, Accept TOML, a few retries.

    4xx is final (SourceError, temporary=False); 5xx, connection errors and timeouts are
    retried, then temporary. Messages name the URL (without a password), never the token.
    """
    label = safe_url(url)
    url, basic = _split_userinfo(url)
    request = urllib.request.Request(url, headers={"Accept": "application/toml"})
    if token or basic:  # as Go's client: user:password@ in the URL only without a token
        auth = f"Token {token}" if token else f"Basic {basic}"
        request.add_unredirected_header("Authorization", auth)
    opener = urllib.request.build_opener(_SameOriginRedirect)
    for attempt in range(1, attempts + 1):
        try:
            with opener.open(request, timeout=timeout) as response:
                body = response.read(URL_MAX_BYTES + 1)
                _check_complete(response.headers.get("Content-Length"), body)
                return _toml_body(label, response.headers.get_content_type(), body)
        except urllib.error.HTTPError as err:
            if err.code < 500 or attempt == attempts:
                reason = _one_line(err.reason, token)
                raise SourceError(f"{label}: HTTP {err.code} {reason}{_hint(err.code)}",
                                  err.code >= 500) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
            if attempt == attempts or isinstance(err, ValueError):
                reason = _one_line(getattr(err, "reason", None) or err, token)
                raise SourceError(f"{label}: cannot fetch config: {reason}",
                                  not isinstance(err, ValueError)) from None
        sleep(min(2 ** attempt, 10))
    raise AssertionError("unreachable")


class _SameOriginRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but send the token on only to the same scheme, host and port."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        auth = req.unredirected_hdrs.get("Authorization")
        if new is not None and auth and _origin(newurl) == _origin(req.full_url):
            new.add_unredirected_header("Authorization", auth)
        return new


def _origin(url: str) -> Tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.netloc


def _split_userinfo(url: str) -> Tuple[str, str]:
    """(the URL without user:password@, base64 "user:password" or "")."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, ""
    userinfo = f"{urllib.parse.unquote(parts.username)}:" \
        f"{urllib.parse.unquote(parts.password or '')}"
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), \
        base64.b64encode(userinfo.encode()).decode()


def safe_url(url: str) -> str:
    """The URL as logs may show it: a password in it replaced by ***."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return url
    netloc = f"{parts.username}:***@{parts.netloc.rpartition('@')[2]}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _one_line(reason: object, token: str) -> str:
    text = " ".join(str(reason).split()) or "no reason given"
    return text.replace(token, "***") if token else text


def _hint(code: int) -> str:
    if code == 401:
        return " (is INFLUX_TOKEN set, and allowed to read this config?)"
    if code == 404:
        return " (no config at this URL)"
    return ""


def _check_complete(content_length: Optional[str], body: bytes) -> None:
    """A body shorter than its Content-Length was cut off (the server or the network closed
    early): half a config must never load, it may lack its outputs. http.client's read(n)
    returns the short body without an error, so the length is compared here."""
    if content_length and content_length.strip().isdigit():
        expected = int(content_length)
        if len(body) < expected <= URL_MAX_BYTES:
            raise _CutOff(f"the answer was cut off after {len(body)} of {expected} bytes")


class _CutOff(http.client.HTTPException):
    """Retried like a broken connection; temporary if it keeps happening."""


def _toml_body(url: str, content_type: str, body: bytes) -> str:
    if content_type in ("text/html", "application/json", "application/xml", "text/xml"):
        raise SourceError(f"{url}: expected a TOML config, got {content_type}")
    if body.lstrip()[:1] == b"<":
        raise SourceError(f"{url}: expected a TOML config, got an HTML/XML page")
    if len(body) > URL_MAX_BYTES:
        raise SourceError(f"{url}: config larger than {URL_MAX_BYTES // 2**20} MiB")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(f"{url}: config is not UTF-8 text") from None
