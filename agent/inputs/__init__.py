"""The input registry: plugin name -> "module:Class". Modules are imported only when used."""

from __future__ import annotations

import importlib
from typing import Dict, Type

from agent.plugin import Input

INPUTS: Dict[str, str] = {
    "internal": "agent.inputs.internal:InternalInput",
    "mem": "agent.inputs.mem:MemInput",
    "postgresql": "agent.inputs.postgresql:PostgresqlInput",
    "serial": "agent.inputs.serial:SerialInput",
}


def load(name: str) -> Type[Input]:
    module_name, class_name = INPUTS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)
