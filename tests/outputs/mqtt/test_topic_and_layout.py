"""outputs.mqtt topics and layouts against Telegraf's own test cases (tests/data/mqtt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.config.errors import ConfigError
from agent.config.loader import parse
from agent.lineprotocol.metric import Metric
from agent.outputs.mqtt.layout import messages, split_lines, to_string
from agent.outputs.mqtt.topic import TopicError, TopicTemplate

DATA = json.loads((Path(__file__).parents[2] / "data" / "mqtt" / "topic_templates.json")
                  .read_text())
M = DATA["metric"]


@pytest.mark.parametrize("case", DATA["generate"], ids=lambda c: c["name"])
def test_topic_templates_render_like_telegraf(case):
    metric = Metric(M["name"], dict(M["fields"]), dict(M["tags"]), M["time"])
    assert TopicTemplate(case["pattern"]).render(metric) == case["want"]


@pytest.mark.parametrize("case", DATA["validity"], ids=lambda c: c["name"])
def test_topic_validity_is_checked_by_agent_check(case):
    text = (f"[[inputs.mem]]\n[[outputs.mqtt]]\nservers = [\"tcp://127.0.0.1:1883\"]\n"
            f"topic = {json.dumps(case['topic'])}\n")
    if not case["error"]:
        parse(text, "t.toml")
        return
    with pytest.raises(ConfigError) as caught:
        parse(text, "t.toml")
    assert case["error"] in str(caught.value)
    assert "[outputs.mqtt] topic" in str(caught.value)


def test_field_layout_topics_and_values_like_telegraf():
    case = DATA["field_layout"]
    template = TopicTemplate(case["topic"])
    from agent.lineprotocol.parser import parse_metrics

    got = []
    for line in case["input"]:
        (metric,) = parse_metrics(line + "\n")
        topic = template.render(metric)
        got += [f"{t} {p.decode()}" for t, p in messages("field", topic, line + "\n")]
    assert sorted(got) == sorted(case["expected"])


@pytest.mark.parametrize("template,problem", [
    ('a/{{ .Name | upper }}', "unsupported template action {{ .Name | upper }}"),
    ('a/{{ .Field "x" }}', "unsupported template action"),
    ("a/{{ .Name", "unclosed"),
    ("a/}}", "stray"),
])
def test_unsupported_templates_are_config_errors(template, problem):
    with pytest.raises(TopicError, match=problem):
        TopicTemplate(template)


def test_go_trim_markers_and_raw_strings():
    metric = Metric("cpu", {"v": 1}, {"host": "pi"})
    assert TopicTemplate("a/ {{- .Name -}} /b").render(metric) == "a/cpu/b"
    assert TopicTemplate("x/{{.Tag `host`}}").render(metric) == "x/pi"


@pytest.mark.parametrize("value", ["a+b", "a#b", "nul\0"])
def test_a_tag_value_that_makes_the_topic_unpublishable_is_refused(value):
    with pytest.raises(TopicError, match="contains"):
        TopicTemplate('t/{{ .Tag "host" }}').render(Metric("m", {"v": 1}, {"host": value}))


def test_layouts_split_a_body_into_messages():
    body = 'm,a=b s="two\nlines",v=1i 1\nm v=2.5 2\n'
    assert split_lines(body) == ['m,a=b s="two\nlines",v=1i 1\n', "m v=2.5 2\n"]
    assert messages("non-batch", "t", body) == [
        ("t", b'm,a=b s="two\nlines",v=1i 1\n'), ("t", b"m v=2.5 2\n")]
    assert messages("batch", "t", body) == [("t", body.encode())]
    assert messages("field", "t", body) == [("t/s", b"two\nlines"), ("t/v", b"1"),
                                            ("t/v", b"2.5")]


@pytest.mark.parametrize("value,text", [
    (21.4, "21.4"), (25.0, "25"), (1e20, "100000000000000000000"), (1e-07, "0.0000001"),
    (123, "123"), (True, "true"), (False, "false"), ("x y", "x y"),
])
def test_field_values_as_text_like_telegraf_tostring(value, text):
    assert to_string(value) == text
