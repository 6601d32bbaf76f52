"""inputs.influxdb_listener: the InfluxDB 1.x HTTP API (POST /write, /query, /ping), so that
1.x clients (the `influxdb` Python package, curl, Telegraf's outputs.influxdb) write to the
agent unchanged.

A body gets InfluxDB 1.x's answer, decided as InfluxDB 1.6 decides it (write.py): the same
lines kept, the same status, the same {"error": ...} text. Kept points are answered only once
every output holds them (on disk with the disk buffer): 429 + Retry-After when a buffer is
full, 503 when storing failed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

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
from agent.inputs.influxdb_listener.jwt import check_token
from agent.inputs.influxdb_listener.write import judge
from agent.parsers.influxdb_points import read_points
from agent.plugin.options import Option

# InfluxDB 1.x precisions; anything else is ns, as InfluxDB 1.6 takes it.
PRECISIONS = {"u": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
              "h": 3_600_000_000_000}
_VERSION = (("X-Influxdb-Version", "1.0"),)  # what Telegraf's listener says it is


def influx_error(status: int, message: str) -> Response:
    """InfluxDB 1.x's error answer: {"error": ...} plus a newline, and X-Influxdb-Error."""
    header = message.replace("\n", " ").encode("latin-1", "replace").decode("latin-1")
    return json_response(status, {"error": message}, newline=True,
                         headers=(*_VERSION, ("X-Influxdb-Error", header[:1000])))


class InfluxDBListener(HTTPListener):
    name = "influxdb_listener"
    description = "accept metrics over the InfluxDB 1.x HTTP API (/write), durably"
    options = (
        Option("service_address", "str", ":8186", "address and port to listen on"),
        Option("max_body_size", "size", 32 * 1024 * 1024, "largest request body in bytes, "
               "after gunzip (0: 32MiB); larger: 413"),
        Option("database_tag", "str", "", "keep the request's db in this tag"),
        Option("retention_policy_tag", "str", "", "keep the request's rp in this tag"),
        Option("basic_username", "str", "", "accept only this user (Basic, Token user:pass, "
               "or u/p query parameters)"),
        Option("basic_password", "str", "", "the user's password", secret=True),
        Option("token_shared_secret", "str", "", "accept JWTs signed with this secret "
               "(Authorization: Bearer)", secret=True),
        Option("token_username", "str", "", "the username claim a JWT must carry"),
        Option("parser_type", "str", "internal", "Telegraf's parser choice; accepted, the "
               "agent reads line protocol as InfluxDB does", choices=("internal", "upstream")),
        *SERVER_OPTIONS,
    )
    sample_config = (Path(__file__).with_name("sample.conf")).read_text()
    counter_names = ("writes_served", "queries_served", "pings_served")
    auth_hint = "basic_username and basic_password"

    def __init__(self, clock: Callable[[], int] = time.time_ns, **options: object) -> None:
        super().__init__(**options)
        self.clock = clock

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> List[Tuple[str, str]]:
        problems = cls.check_server_options(options)
        basic = options["basic_username"] or options["basic_password"]
        token = options["token_shared_secret"] or options["token_username"]
        if basic and token:
            problems.append(("token_shared_secret", "cannot use basic-auth and tokens at the "
                             "same time"))
        elif token and not (options["token_shared_secret"] and options["token_username"]):
            problems.append(("token_username", "neither 'token_shared_secret' nor "
                             "'token_username' can be empty for token authentication"))
        return problems

    def has_auth(self) -> bool:
        return bool(self.basic_username or self.basic_password or self.token_shared_secret)

    def route(self, request: Request) -> Response:
        path = request.path
        if path == "/ping":
            return self._ping(request)
        if path == "/write" and request.method != "POST":
            raise Rejection(text_response(405, "Method Not Allowed"), "method not allowed")
        self._authenticate(request)
        if path == "/write":
            self.count("writes_served")
            return self._write(request)
        if path == "/query":
            self.count("queries_served")
            return json_response(200, {"results": []}, headers=_VERSION)
        self.count("not_founds_served")
        raise Rejection(text_response(404, "404 page not found"), "not found")

    def _ping(self, request: Request) -> Response:
        self.count("pings_served")
        if request.query("verbose") not in ("", "0", "false"):
            return json_response(200, {"version": "1.0"}, headers=_VERSION)
        return Response(204, b"", _VERSION)

    def _authenticate(self, request: Request) -> None:
        if self.token_shared_secret:
            reason = self._token_problem(request)
        elif self.basic_username or self.basic_password:
            reason = self._basic_problem(request)
        else:
            return
        if reason:
            self.count("auth_failures")
            response = influx_error(401, reason)
            raise Rejection(response._replace(headers=(
                *response.headers, ("WWW-Authenticate", 'Basic realm="influxdb"'))), reason)

    def _basic_problem(self, request: Request) -> str:
        user, password = request.query("u"), request.query("p")
        credentials = (user, password) if user and password else None
        scheme, _, token = request.header("Authorization").partition(" ")
        if credentials is None and scheme == "Token" and ":" in token:
            user, _, password = token.partition(":")
            credentials = (user, password)
        credentials = credentials or request.basic_auth()
        if credentials is None:
            return "unable to parse authentication credentials"
        user_ok = same(credentials[0], self.basic_username)
        password_ok = same(credentials[1], self.basic_password)
        return "" if user_ok and password_ok else "authorization failed"

    def _token_problem(self, request: Request) -> str:
        header = request.header("Authorization") or request.header("Authentication")
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            return "unable to parse authentication credentials"
        return check_token(token, self.token_shared_secret, self.token_username) or ""

    def _write(self, request: Request) -> Response:
        try:
            data = request.body(self.max_body)
        except TooLarge:
            raise Rejection(influx_error(413, "Request Entity Too Large"),
                            f"body over max_body_size ({self.max_body} bytes)") from None
        except BadBody as err:
            raise Rejection(influx_error(400, str(err)), str(err)) from None
        self.count("bytes_received", len(data))
        multiplier = PRECISIONS.get(request.query("precision"), 1)
        points = read_points(data.decode("utf-8", "replace"), multiplier, self.clock())
        verdict = judge(points)
        self._tag(verdict.kept, request)
        self.store(verdict.kept, influx_error)
        if verdict.status != 204:
            raise Rejection(influx_error(verdict.status, verdict.error),
                            f"{len(verdict.kept)} point(s) kept; {verdict.error}")
        return Response(204, b"", _VERSION)

    def _tag(self, metrics: List, request: Request) -> None:
        for tag, value in ((self.database_tag, request.query("db")),
                           (self.retention_policy_tag, request.query("rp"))):
            if tag and value:
                for metric in metrics:
                    metric.tags[tag] = value
