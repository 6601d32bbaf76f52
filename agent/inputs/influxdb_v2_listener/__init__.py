"""inputs.influxdb_v2_listener: the InfluxDB 2 write API (POST /api/v2/write, /api/v2/health,
/api/v2/ready, /ping), so that a script written for InfluxDB writes to the agent unchanged.

Line protocol is read as InfluxDB's server reads it; a bad line fails the whole request with
InfluxDB 2's error JSON ({"code":"invalid","message":...}) naming the line and the reason, as
InfluxDB 2 refuses it. A 204 is sent only once every output holds the request's metrics (on
disk with the disk buffer): 429 + Retry-After when a buffer is full, 503 when storing failed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from agent import __version__
from agent.common.httpd.listener import SERVER_OPTIONS, HTTPListener, Rejection
from agent.common.httpd.request import (
    BadBody,
    Request,
    Response,
    TooLarge,
    json_response,
    same,
    text_response,
)
from agent.lineprotocol.serializer import escape_key
from agent.parsers.influxdb_points import plain_lines, read_points
from agent.plugin.options import Option

PRECISIONS = {"us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}  # anything else: ns
_CODES = {400: "invalid", 401: "unauthorized", 405: "method not allowed",
          413: "request too large", 429: "too many requests", 503: "unavailable"}
_HEADERS = (("X-Influxdb-Build", "agent"), ("X-Influxdb-Version", __version__))


def influx_error(status: int, message: str, **extra: Any) -> Response:
    """InfluxDB 2's error body: {"code": ..., "message": ...}."""
    return json_response(status, {"code": _CODES.get(status, "internal error"),
                                  "message": message, **extra}, headers=_HEADERS)


class InfluxDBV2Listener(HTTPListener):
    name = "influxdb_v2_listener"
    description = "accept metrics over the InfluxDB 2 HTTP API (/api/v2/write), durably"
    options = (
        Option("service_address", "str", ":8086", "address and port to listen on"),
        Option("token", "str", "", "accept only requests with Authorization: Token <token>",
               secret=True),
        Option("max_body_size", "size", 32 * 1024 * 1024, "largest request body in bytes, "
               "after gunzip (0: 32MiB); larger: 413"),
        Option("bucket_tag", "str", "", "keep the request's bucket in this tag"),
        Option("max_undelivered_metrics", "int", 0, "429 while the output buffers hold this "
               "many undelivered metrics (0: off)", minimum=0),
        Option("parser_type", "str", "internal", "Telegraf's parser choice; accepted, the "
               "agent has one parser", choices=("internal", "upstream")),
        Option("use_internal_statistics", "bool", False, "Telegraf's option; accepted, "
               "inputs.internal reports this listener either way"),
        *SERVER_OPTIONS,
    )
    sample_config = (Path(__file__).with_name("sample.conf")).read_text()
    counter_names = ("writes_served", "pings_served", "healths_served", "readys_served")

    def __init__(self, clock: Callable[[], int] = time.time_ns, **options: object) -> None:
        super().__init__(**options)
        self.clock = clock
        self.started = time.time()

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> List[Tuple[str, str]]:
        return cls.check_server_options(options)

    def has_auth(self) -> bool:
        return bool(self.token)

    def route(self, request: Request) -> Response:
        path = request.path
        if path in ("/api/v2/health", "/health"):
            return self._health()
        if path in ("/api/v2/ready", "/ready"):
            return self._ready()
        if path == "/ping":
            self.count("pings_served")
            return Response(204, b"", _HEADERS)
        self._authenticate(request)
        if path != "/api/v2/write":
            self.count("not_founds_served")
            raise Rejection(text_response(404, "404 page not found"), "not found")
        if request.method != "POST":
            raise Rejection(influx_error(405, "allow: POST, OPTIONS"), "method not allowed")
        self.count("writes_served")
        return self._write(request)

    def _authenticate(self, request: Request) -> None:
        if self.token and not same(request.header("Authorization"), f"Token {self.token}"):
            self.count("auth_failures")
            raise Rejection(influx_error(401, "unauthorized access"), "unauthorized")

    def _write(self, request: Request) -> Response:
        data = self._body(request)
        if not data:
            raise Rejection(influx_error(400, "writing requires points"), "empty body")
        text = data.decode("utf-8", "replace")
        multiplier = PRECISIONS.get(request.query("precision"), 1)
        if self._store_plain(text, multiplier, request.query("bucket")):
            return Response(204, b"", _HEADERS)
        points = read_points(text, multiplier, self.clock(), uint=True)
        if points.rejected:
            message = "\n".join(f"line {r.lineno}: {r.message}" for r in points.rejected)
            first = points.rejected[0].lineno
            raise Rejection(influx_error(400, message, line=first),
                            f"{len(points.rejected)} bad line(s), nothing kept: {message}")
        metrics = points.metrics
        self._undelivered_check(len(metrics))
        bucket = request.query("bucket")
        if self.bucket_tag and bucket:
            for metric in metrics:
                metric.tags[self.bucket_tag] = bucket
        self.store(metrics, influx_error)
        return Response(204, b"", _HEADERS)

    def _store_plain(self, text: str, multiplier: int, bucket: str) -> bool:
        """Store a body of plain lines as received, with the tags the agent adds; False when
        it is not such a body or the agent must see metrics (renames, filters, ...)."""
        tags = self.accumulator.line_tags() if self.accumulator else None
        if tags is None:
            return False
        if self.bucket_tag and bucket:
            tags = {**tags, self.bucket_tag: bucket}

        def added(present: frozenset) -> Optional[str]:
            if self.bucket_tag and bucket and self.bucket_tag in present:
                return None  # the query's bucket replaces the line's own: as metrics
            return _added_tags(tags, present)

        lines = plain_lines(text, multiplier, self.clock(), added)
        if lines is None:
            return False
        self._undelivered_check(len(lines))
        self.store_text("".join(lines), len(lines), influx_error)
        return True

    def _body(self, request: Request) -> bytes:
        try:
            data = request.body(self.max_body)
        except TooLarge:
            raise Rejection(influx_error(413, "unable to read data: points batch is too large"),
                            f"body over max_body_size ({self.max_body} bytes)") from None
        except BadBody as err:
            raise Rejection(influx_error(400, f"unable to read data: {err}"), str(err)) from None
        self.count("bytes_received", len(data))
        return data

    def _undelivered_check(self, count: int) -> None:
        limit = self.max_undelivered_metrics
        if not limit:
            return
        if count > limit:
            raise Rejection(influx_error(413, f"{count} metrics, more than "
                                              f"max_undelivered_metrics = {limit}"),
                            "larger than max_undelivered_metrics")
        pending = self.accumulator.undelivered()
        if pending + count > limit:
            self.count("rejected_full")
            response = influx_error(429, f"{pending} metrics undelivered, max_undelivered_"
                                         f"metrics = {limit}")
            raise Rejection(response._replace(headers=(*response.headers, ("Retry-After", "10"))),
                            "max_undelivered_metrics reached")

    def _health(self) -> Response:
        self.count("healths_served")
        body = {"name": "agent", "message": "ready for queries and writes", "status": "pass",
                "version": __version__, "commit": ""}
        limit = self.max_undelivered_metrics
        pending = self.accumulator.undelivered() if limit and self.accumulator else 0
        if limit and pending >= limit:
            body.update(status="fail",
                        message=f"pending undelivered metrics ({pending}) is above limit")
            return json_response(503, body, headers=_HEADERS)
        return json_response(200, body, headers=_HEADERS)

    def _ready(self) -> Response:
        self.count("readys_served")
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started))
        return json_response(200, {"started": started, "status": "ready",
                                   "up": go_duration(time.time() - self.started)},
                             headers=_HEADERS)


def _added_tags(tags: Dict[str, str], present: frozenset) -> str:
    """",k=v" for the tags a line lacks, escaped and left out as the serializer does."""
    parts = []
    for key, value in sorted(tags.items()):
        key_text, value_text = escape_key(key).rstrip("\\"), escape_key(value).rstrip("\\")
        if key not in present and key_text and value_text:
            parts.append(f",{key_text}={value_text}")
    return "".join(parts)


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for a positive duration: 1h2m3.5s, 1.5s, 250ms."""
    if seconds < 1:
        return f"{seconds * 1000:.6g}ms" if seconds else "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    return f"{int(minutes)}m{text}" if minutes else text
