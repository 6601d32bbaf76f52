"""What the HTTP listener inputs share: the options of the server (address, timeouts, body
size, TLS, connections), its life cycle, and the durable acknowledgement.

A write is answered only after accumulator.add_metrics() returned, that is once every output
holds the metrics (committed to its disk spool with buffer_strategy "disk"); a full buffer
answers 429 with Retry-After, a storage failure 503: never a 2xx for what was not kept. Every
rejected request is logged in one line (method, path without its query, peer, status,
reason): never a query string (InfluxDB 1.x clients put passwords there) nor a header.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from agent.common.httpd.address import Address, parse_address
from agent.common.httpd.request import Request, Response, json_response
from agent.common.httpd.server import HTTPServer
from agent.common.httpd.tls import TLS_SERVER_OPTIONS, check_tls_options, server_context
from agent.lineprotocol.metric import Metric
from agent.plugin.base import Accumulator, NotStored, ServiceInput
from agent.plugin.options import Option

SERVER_OPTIONS: Tuple[Option, ...] = (
    Option("read_timeout", "duration", 10.0, "longest time to read a whole request (less than "
           "1s: 10s)"),
    Option("write_timeout", "duration", 10.0, "longest time to write the answer (less than 1s: "
           "10s)"),
    Option("max_connections", "int", 64, "connections held at once (4 served, the others "
           "waiting or idle); beyond, 503 (not in Telegraf)", minimum=8),
    *TLS_SERVER_OPTIONS,
)
_RETRY_AFTER_DEFAULT = 10.0


class Rejection(Exception):
    """Raised by a handler to answer with response and log reason."""

    def __init__(self, response: Response, reason: str) -> None:
        super().__init__(reason)
        self.response = response


class HTTPListener(ServiceInput):
    """Subclasses set default_max_body_size and implement route() and has_auth()."""

    default_max_body_size = 32 * 1024 * 1024
    address_schemes = False  # tcp:// and unix:// (http_listener_v2)
    counter_names: Tuple[str, ...] = ()

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.accumulator: Optional[Accumulator] = None
        self.server: Optional[HTTPServer] = None
        self._lock = threading.Lock()
        self._counters = dict.fromkeys(
            ("requests_received", "requests_served", "requests_rejected", "bytes_received",
             "metrics_received", "auth_failures", "rejected_full", "rejected_storage",
             "not_founds_served", *self.counter_names), 0)

    @classmethod
    def check_server_options(cls, options: Dict[str, Any]) -> List[Tuple[str, str]]:
        problems = []
        try:
            parse_address(options["service_address"], cls.address_schemes)
        except ValueError as err:
            problems.append(("service_address", str(err)))
        if options["max_body_size"] < 0:
            problems.append(("max_body_size", "must not be negative (0: the default)"))
        return problems + check_tls_options(options)

    # -- what subclasses provide
    def route(self, request: Request) -> Response:
        raise NotImplementedError

    def has_auth(self) -> bool:
        raise NotImplementedError

    # -- life cycle
    def start(self, accumulator: Optional[Accumulator] = None) -> None:
        self.accumulator = accumulator
        address = parse_address(self.service_address, self.address_schemes)
        if address.path:
            raise RuntimeError("unix sockets are not supported yet; use tcp://host:port")
        options = {option.name: getattr(self, option.name) for option in TLS_SERVER_OPTIONS}
        self.server = HTTPServer(
            f"inputs.{self.name}", address, self._wsgi, self.log,
            tls_context=server_context(options),
            allowed_dns_names=self.tls_allowed_dns_names, read_timeout=self._timeout("read"),
            write_timeout=self._timeout("write"), max_connections=self.max_connections)
        self.server.start()
        scheme = "https" if self.server.tls_context is not None else "http"
        self.log.info("Listening on %s://%s", scheme, self.server.bound)
        if not address.loopback and not self.has_auth():
            self.log.warning("Listening on %s beyond this machine without authentication: "
                             "anyone who reaches it can write metrics (set %s, and TLS)",
                             self.server.bound, self.auth_hint)
        elif not address.loopback and self.server.tls_context is None:
            self.log.warning("Listening on %s beyond this machine without TLS: credentials "
                             "cross the network in clear (set tls_cert and tls_key)",
                             self.server.bound)

    auth_hint = "token"

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def max_body(self) -> int:
        return self.max_body_size or self.default_max_body_size

    def _timeout(self, which: str) -> float:
        value = getattr(self, f"{which}_timeout")
        return value if value >= 1.0 else 10.0  # Telegraf: under a second means the default

    # -- requests
    def _wsgi(self, environ: dict, start_response) -> List[bytes]:
        connection = environ.get("agent.connection")
        read = None
        if connection is not None and self.server is not None:
            # Storing is not reading: read_timeout ends with the body (as Go's ReadTimeout).
            read = lambda: self.server.deadlines.clear(connection)  # noqa: E731
        request = Request(environ, read)
        self.count("requests_received")
        try:
            response = self.route(request)
        except Rejection as rejection:
            response = rejection.response
            self.reject(request, response.status, str(rejection))
        except Exception as err:  # noqa: BLE001 - a request must never take the server down
            self.log.error("%s %s from %s: %s: %s", request.method, request.path, request.peer,
                           type(err).__name__, err)
            self.log.debug("traceback", exc_info=True)
            response = json_response(500, {"error": "internal error"})
            self.count("requests_rejected")
        self.count("requests_served")
        if connection is not None and self.server is not None:
            self.server.write_deadline(connection, request.peer)
        headers = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(_status_line(response.status), headers)
        return [response.body]

    def reject(self, request: Request, status: int, reason: str) -> None:
        """One line per rejected request: no query string, no header, no secret."""
        self.count("requests_rejected")
        level = self.log.error if status >= 500 else self.log.warning
        level("%s %s from %s: %d %s", request.method, request.path, request.peer, status,
              reason.replace("\n", "; ")[:400])

    def store(self, metrics: Sequence[Metric], answer: Callable[[int, str], Response]) -> None:
        """Hand metrics to the accumulator; returns once they are stored. Otherwise raises a
        Rejection with answer(status, message): 429 (full, with Retry-After) or 503."""
        if metrics:
            self._stored(lambda: self.accumulator.add_metrics(metrics), len(metrics), answer)

    def store_text(self, text: str, count: int,
                   answer: Callable[[int, str], Response]) -> None:
        """store() for count plain lines in one text, carrying accumulator.line_tags()."""
        if count:
            self._stored(lambda: self.accumulator.add_text(text, count), count, answer)

    def _stored(self, call: Callable[[], None], count: int,
                answer: Callable[[int, str], Response]) -> None:
        try:
            call()
        except NotStored as err:
            if err.temporary:
                self.count("rejected_full")
                retry = str(max(1, math.ceil(err.retry_after or _RETRY_AFTER_DEFAULT)))
                response = answer(429, f"buffer full, retry later: {err}")
                raise Rejection(response._replace(
                    headers=(*response.headers, ("Retry-After", retry))), str(err)) from None
            self.count("rejected_storage")
            raise Rejection(answer(503, f"not stored: {err}"), str(err)) from None
        except Exception as err:  # noqa: BLE001 - the disk or the spool failed: say so
            self.count("rejected_storage")
            message = f"not stored: {type(err).__name__}: {err}"
            raise Rejection(answer(503, message), message) from None
        self.count("metrics_received", count)

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] += amount

    def stats(self) -> Dict[str, int]:
        with self._lock:
            counters = dict(self._counters)
        if self.server is not None:
            counters.update({"server_errors": self.server.counters["errors"],
                             "connections_refused": self.server.counters["busy"],
                             "tls_failures": self.server.counters["tls_failures"],
                             "connections_cut": self.server.deadlines.cut})
        return counters


def _status_line(status: int) -> str:
    from http import HTTPStatus

    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Status {status}"


def address_of(listener: HTTPListener) -> Address:
    return parse_address(listener.service_address, listener.address_schemes)
