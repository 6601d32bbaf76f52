"""A paho-mqtt client built from ClientSettings (paho is imported here, only when an MQTT
plugin runs). Only the connection's own loop thread may write to the socket: publish() and
ack() from other threads queue packets and wake that loop."""

from __future__ import annotations

from typing import Any

from agent.common.mqtt.settings import ClientSettings

SESSION_NEVER_EXPIRES = 0xFFFFFFFF  # MQTT 5: keep the session like a 3.1.1 persistent one


def build_client(settings: ClientSettings) -> Any:
    import paho.mqtt.client as mqtt

    v5 = settings.protocol == "5"
    broker = settings.brokers[0]
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=settings.client_id,
        clean_session=None if v5 else not settings.persistent,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        transport="websockets" if broker.websockets else "tcp",
        manual_ack=settings.manual_ack,
    )
    # With a socket-write callback set, publish()/ack() never write from the caller's thread
    # (two threads writing one socket could interleave packets); our loop writes.
    client.on_socket_register_write = _loop_thread_writes
    client.max_inflight_messages_set(settings.max_inflight)
    client.max_queued_messages_set(0)  # unbounded: the spool above bounds what we publish
    client.connect_timeout = settings.connect_timeout
    if settings.username:
        client.username_pw_set(settings.username, settings.password or None)
    if broker.tls:
        client.tls_set_context(tls_context(settings))
    if broker.websockets:
        client.ws_set_options(path=broker.path)
    return client


def _loop_thread_writes(client: Any, userdata: Any, sock: Any) -> None:
    """Nothing to register: the connection's loop selects on the socket itself."""


def tls_context(settings: ClientSettings) -> Any:
    """The TLS context; ValueError with one line when a certificate or key cannot be read."""
    import ssl

    try:
        context = ssl.create_default_context(cafile=settings.tls_ca or None)
        if settings.tls_cert:
            context.load_cert_chain(settings.tls_cert, settings.tls_key or None)
    except (OSError, ssl.SSLError) as err:
        raise ValueError(f"cannot load TLS files: {err}") from None
    if settings.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect_arguments(settings: ClientSettings) -> dict:
    """connect() keywords: MQTT 5 states clean start and the session's lifetime explicitly."""
    if settings.protocol != "5":
        return {}
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    properties = Properties(PacketTypes.CONNECT)
    if settings.persistent:
        properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
    if settings.receive_maximum:
        properties.ReceiveMaximum = min(65535, settings.receive_maximum)
    return {"clean_start": not settings.persistent, "properties": properties}


def error_text(rc: int) -> str:
    import paho.mqtt.client as mqtt

    return mqtt.error_string(rc)
