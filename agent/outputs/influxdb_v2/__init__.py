"""outputs.influxdb_v2: InfluxDB 2.x/3.x (and VictoriaMetrics) /api/v2/write through
influxdb-client in SYNCHRONOUS mode, fed line protocol we already encoded, via the disk spool.

Never the client's batching mode: it drops a batch after its retries and loses its buffer at
exit. The client must not touch our logging: building one sets the level of the loggers it
knows (urllib3's among them) to WARNING, so we put every level back as it was.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, List, Tuple

from agent.common.http import Failover, body_bytes, error_text
from agent.common.tls import HTTP_OPTIONS, tls_file_problems
from agent.delivery.output import SpooledOutput
from agent.delivery.policy import RETRY, Outcome, classify
from agent.plugin.options import Option


class InfluxDBv2Output(SpooledOutput):
    name = "influxdb_v2"
    description = "InfluxDB v2 API /api/v2/write (Telegraf's outputs.influxdb_v2), via a disk spool"
    options = (
        Option("urls", "url_list", ["http://localhost:8086"], "InfluxDB URLs; failover in order; "
               "empty = the default", empty_is_default=True),
        Option("token", "line", "", "API token", secret=True),
        Option("organization", "line", "", "organization name"),
        Option("bucket", "line", "", "bucket to write to"),
        Option("bucket_tag", "line", "", "take the bucket from this tag when present"),
        Option("exclude_bucket_tag", "bool", False, "drop bucket_tag before writing"),
        *HTTP_OPTIONS,
    )
    route_options = ("bucket_tag", "exclude_bucket_tag")
    requires = (("influxdb_client", "influx"),)
    sample_config = """\
# InfluxDB v2 API. Metrics wait in a disk buffer while the server is unreachable.
[[outputs.influxdb_v2]]
  urls = ["${INFLUX_URL:-http://127.0.0.1:8086}"]
  token = "${INFLUX_TOKEN}"
  organization = "${INFLUX_ORG}"
  bucket = "${INFLUX_BUCKET}"
  # content_encoding = "gzip"
"""

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> Iterator[Tuple[str, str]]:
        yield from tls_file_problems(options)

    def identity(self) -> str:
        return f"{','.join(self.urls)}|{self.organization}|{self.bucket}"

    def make_transport(self) -> InfluxV2Transport:
        return InfluxV2Transport(self)


class InfluxV2Transport:
    def __init__(self, output: InfluxDBv2Output) -> None:
        self.output = output
        self.failover = Failover(output.urls)
        self.clients = {url: _client(output, url) for url in output.urls}

    @property
    def label(self) -> str:
        return f"{self.failover.url} bucket {self.output.bucket!r}"

    def send(self, key: str, body: str) -> Outcome:
        return self.failover.send(lambda url: self._write(url, key or self.output.bucket, body))

    def _write(self, url: str, bucket: str, body: str) -> Outcome:
        import urllib3
        from influxdb_client.client.exceptions import InfluxDBError
        from influxdb_client.rest import ApiException

        client, write_api = self.clients[url]
        try:
            # Compressed here at level 1 (the client would use level 9: 3-4x the CPU for a
            # few percent less bytes); the Content-Encoding header is set on the client.
            write_api.write(bucket=bucket, org=self.output.organization,
                            record=body_bytes(body, self.output.content_encoding),
                            write_precision="ns")
        except ApiException as err:
            headers = err.headers or {}
            reason = error_text((err.body or err.reason or "").encode())
            return classify(err.status or 0, reason, headers.get("Retry-After"))
        except InfluxDBError as err:
            status = getattr(err.response, "status", 0) or 0
            return classify(status, str(err.message or err)) if status else Outcome(
                RETRY, 0, str(err))
        except (urllib3.exceptions.HTTPError, OSError) as err:
            reason = getattr(err, "reason", None) or err
            return Outcome(RETRY, 0, f"{type(reason).__name__}: {reason}"[:300])
        return Outcome("ok", 204)

    def close(self) -> None:
        for client, write_api in self.clients.values():
            write_api.close()
            client.close()


def _client(output: InfluxDBv2Output, url: str):
    from influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    levels = _logger_levels()
    try:
        client = InfluxDBClient(
            url=url, token=output.token, org=output.organization,
            timeout=int(output.timeout * 1000), enable_gzip=False,
            verify_ssl=not output.insecure_skip_verify, ssl_ca_cert=output.tls_ca or None,
            cert_file=output.tls_cert or None, cert_key_file=output.tls_key or None,
            retries=False,
        )
    finally:
        _restore(levels)
    headers = dict(output.http_headers)
    if output.content_encoding == "gzip":
        headers["Content-Encoding"] = "gzip"
    for name, value in headers.items():
        client.api_client.set_default_header(name, value)
    return client, client.write_api(write_options=SYNCHRONOUS)


def _logger_levels() -> Dict[str, int]:
    manager = logging.Logger.manager
    names: List[str] = [n for n, lg in manager.loggerDict.items()
                        if isinstance(lg, logging.Logger)]
    levels = {name: logging.getLogger(name).level for name in names}
    levels[""] = logging.getLogger().level
    return levels


def _restore(levels: Dict[str, int]) -> None:
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)
