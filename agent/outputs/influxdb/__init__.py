"""outputs.influxdb: InfluxDB 1.x `/write` over urllib3, through the disk spool."""

from __future__ import annotations

import base64
from typing import Any, Dict, Iterator, Optional, Tuple
from urllib.parse import quote, urlencode

from agent.common.http import Failover, body_bytes, response_outcome
from agent.common.tls import HTTP_OPTIONS, pool_manager, tls_file_problems
from agent.delivery.output import SpooledOutput
from agent.delivery.policy import RETRY, Outcome
from agent.plugin.options import Option


class InfluxDBOutput(SpooledOutput):
    name = "influxdb"
    description = "InfluxDB 1.x /write (Telegraf's outputs.influxdb), via a disk spool"
    options = (
        Option("urls", "url_list", ["http://localhost:8086"], "InfluxDB URLs; failover in order; "
               "empty = the default", empty_is_default=True),
        Option("database", "line", "telegraf", "database to write to"),
        Option("database_tag", "line", "", "take the database from this tag when present"),
        Option("exclude_database_tag", "bool", False, "drop database_tag before writing"),
        Option("retention_policy", "line", "", "retention policy; empty = the default"),
        Option("username", "str", "", "HTTP basic auth user", secret=True),
        Option("password", "str", "", "HTTP basic auth password", secret=True),
        Option("skip_database_creation", "bool", False, "do not CREATE DATABASE at start"),
        *HTTP_OPTIONS,
    )
    route_options = ("database_tag", "exclude_database_tag")
    requires = (("urllib3", "influx"),)  # installed with influxdb-client
    sample_config = """\
# InfluxDB 1.x. Metrics wait in a disk buffer while the server is unreachable.
[[outputs.influxdb]]
  urls = ["http://127.0.0.1:8086"]
  database = "telegraf"
  # username = "${INFLUX_USER}"
  # password = "${INFLUX_PASSWORD}"
  # skip_database_creation = false
  # content_encoding = "gzip"
"""

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> Iterator[Tuple[str, str]]:
        yield from tls_file_problems(options)

    def identity(self) -> str:
        return f"{','.join(self.urls)}|{self.database}|{self.retention_policy}"

    def make_transport(self) -> InfluxV1Transport:
        transport = InfluxV1Transport(self)
        if not self.skip_database_creation:
            transport.create_database(self.database)
        return transport


class InfluxV1Transport:
    def __init__(self, output: InfluxDBOutput) -> None:
        self.output = output
        self.failover = Failover(output.urls)
        self.pool = pool_manager(output, output.timeout)
        self.headers: Dict[str, str] = {"Content-Type": "text/plain; charset=utf-8",
                                        **output.http_headers}
        if output.username or output.password:
            secret = f"{output.username}:{output.password}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(secret).decode()
        if output.content_encoding == "gzip":
            self.headers["Content-Encoding"] = "gzip"

    @property
    def label(self) -> str:
        return f"{self.failover.url} database {self.output.database!r}"

    def send(self, key: str, body: str) -> Outcome:
        params = {"db": key or self.output.database, "precision": "ns"}
        if self.output.retention_policy:
            params["rp"] = self.output.retention_policy
        data = body_bytes(body, self.output.content_encoding)
        return self.failover.send(lambda url: self._post(f"{url}/write?{urlencode(params)}", data))

    def _post(self, url: str, data: bytes, headers: Optional[Dict[str, str]] = None) -> Outcome:
        import urllib3

        try:
            response = self.pool.request("POST", url, body=data, headers=headers or self.headers,
                                         retries=False, preload_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as err:
            return Outcome(RETRY, 0, _short(err))
        return response_outcome(response.status, response.data,
                                response.headers.get("Retry-After"))

    def create_database(self, name: str) -> None:
        """CREATE DATABASE like Telegraf: a failure is a warning, writes will tell the rest."""
        query = f'CREATE DATABASE "{name}"'.replace("\\", "\\\\")
        headers = {k: v for k, v in self.headers.items() if k != "Content-Encoding"}
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = f"q={quote(query)}".encode()
        outcome = self._post(f"{self.failover.url}/query", body, headers)
        if outcome.kind != "ok":
            self.output.log.warning("Cannot create database %r on %s: %s", name,
                                    self.failover.url, outcome.reason or outcome.status)

    def close(self) -> None:
        self.pool.clear()


def _short(err: BaseException) -> str:
    """urllib3 errors repeat themselves (MaxRetryError(reason=NewConnectionError(...)))."""
    reason = getattr(err, "reason", None) or err
    return f"{type(reason).__name__}: {reason}"[:300]
