"""inputs.http_listener_v2: metrics POSTed (or PUT) in any supported data format, influx or
json (Telegraf's json parser options), as Telegraf's http_listener_v2 takes them: a device's
`{"co2": 550, "temperature": 24.2}` becomes one metric.

Answers as Telegraf's plugin does (http_success_code, {"error":"http: bad request"}, 405, 413),
but only once every output holds the metrics: 429 + Retry-After when a buffer is full, 503
when storing failed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Tuple
from urllib.parse import unquote

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
from agent.parsers.formats import PARSER_OPTIONS, check_parser_options, make_parser
from agent.plugin.options import Option

PATH_TAG = "http_listener_v2_path"


class HTTPListenerV2(HTTPListener):
    name = "http_listener_v2"
    description = "accept metrics in any data format (influx, json) over HTTP, durably"
    options = (
        Option("service_address", "str", "tcp://:8080", "address to listen on: host:port or "
               "tcp://host:port"),
        Option("socket_mode", "str", "", "permissions of a unix socket (not supported yet)"),
        Option("paths", "str_list", ["/telegraf"], "paths to accept; others: 404"),
        Option("path_tag", "bool", False, f"keep the path in the tag {PATH_TAG}"),
        Option("methods", "str_list", ["POST", "PUT"], "HTTP methods to accept; others: 405"),
        Option("http_headers", "str_map", {}, "headers added to every response"),
        Option("http_success_code", "int", 204, "status of a stored write (0: 204)"),
        Option("max_body_size", "size", 500 * 1024 * 1024, "largest request body in bytes, "
               "after gunzip (0: 500MiB); larger: 413"),
        Option("data_source", "str", "body", "what to parse: the body or the query string",
               choices=("body", "query")),
        Option("basic_username", "str", "", "accept only this user (HTTP Basic)"),
        Option("basic_password", "str", "", "the user's password", secret=True),
        Option("http_header_tags", "str_map", {}, "request headers to keep as tags: "
               "{header = tag}"),
        *SERVER_OPTIONS,
        *PARSER_OPTIONS,
    )
    sample_config = (Path(__file__).with_name("sample.conf")).read_text()
    default_max_body_size = 500 * 1024 * 1024
    address_schemes = True
    auth_hint = "basic_username and basic_password"

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        option_values = {option.name: getattr(self, option.name) for option in PARSER_OPTIONS}
        self.parser = make_parser(option_values, self.name)
        self.extra_headers = tuple((k, v) for k, v in self.http_headers.items())

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> List[Tuple[str, str]]:
        problems = cls.check_server_options(options) + check_parser_options(options)
        if options["service_address"].startswith("unix://"):
            problems.append(("service_address", "unix sockets are not supported yet; use "
                             "tcp://host:port"))
        code = options["http_success_code"]
        if code and not 200 <= code <= 299:
            problems.append(("http_success_code", f"must be a 2xx status, got {code}"))
        if not options["methods"]:
            problems.append(("methods", "must name at least one method, like [\"POST\"]"))
        for path in options["paths"]:
            if not path.startswith("/"):
                problems.append(("paths", f"{path!r} must start with / (like \"/telegraf\")"))
        mode = options["socket_mode"]
        if mode and not re.fullmatch(r"[0-7]{3,4}", mode):
            problems.append(("socket_mode", f"an octal mode like \"660\", got {mode!r}"))
        return problems

    def has_auth(self) -> bool:
        return bool(self.basic_username and self.basic_password)

    def route(self, request: Request) -> Response:
        try:
            response = self._route(request)
        except Rejection as rejection:
            rejection.response = self._with_headers(rejection.response)
            raise
        return self._with_headers(response)

    def _with_headers(self, response: Response) -> Response:
        if not self.extra_headers:
            return response
        return response._replace(headers=(*response.headers, *self.extra_headers))

    def _route(self, request: Request) -> Response:
        self._authenticate(request)
        if request.path not in self.paths:
            self.count("not_founds_served")
            raise Rejection(text_response(404, "404 page not found"), "not found")
        length = request.header("Content-Length")
        if length.isdigit() and int(length) > self.max_body:  # Telegraf: before the method
            raise Rejection(_error(413, "http: request body too large"),
                            f"body over max_body_size ({self.max_body} bytes)")
        if request.method not in self.methods:
            raise Rejection(_error(405, "http: method not allowed"), "method not allowed")
        metrics = self._parse(self._payload(request))
        for metric in metrics:
            for header, tag in self.http_header_tags.items():
                value = request.header(header)
                if value:
                    metric.tags[tag] = value
            if self.path_tag:
                metric.tags[PATH_TAG] = request.path
        self.store(metrics, lambda status, message: _error(status, message))
        return Response(self.http_success_code or 204)

    def _authenticate(self, request: Request) -> None:
        if not (self.basic_username and self.basic_password):
            return  # Telegraf checks only when both are set
        credentials = request.basic_auth()
        if credentials is None or not (same(credentials[0], self.basic_username)
                                       & same(credentials[1], self.basic_password)):
            self.count("auth_failures")
            raise Rejection(text_response(401, "Unauthorized."), "unauthorized")

    def _payload(self, request: Request) -> bytes:
        if self.data_source == "query":
            return unquote(request.raw_query).encode()
        if request.header("Content-Encoding") == "snappy":
            raise Rejection(_error(400, "http: bad request"), "snappy bodies are not supported")
        try:
            data = request.body(self.max_body)
        except TooLarge:
            raise Rejection(_error(413, "http: request body too large"),
                            f"body over max_body_size ({self.max_body} bytes)") from None
        except BadBody as err:
            raise Rejection(_error(400, "http: bad request"), str(err)) from None
        self.count("bytes_received", len(data))
        return data

    def _parse(self, data: bytes) -> list:
        try:
            return self.parser.parse(data)
        except ValueError as err:
            raise Rejection(_error(400, "http: bad request"), f"parse error: {err}") from None


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})
