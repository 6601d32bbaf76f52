"""A request as the listeners see it (over the WSGI environ) and the answer they give: query
parameters as Go's URL.Query().Get reads them, the body read within max_body_size (gzip
included: the decompressed size counts, so a gzip bomb stops at the limit), credentials, and
JSON written byte for byte as Go's encoding/json writes it."""

from __future__ import annotations

import base64
import hmac
import json
import zlib
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple
from urllib.parse import parse_qs

_CHUNK = 64 * 1024
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
               "\u2029": "\\u2029"}
_GO_ESCAPE_TABLE = str.maketrans(_GO_ESCAPES)


class TooLarge(Exception):
    """The body (after decompression) is larger than max_body_size."""


class BadBody(Exception):
    """The body cannot be read: str() is Go's error text (gzip: invalid header, ...)."""


class Response(NamedTuple):
    status: int
    body: bytes = b""
    headers: Tuple[Tuple[str, str], ...] = ()


class Request:
    def __init__(self, environ: dict, body_read: Optional[Callable[[], None]] = None) -> None:
        """body_read is called once the body is read (the server lifts read_timeout)."""
        self.environ = environ
        self.body_read = body_read
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.path = environ.get("PATH_INFO", "/")
        self.raw_query = environ.get("QUERY_STRING", "")
        self._query: Optional[Dict[str, List[str]]] = None
        self.peer = environ.get("REMOTE_ADDR") or "local"

    def query(self, name: str) -> str:
        """The first value of a query parameter, "" when absent (Go's Query().Get)."""
        if self._query is None:
            self._query = parse_qs(self.raw_query, keep_blank_values=True)
        values = self._query.get(name)
        return values[0] if values else ""

    def header(self, name: str) -> str:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return self.environ.get(key, "")
        return self.environ.get(f"HTTP_{key}", "")

    def body(self, limit: int) -> bytes:
        """The body, gunzipped when Content-Encoding is gzip; TooLarge past limit bytes
        (decompressed), BadBody when it cannot be read."""
        length = self.environ.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > limit:
            raise TooLarge()
        data = _read(self.environ["wsgi.input"], limit, int(length) if length else None)
        if self.body_read is not None:
            self.body_read()
        if self.header("Content-Encoding") == "gzip":
            data = gunzip(data, limit)
        return data

    def basic_auth(self) -> Optional[Tuple[str, str]]:
        """(user, password) of an Authorization: Basic header, as Go's Request.BasicAuth."""
        scheme, _, encoded = self.header("Authorization").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return (user, password) if sep else None


def _read(stream, limit: int, length: Optional[int]) -> bytes:
    if length is not None:
        data = stream.read(length) if length else b""
        if len(data) < length:
            raise BadBody("unexpected EOF")
        return data
    chunks, size = [], 0
    while True:  # chunked transfer: read until the end, but never past the limit
        chunk = stream.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise TooLarge()


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress every gzip member of data, stopping as soon as more than limit bytes come
    out; BadBody with Go's words for a broken stream."""
    if not data:
        raise BadBody("EOF")
    out: List[bytes] = []
    size = 0
    while data:
        if len(data) < 10:  # Go reads the 10-byte header first
            raise BadBody("unexpected EOF")
        if data[:2] != b"\x1f\x8b":
            raise BadBody("gzip: invalid header")
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            part = inflater.decompress(data, limit + 1 - size)
        except zlib.error as err:
            raise BadBody("gzip: invalid checksum" if "check" in str(err)
                          else "flate: corrupt input") from None
        size += len(part)
        if size > limit or inflater.unconsumed_tail:
            raise TooLarge()
        if not inflater.eof:
            raise BadBody("unexpected EOF")
        out.append(part)
        data = inflater.unused_data
    return b"".join(out)


def same(given: str, expected: str) -> bool:
    """Constant-time comparison (crypto/subtle.ConstantTimeCompare), never short-circuiting
    on the first differing character."""
    return hmac.compare_digest(given.encode(), expected.encode())


def go_json(value: object, newline: bool = False) -> bytes:
    """json.Marshal's bytes: compact, map keys sorted, <, >, & and U+2028/2029 escaped,
    non-ASCII kept as UTF-8; with newline, json.Encoder's trailing newline."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    text = text.translate(_GO_ESCAPE_TABLE)
    return (text + "\n" if newline else text).encode()


def json_response(status: int, value: object, newline: bool = False,
                  headers: Tuple[Tuple[str, str], ...] = ()) -> Response:
    return Response(status, go_json(value, newline),
                    (("Content-Type", "application/json"), *headers))


def text_response(status: int, text: str, headers: Tuple[Tuple[str, str], ...] = ()) -> Response:
    """Go's http.Error: text/plain, the message and a newline."""
    return Response(status, (text + "\n").encode(),
                    (("Content-Type", "text/plain; charset=utf-8"),
                     ("X-Content-Type-Options", "nosniff"), *headers))
