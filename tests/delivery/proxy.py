"""A real HTTP server in front of a real InfluxDB 1.x, for the faults InfluxDB does not make on
its own. InfluxDB stays the judge of what is stored; the proxy adds:

- `delay`: each write is held that long before it is forwarded (a slow server); a write whose
  client hung up meanwhile is not forwarded (it takes effect when it is answered);
- `refuse`: (status, headers) answered instead of forwarding (e.g. 503 with Retry-After);
- `echo_auth`: error answers quote the request's Authorization header (as some servers and
  proxies do), inside InfluxDB's {"error": ...} message;
- the v2 write API: /api/v2/write?bucket=B is forwarded as /write?db=B (InfluxDB 1.6 has none).

Every line of a write the upstream accepted is recorded in `accepted`, in order, so a test sees
a line delivered twice (InfluxDB itself would overwrite the repeat silently).
"""

from __future__ import annotations

import gzip
import json
import select
import socket
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple

from tests import servers


class InfluxProxy:
    def __init__(self, upstream: str, delay: float = 0.0, echo_auth: bool = False) -> None:
        self.upstream = upstream
        self.delay = delay
        self.echo_auth = echo_auth
        self.refuse: Optional[Tuple[int, Dict[str, str]]] = None
        self.accepted: List[str] = []
        self.holding = 0  # writes being held right now (delay)
        self.requests = Counter()  # by path
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((servers.LOCALHOST, 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{servers.LOCALHOST}:{self._server.server_address[1]}"

    def counts(self) -> Counter:
        """How often each accepted line arrived."""
        with self._lock:
            return Counter(self.accepted)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> InfluxProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler(proxy: InfluxProxy):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._forward(b"")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            self._forward(body)

        def _forward(self, body: bytes) -> None:
            path, _, query = self.path.partition("?")
            with proxy._lock:
                proxy.requests[path] += 1
            if proxy.refuse is not None:
                status, headers = proxy.refuse
                return self._answer(status, b'{"error":"refused by the test proxy"}', headers)
            writing = path in ("/write", "/api/v2/write")
            if writing and proxy.delay:
                self._hold()
                if self._client_gone():
                    return  # a write takes effect when it is answered: nobody to answer
            if path == "/api/v2/write":
                params = urllib.parse.parse_qs(query)
                query = urllib.parse.urlencode({"db": params["bucket"][0], "precision": "ns"})
                path = "/write"
            status, data = self._upstream(path, query, body)
            if writing and 200 <= status < 300:
                with proxy._lock:
                    proxy.accepted += body.decode().splitlines(keepends=True)
            if status >= 400 and proxy.echo_auth:
                data = self._echo(data)
            self._answer(status, data, {})

        def _hold(self) -> None:
            with proxy._lock:
                proxy.holding += 1
            time.sleep(proxy.delay)  # the fault under test: a server that takes its time
            with proxy._lock:
                proxy.holding -= 1

        def _client_gone(self) -> bool:
            readable, _, _ = select.select([self.connection], [], [], 0)
            try:
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def _upstream(self, path: str, query: str, body: bytes) -> Tuple[int, bytes]:
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() in ("content-type", "authorization")}
            url = f"{proxy.upstream}{path}" + (f"?{query}" if query else "")
            try:
                return servers.http(self.command, url, body or None, headers, timeout=30)
            except OSError as err:
                return 502, json.dumps({"error": f"upstream: {err}"}).encode()

        def _echo(self, data: bytes) -> bytes:
            auth = self.headers.get("Authorization", "")
            try:
                message = json.loads(data)["error"]
            except (ValueError, KeyError, TypeError):
                message = data.decode(errors="replace")
            return json.dumps({"error": f"{message} (request had Authorization: {auth})"}).encode()

        def _answer(self, status: int, data: bytes, headers: Dict[str, str]) -> None:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
