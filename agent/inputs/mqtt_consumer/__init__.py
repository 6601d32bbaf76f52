"""inputs.mqtt_consumer: metrics from MQTT topics (Telegraf's mqtt_consumer), acknowledged to
the broker only once they are in every output's buffer (on disk with the disk buffer).

With persistent_session and QoS 1 a kill -9 of the agent loses nothing: what was not
acknowledged is delivered again when it reconnects (at least once; a metric with its own
timestamp lands on the same point again). See ingest.py for the flow and the backpressure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from agent.common.mqtt.connection import Connection
from agent.common.mqtt.settings import (
    PROTOCOLS,
    check_connection,
    client_settings,
    connection_options,
)
from agent.inputs.mqtt_consumer import payload, topic_parsing
from agent.inputs.mqtt_consumer.ingest import Ingest
from agent.lineprotocol.metric import Metric
from agent.plugin.base import Accumulator, ServiceInput
from agent.plugin.options import Option

DRAIN_SECONDS = 0.5  # at stop: store and acknowledge what is queued, within Agent.stop's 1 s


class MQTTConsumer(ServiceInput):
    name = "mqtt_consumer"
    description = "metrics from MQTT topics (Telegraf's mqtt_consumer), acknowledged once stored"
    options = (
        *connection_options(["tcp://127.0.0.1:1883"]),
        Option("topics", "str_list", [], "topics to subscribe to; + and # wildcards"),
        Option("topic_tag", "str", "topic", "tag holding the message's topic; empty = none"),
        Option("topic_parsing", "table_list", [], "[[...topic_parsing]]: measurement, tags and "
               "fields from topic levels"),
        Option("connection_timeout", "duration", 30.0, "how long a connect may take",
               minimum=1.0),
        Option("max_reconnect_interval", "duration", 30.0, "longest wait between reconnects",
               minimum=1.0),
        Option("keepalive", "duration", 60.0, "seconds between keep-alive pings", minimum=0),
        Option("ping_timeout", "duration", 10.0, "accepted for Telegraf; the client waits one "
               "keepalive for the answer"),
        Option("max_undelivered_messages", "int", 1000, "messages received but not yet stored "
               "and acknowledged", minimum=1),
        Option("protocol", "str", "3.1.1", '"3.1.1" or "5" (not in Telegraf)',
               choices=PROTOCOLS),
        Option("max_payload_size", "size", 16 * 1024 * 1024, "larger payloads are dropped "
               "with an error (not in Telegraf); 0 = no limit", minimum=0),
        Option("data_format", "str", "influx", "influx or json", choices=payload.FORMATS),
        *payload.JSON_OPTIONS,
    )
    sample_config = (Path(__file__).parent / "sample.conf").read_text(encoding="utf-8")

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> Iterable[Tuple[str, str]]:
        yield from check_connection(options)
        if not options["topics"]:
            yield "topics", "no topics to subscribe to"
        for topic in options["topics"]:
            problem = _filter_problem(topic)
            if problem:
                yield "topics", f"{topic!r}: {problem}"
        for where, problem in topic_parsing.check_tables(options["topic_parsing"]):
            yield "topic_parsing", f"{where}: {problem}"
        yield from payload.check_options(options)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.parsers = [topic_parsing.TopicParser(t) for t in self.topic_parsing]
        self.connection: Optional[Connection] = None
        self.ingest: Optional[Ingest] = None
        self._parse = payload.make_parser(self.__dict__, self.name, self._bad_line)

    def start(self, accumulator: Optional[Accumulator] = None) -> None:  # type: ignore[override]
        if accumulator is None:
            raise ValueError("mqtt_consumer needs the engine's accumulator")
        settings = client_settings(
            self.__dict__, "consumer", int(self.keepalive), self.connection_timeout,
            max_reconnect_interval=self.max_reconnect_interval, manual_ack=True,
            receive_maximum=self.max_undelivered_messages)
        self.connection = Connection(settings, f"inputs.{self.name}", self.log,
                                     on_connected=self._subscribe)
        self.ingest = Ingest(self._metrics, accumulator, self.connection.ack,
                             self.max_undelivered_messages, self.log)
        self.connection.on_message = self.ingest.offer
        self.ingest.start()
        self.connection.start()

    def _subscribe(self, session_present: bool) -> None:
        """On every connect, as Telegraf does: a persistent session keeps them anyway."""
        self.connection.client.subscribe([(topic, self.qos) for topic in self.topics])

    def _metrics(self, message: Any) -> List[Metric]:
        """One message's metrics, tagged with its topic; ValueError rejects the message."""
        size = len(message.payload)
        if self.max_payload_size and size > self.max_payload_size:
            raise ValueError(f"payload of {size} bytes exceeds max_payload_size "
                             f"({self.max_payload_size})")
        topic = message.topic
        metrics = self._parse(message.payload)
        for metric in metrics:
            if self.topic_tag:
                metric.tags[self.topic_tag] = topic
            for parser in self.parsers:
                parser.apply(metric, topic)
        return metrics

    def _bad_line(self, problem: str) -> None:
        if self.ingest is not None:
            self.ingest.stats.parse_errors += 1
        self.log.error("Invalid line in a message, dropped (the rest is kept): %s", problem)

    def stop(self) -> None:
        if self.ingest is not None:
            self.ingest.drain(DRAIN_SECONDS)
        if self.connection is not None:
            self.connection.stop()
        if self.ingest is not None:
            self.ingest.stop()

    def stats(self) -> Dict[str, int]:
        if self.ingest is None:
            return {}
        counters = self.ingest.stats.as_dict()
        counters["connection_errors"] = self.connection.errors if self.connection else 0
        return counters


def _filter_problem(topic: str) -> str:
    """Why a subscription filter is invalid (MQTT 4.7.1), or ""."""
    if not topic:
        return "empty topic"
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return "# must be a whole level, and the last one"
        if "+" in level and level != "+":
            return "+ must be a whole level"
    return ""
