"""The output registry: plugin name -> "module:Class". Modules are imported only when used."""

from __future__ import annotations

import importlib
from typing import Dict, Type

from agent.plugin import Output

OUTPUTS: Dict[str, str] = {
    "file": "agent.outputs.file:FileOutput",
    "influxdb": "agent.outputs.influxdb:InfluxDBOutput",
    "influxdb_v2": "agent.outputs.influxdb_v2:InfluxDBv2Output",
}


def load(name: str) -> Type[Output]:
    module_name, class_name = OUTPUTS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)
