"""The options both MQTT plugins take (Telegraf's names), and the client settings built from
them. Values are checked at `agent check` through check_connection()."""

from __future__ import annotations

import random
import string
from typing import Any, Dict, Iterable, List, NamedTuple, Tuple

from agent.common.mqtt.servers import Broker, parse_servers
from agent.common.tls import TLS_OPTIONS, tls_file_problems
from agent.plugin.options import Option

PROTOCOLS = ("3.1.1", "5")


def connection_options(servers_default: List[str]) -> Tuple[Option, ...]:
    return (
        Option("servers", "str_list", servers_default, "broker URLs: tcp://, mqtt://, ssl://, "
               "tls://, mqtts://, ws://, wss://; tried in turn"),
        Option("username", "str", "", "login user", secret=True),
        Option("password", "str", "", "login password", secret=True),
        Option("client_id", "str", "", "client ID; empty = random (no persistent session)"),
        Option("persistent_session", "bool", False, "keep the session (subscriptions, unacked "
               "messages) on the broker across reconnects; needs client_id"),
        Option("qos", "int", 0, "0 at most once, 1 at least once, 2 exactly once"),
        Option("client_trace", "bool", False, "log the MQTT client's packets at debug level"),
        *TLS_OPTIONS,
    )


def check_connection(options: Dict[str, Any]) -> Iterable[Tuple[str, str]]:
    """(key, problem) for the connection options, as Telegraf's Init() checks them."""
    try:
        parse_servers(options["servers"], tls_wanted(options))
    except ValueError as err:
        yield "servers", str(err)
    if options["persistent_session"] and not options["client_id"]:
        yield "persistent_session", "persistent_session requires client_id"
    if options["qos"] not in (0, 1, 2):
        yield "qos", f"qos value must be 0, 1, or 2: {options['qos']}"
    if options["tls_key"] and not options["tls_cert"]:
        yield "tls_key", "tls_key needs tls_cert"
    yield from tls_file_problems(options)


def tls_wanted(options: Dict[str, Any]) -> bool:
    """Telegraf turns TLS on when any TLS option is set."""
    return bool(options["tls_ca"] or options["tls_cert"] or options["insecure_skip_verify"])


class ClientSettings(NamedTuple):
    brokers: List[Broker]
    protocol: str
    client_id: str
    persistent: bool
    username: str
    password: str
    keepalive: int  # seconds; 0 = off
    connect_timeout: float
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    insecure_skip_verify: bool = False
    max_reconnect_interval: float = 30.0
    manual_ack: bool = False
    receive_maximum: int = 0  # MQTT 5: how many unacknowledged messages the broker may send
    max_inflight: int = 100  # our QoS 1/2 publishes awaiting their acknowledgement
    trace: bool = False


def client_settings(options: Dict[str, Any], role: str, keepalive: int,
                    connect_timeout: float, **extra: Any) -> ClientSettings:
    return ClientSettings(
        brokers=parse_servers(options["servers"], tls_wanted(options)),
        protocol=options.get("protocol") or "3.1.1",
        client_id=options["client_id"] or random_client_id(role),
        persistent=options["persistent_session"],
        username=options["username"], password=options["password"],
        keepalive=keepalive, connect_timeout=connect_timeout,
        tls_ca=options["tls_ca"], tls_cert=options["tls_cert"], tls_key=options["tls_key"],
        insecure_skip_verify=options["insecure_skip_verify"], trace=options["client_trace"],
        **extra,
    )


def random_client_id(role: str) -> str:
    """Like Telegraf's "Telegraf-Output-" + 5 random characters."""
    suffix = "".join(random.choices(string.ascii_letters + string.digits, k=5))
    return f"agent-{role}-{suffix}"
