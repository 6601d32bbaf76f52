"""mqtt_consumer's topic tag and [[topic_parsing]] against Telegraf's TestTopicTag cases, and
its config checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest

from agent.config.errors import ConfigError
from agent.config.loader import parse
from agent.inputs.mqtt_consumer import MQTTConsumer
from agent.lineprotocol.metric import UInt

DATA = json.loads((Path(__file__).parents[2] / "data" / "mqtt" / "topic_parsing.json")
                  .read_text())


class Message(NamedTuple):
    """What paho hands over: the fields the consumer reads."""

    topic: str
    payload: bytes
    qos: int = 1
    mid: int = 1


def consumer(case: dict) -> MQTTConsumer:
    text = f'[[inputs.mqtt_consumer]]\n  topics = [{json.dumps(case["topic"])}]\n'
    if case["topic_tag"] is not None:
        text += f'  topic_tag = {json.dumps(case["topic_tag"])}\n'
    for table in case["parsing"]:
        text += "  [[inputs.mqtt_consumer.topic_parsing]]\n"
        text += "".join(f"    {k} = {json.dumps(v)}\n" for k, v in table.items() if k != "types")
        if "types" in table:
            text += "    [inputs.mqtt_consumer.topic_parsing.types]\n"
            text += "".join(f"      {k} = {json.dumps(v)}\n" for k, v in table["types"].items())
    config = parse(text + "[[outputs.file]]\n", "t.toml")
    return MQTTConsumer(**config.inputs[0].options)


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: c["name"])
def test_topic_tag_and_parsing_like_telegraf(case):
    if "error" in case:
        with pytest.raises(ConfigError, match=case["error"]):
            consumer(case)
        return
    plugin = consumer(case)
    (metric,) = plugin._metrics(Message(case["topic"], DATA["payload"].encode()))
    expected = case["expected"]
    assert (metric.name, metric.tags) == (expected["name"], expected["tags"])
    assert metric.fields == expected["fields"]
    assert all(type(metric.fields[k]) is type(v) for k, v in expected["fields"].items())


def test_types_convert_and_a_bad_value_rejects_the_message():
    plugin = consumer({"topic": "s/+/+", "topic_tag": "", "parsing": [
        {"topic": "s/+/+", "fields": "_/floor/temp", "types": {"floor": "uint", "temp": "float"}}]})
    (metric,) = plugin._metrics(Message("s/3/21.5", b"m v=1i"))
    assert metric.fields == {"v": 1, "floor": 3, "temp": 21.5}
    assert isinstance(metric.fields["floor"], UInt)
    with pytest.raises(ValueError, match="unable to convert field '-3' to type uint"):
        plugin._metrics(Message("s/-3/21.5", b"m v=1i"))


@pytest.mark.parametrize("snippet,problem", [
    ('topics = ["a/#/b"]', "# must be a whole level"),
    ('topics = ["a+"]', r"\+ must be a whole level"),
    ("topics = []", "no topics"),
    ('topics = ["a"]\n  persistent_session = true', "persistent_session requires client_id"),
    ('topics = ["a"]\n  qos = 3', "qos value must be 0, 1, or 2"),
    ('topics = ["a"]\n  servers = ["udp://x:1"]', "unknown scheme 'udp'"),
    ('topics = ["a"]\n  servers = ["tcp://x:1", "ssl://y:2"]', "cannot be mixed"),
    ('topics = ["a"]\n  connection_timeout = "500ms"', "at least 1"),
    ('topics = ["a"]\n  data_format = "json"\n  json_query = "a|b"', "json_query"),
    ('topics = ["a"]\n  data_format = "xml"', "must be one of"),
    ('topics = ["a"]\n  [[inputs.mqtt_consumer.topic_parsing]]\n    topic = "a/#/#"',
     "topic can only contain one hash"),
    ('topics = ["a"]\n  [[inputs.mqtt_consumer.topic_parsing]]\n    topic = "a"\n'
     '    [inputs.mqtt_consumer.topic_parsing.types]\n      x = "bool"', "use int, uint, or float"),
])
def test_config_problems_are_caught_by_agent_check(snippet, problem):
    with pytest.raises(ConfigError, match=problem):
        parse(f"[[inputs.mqtt_consumer]]\n  {snippet}\n[[outputs.file]]\n", "t.toml")


def test_json_payloads_through_the_adapter():
    config = parse('[[inputs.mqtt_consumer]]\n  topics = ["j"]\n  data_format = "json"\n'
                   '  tag_keys = ["room"]\n  json_name_key = "kind"\n'
                   '  json_string_fields = ["note"]\n  json_time_key = "ts"\n'
                   '  json_time_format = "unix_ms"\n[[outputs.file]]\n', "t.toml")
    plugin = MQTTConsumer(**config.inputs[0].options)
    payload = json.dumps([{"kind": "climate", "room": "kitchen", "ts": 1700000000123,
                           "t": 21, "deep": {"h": 40.5}, "note": "ok", "other": "dropped"}])
    (metric,) = plugin._metrics(Message("j", payload.encode()))
    assert metric.name == "climate" and metric.time == 1700000000123000000
    assert metric.tags == {"room": "kitchen", "topic": "j"}
    assert metric.fields == {"t": 21.0, "deep_h": 40.5, "note": "ok"}
    with pytest.raises(ValueError, match="invalid JSON"):
        plugin._metrics(Message("j", b"not json"))


def test_json_payloads_take_telegrafs_query_and_go_layouts():
    """The shared json parser: a GJSON query into a nested document, a Go time layout."""
    config = parse('[[inputs.mqtt_consumer]]\n  topics = ["j"]\n  data_format = "json"\n'
                   '  json_query = "readings"\n  tag_keys = ["room"]\n'
                   '  json_time_key = "at"\n  json_time_format = "2006-01-02T15:04:05Z07:00"\n'
                   '[[outputs.file]]\n', "t.toml")
    plugin = MQTTConsumer(**config.inputs[0].options)
    payload = json.dumps({"board": "wio", "readings": [
        {"room": "kitchen", "at": "2026-12-01T10:00:00Z", "co2": 550},
        {"room": "hall", "at": "2026-12-01T10:00:01+01:00", "co2": 612}]})
    metrics = plugin._metrics(Message("j", payload.encode()))
    assert [(m.tags["room"], m.fields["co2"], m.time) for m in metrics] == [
        ("kitchen", 550.0, 1796119200000000000), ("hall", 612.0, 1796115601000000000)]
