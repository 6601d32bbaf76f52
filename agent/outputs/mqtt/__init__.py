"""outputs.mqtt: metrics to an MQTT broker (Telegraf's outputs.mqtt), through the durable
spool: a line leaves the spool only when the broker acknowledged its message (PUBACK at QoS 1,
PUBCOMP at QoS 2; at QoS 0, when it was written to the connection). While the broker is
unreachable the lines wait on disk and the Writer retries with backoff; nothing is dropped.

One spool key per topic: the topic template is rendered when a metric is written, and the
Writer hands each topic's lines to the transport, which publishes them per the layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, Sequence, Tuple

from agent.common.mqtt.connection import Connection
from agent.common.mqtt.settings import (
    PROTOCOLS,
    check_connection,
    client_settings,
    connection_options,
)
from agent.delivery.output import SpooledOutput
from agent.lineprotocol.metric import Metric
from agent.outputs.mqtt import properties
from agent.outputs.mqtt.layout import LAYOUTS
from agent.outputs.mqtt.topic import TopicError, TopicTemplate, template_problem
from agent.plugin.options import Option

HOMIE = "homie-v4"


class MQTTOutput(SpooledOutput):
    name = "mqtt"
    description = "MQTT broker, 3.1.1 or 5 (Telegraf's outputs.mqtt), via a disk spool"
    options = (
        *connection_options([]),
        Option("protocol", "str", "3.1.1", '"3.1.1" or "5"', choices=PROTOCOLS),
        Option("topic", "str", "",
               'topic template: {{ .Name }}, {{ .Tag "key" }}, legacy {{ .Hostname }}, '
               "{{ .PluginName }}; empty = the metric's name"),
        Option("layout", "str", "non-batch", "non-batch (a message per metric), batch (one per "
               "topic), field (one per field, value as text)", choices=(*LAYOUTS, HOMIE)),
        Option("retain", "bool", False, "set the RETAIN flag on every message"),
        Option("keep_alive", "int", 30, "seconds between keep-alive pings; 0 = off", minimum=0),
        Option("timeout", "duration", 5.0, "how long to wait for a message's acknowledgement",
               minimum=0.001),
        Option("connection_timeout", "duration", 30.0, "how long to wait for CONNACK",
               minimum=0.001),
        Option("homie_device_name", "str", "", "homie-v4 layout (not supported)"),
        Option("homie_node_id", "str", "", "homie-v4 layout (not supported)"),
        Option("data_format", "str", "influx", "only influx", choices=("influx",)),
        Option("influx_uint_support", "bool", False, "write unsigned integers with a u suffix"),
        Option("v5", "table", None, "MQTT 5 publish properties: content_type, response_topic, "
               "message_expiry, topic_alias, [user_properties]"),
    )
    sample_config = (Path(__file__).parent / "sample.conf").read_text(encoding="utf-8")

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> Iterable[Tuple[str, str]]:
        if not options["servers"]:
            yield "servers", "no servers specified"
        else:
            yield from check_connection(options)
        ok, problem = template_problem(options["topic"])
        if not ok:
            yield "topic", problem
        if options["layout"] == HOMIE:
            yield "layout", ('layout "homie-v4" is not supported: use "non-batch", "batch" '
                             'or "field"')
        for problem in properties.problems(options["v5"]):
            yield "v5", problem

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.template = TopicTemplate(self.topic)
        self.connection: Any = None

    def identity(self) -> str:
        """One spool per broker list, topic template and layout."""
        return f"{','.join(self.servers)}|{self.topic}|{self.layout}"

    def route(self, metric: Metric) -> str:
        return self.template.render(metric)

    def make_transport(self) -> Any:
        from agent.outputs.mqtt.transport import MQTTTransport

        # Reconnects back off no longer than the Writer's retries do.
        settings = client_settings(
            self.__dict__, "output", self.keep_alive, self.connection_timeout,
            max_reconnect_interval=min(30.0, self.settings.retry_max_interval))
        self.connection = Connection(settings, f"outputs.{self.name}", self.log)
        transport = MQTTTransport(self, self.connection)
        self.connection.start()
        return transport

    def write(self, metrics: Sequence[Metric]) -> None:
        """Metrics whose topic cannot be published (a tag value with + or #) go to the
        dead-letter file with the reason; the others to the spool."""
        publishable = []
        for metric in metrics:
            try:
                self.template.render(metric)
            except TopicError as err:
                self._dead_letter(metric, str(err))
            else:
                publishable.append(metric)
        super().write(publishable)

    def _dead_letter(self, metric: Metric, reason: str) -> None:
        line = self.serializer.serialize(metric)
        if self.writer is not None and line:
            self.writer.dead_letters.add(f"outputs.{self.name}", reason, line)
        self.log.error("Cannot publish, moved to the dead-letter file: %s (%s)",
                       line.strip()[:200], reason)

    def takes_raw_lines(self) -> bool:
        return False  # the topic comes from each metric's name and tags

    def write_stats(self) -> Dict[str, int]:
        stats = super().write_stats()
        if stats and self.connection is not None:
            stats["connection_errors"] = self.connection.errors
        return stats
