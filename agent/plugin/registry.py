"""The registries: plugin name -> "module:Class", one explicit dict per kind.

Nothing is scanned and nothing registers itself on import: a plugin's module (and its heavy
dependencies, such as psycopg or influxdb_client) is imported only when a config uses it.
"""

from __future__ import annotations

import importlib
from typing import Dict, Type

from agent.plugin.base import Plugin

INPUTS: Dict[str, str] = {
    "http_listener_v2": "agent.inputs.http_listener_v2:HTTPListenerV2",
    "influxdb_listener": "agent.inputs.influxdb_listener:InfluxDBListener",
    "influxdb_v2_listener": "agent.inputs.influxdb_v2_listener:InfluxDBV2Listener",
    "internal": "agent.inputs.internal:InternalInput",
    "mem": "agent.inputs.mem:MemInput",
    "mqtt_consumer": "agent.inputs.mqtt_consumer:MQTTConsumer",
    "postgresql": "agent.inputs.postgresql:PostgresqlInput",
    "serial": "agent.inputs.serial:SerialInput",
}

OUTPUTS: Dict[str, str] = {
    "file": "agent.outputs.file:FileOutput",
    "influxdb": "agent.outputs.influxdb:InfluxDBOutput",
    "influxdb_v2": "agent.outputs.influxdb_v2:InfluxDBv2Output",
    "mqtt": "agent.outputs.mqtt:MQTTOutput",
}

AGGREGATORS: Dict[str, str] = {
    "basicstats": "agent.aggregators.basicstats:BasicStats",
    "minmax": "agent.aggregators.minmax:MinMax",
}

REGISTRIES: Dict[str, Dict[str, str]] = {
    "inputs": INPUTS,
    "outputs": OUTPUTS,
    "aggregators": AGGREGATORS,
}


def load(kind: str, name: str) -> Type[Plugin]:
    """The class of a registered plugin ("inputs", "mem"), importing its module now."""
    module_name, class_name = REGISTRIES[kind][name].split(":")
    return getattr(importlib.import_module(module_name), class_name)
