"""[outputs.mqtt.v5]: MQTT 5 publish properties, sent with every message (protocol = "5")."""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional

from agent.plugin.options import parse_duration

KEYS = ("content_type", "response_topic", "message_expiry", "topic_alias", "user_properties")


def problems(table: Optional[Dict[str, Any]]) -> Iterable[str]:
    for key, value in (table or {}).items():
        if key not in KEYS:
            yield f"unknown key {key!r} (known: {', '.join(KEYS)})"
        elif key in ("content_type", "response_topic") and not isinstance(value, str):
            yield f"{key} must be a string"
        elif key == "message_expiry":
            try:
                parse_duration(value) if isinstance(value, str) else float("x")
            except ValueError:
                yield 'message_expiry must be a duration like "10m"'
        elif key == "topic_alias" and (isinstance(value, bool) or not isinstance(value, int)
                                       or not 0 <= value <= 65535):
            yield "topic_alias must be an integer from 0 to 65535"
        elif key == "user_properties" and not (
                isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
            yield "user_properties must be a table of strings"


def publish_properties(table: Optional[Dict[str, Any]]) -> Any:
    """paho Properties for PUBLISH, or None when there is nothing to send."""
    if not table:
        return None
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    properties = Properties(PacketTypes.PUBLISH)
    if table.get("content_type"):
        properties.ContentType = table["content_type"]
    if table.get("response_topic"):
        properties.ResponseTopic = table["response_topic"]
    expiry = int(parse_duration(table.get("message_expiry", "0s")))
    if expiry > 0:
        properties.MessageExpiryInterval = expiry
    if table.get("topic_alias"):
        properties.TopicAlias = table["topic_alias"]
    user = table.get("user_properties") or {}
    if user:
        properties.UserProperty = list(user.items())
    return properties
