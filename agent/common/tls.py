"""Options shared by the HTTP outputs (Telegraf's names), and a urllib3 pool built from them."""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, Tuple

from agent.plugin.options import Option

TLS_OPTIONS = (
    Option("tls_ca", "str", "", "CA bundle to verify the server"),
    Option("tls_cert", "str", "", "client certificate"),
    Option("tls_key", "str", "", "client key"),
    Option("insecure_skip_verify", "bool", False, "do not verify the server certificate"),
)

HTTP_OPTIONS = (
    # 0 or "" is the default, as in Telegraf's outputs.influxdb (its influxdb_v2 would wait
    # forever; a request here always has a bound, so a silent server cannot stall delivery).
    Option("timeout", "duration", 5.0, "HTTP request timeout; 0 = the default 5s",
           minimum=0.001, maximum=300.0, empty_is_default=True),
    Option("content_encoding", "str", "gzip", "gzip or identity; empty = gzip",
           choices=("gzip", "identity"), empty_is_default=True),
    Option("http_headers", "header_map", {}, "extra HTTP headers"),
    Option("influx_uint_support", "bool", False, "write unsigned integers with a u suffix"),
    *TLS_OPTIONS,
)


def tls_file_problems(options: Dict[str, Any]) -> Iterator[Tuple[str, str]]:
    """(key, problem) for TLS files that cannot be read: caught by `agent check`, not by the
    first connection."""
    for key in ("tls_ca", "tls_cert", "tls_key"):
        path = options.get(key)
        if not path:
            continue
        if not os.path.isfile(path):
            yield key, f"{path!r}: no such file"
        elif not os.access(path, os.R_OK):
            yield key, f"{path!r}: cannot be read (permissions)"


def pool_manager(output: object, timeout: float):
    import urllib3

    kwargs = {
        "timeout": urllib3.Timeout(connect=timeout, read=timeout),
        "retries": False,
        "cert_reqs": "CERT_NONE" if output.insecure_skip_verify else "CERT_REQUIRED",
    }
    if output.tls_ca:
        kwargs["ca_certs"] = output.tls_ca
    if output.tls_cert:
        kwargs["cert_file"] = output.tls_cert
        kwargs["key_file"] = output.tls_key or None
    return urllib3.PoolManager(**kwargs)
