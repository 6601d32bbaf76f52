"""Telegraf's topic templates: `telegraf/{{ .Tag "host" }}/{{ .Name }}`.

Supported actions: {{ .Name }}, {{ .Tag "key" }} (or `key`), and the legacy {{ .Hostname }}
(= .Tag "host") and {{ .PluginName }} (= .Name), with Go's {{- -}} trim markers. Sprig
functions and pipelines are not: `agent check` names the action. Rendering follows Telegraf's
generateTopic: empty levels (a missing tag) are dropped, a leading "/" is kept, and a topic
left empty is the metric's name.
"""

from __future__ import annotations

import re
from typing import Callable, List, Tuple, Union

from agent.lineprotocol.metric import Metric

_ACTION = re.compile(r"\{\{(-\s)?\s*(.*?)\s*(\s-)?\}\}", re.S)
_TAG = re.compile(r"""\.Tag\s+(?:"((?:[^"\\]|\\.)*)"|`([^`]*)`)""")
SUPPORTED = '{{ .Name }}, {{ .Tag "key" }}, {{ .Hostname }} and {{ .PluginName }}'
MAX_TOPIC_BYTES = 65535

Part = Union[str, Callable[[Metric], str]]


class TopicError(ValueError):
    """A template that cannot work, or a metric whose topic cannot be published."""


class TopicTemplate:
    def __init__(self, template: str) -> None:
        self.template = template
        self.parts = compile_template(template)
        self.static = all(isinstance(p, str) for p in self.parts)

    def render(self, metric: Metric) -> str:
        """The topic for a metric; TopicError when a tag value makes it unpublishable."""
        text = "".join(p if isinstance(p, str) else p(metric) for p in self.parts)
        topic = "/".join(level for level in text.split("/") if level)
        if not topic:
            topic = metric.name
        elif text.startswith("/"):
            topic = "/" + topic
        check_topic(topic)
        return topic


def compile_template(template: str) -> List[Part]:
    """Literal text and value getters; TopicError for a forbidden or unsupported part."""
    for level in template.split("/"):
        for char in "#+":
            if char in level:
                raise TopicError(f"found forbidden character {char} in the topic name "
                                 f"{template}: MQTT wildcards cannot be published to")
    parts: List[Part] = []
    pos = 0
    for match in _ACTION.finditer(template):
        literal = template[pos:match.start()]
        parts.append(literal.rstrip() if match.group(1) else literal)
        parts.append(_getter(match.group(2), match.group(0)))
        pos = match.end()
        if match.group(3):
            pos += len(template[pos:]) - len(template[pos:].lstrip())
    rest = template[pos:]
    if "{{" in rest or "}}" in rest:
        raise TopicError(f"unclosed or stray template braces in {template!r}")
    parts.append(rest)
    return [p for p in parts if p != ""]


def _getter(action: str, whole: str) -> Callable[[Metric], str]:
    if action in (".Name", ".PluginName"):
        return _name
    if action == ".Hostname":
        return _tag_getter("host")
    match = _TAG.fullmatch(action)
    if match:
        key = match.group(2) if match.group(2) is not None else _unquote(match.group(1))
        return _tag_getter(key)
    raise TopicError(f"unsupported template action {whole}: only {SUPPORTED} are supported")


def _name(metric: Metric) -> str:
    return metric.name


def _tag_getter(key: str) -> Callable[[Metric], str]:
    def tag(metric: Metric) -> str:
        return metric.tags.get(key, "")

    return tag


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def check_topic(topic: str) -> None:
    """A topic a broker takes: no wildcards, no NUL, at most 65535 bytes of UTF-8."""
    bad = [c for c in ("+", "#", "\0") if c in topic]
    if bad:
        raise TopicError(f"topic {topic[:200]!r} contains {bad[0]!r} (from a tag value?)")
    if len(topic.encode("utf-8", "surrogatepass")) > MAX_TOPIC_BYTES:
        raise TopicError(f"topic {topic[:100]!r}... is longer than {MAX_TOPIC_BYTES} bytes")


def template_problem(template: str) -> Tuple[bool, str]:
    """(ok, problem) for `agent check`."""
    try:
        TopicTemplate(template)
    except TopicError as err:
        return False, str(err)
    return True, ""
