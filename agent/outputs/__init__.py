"""The output registry: plugin name -> "module:Class". Modules are imported only when used."""

from __future__ import annotations

from typing import Dict, Type

from agent.plugin import Output, load_plugin

OUTPUTS: Dict[str, str] = {
    "file": "agent.outputs.file:FileOutput",
    "influxdb": "agent.outputs.influxdb:InfluxDBOutput",
    "influxdb_v2": "agent.outputs.influxdb_v2:InfluxDBv2Output",
}


def load(name: str) -> Type[Output]:
    return load_plugin(OUTPUTS, name)
