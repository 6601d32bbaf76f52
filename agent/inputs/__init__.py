"""The input registry: plugin name -> "module:Class". Modules are imported only when used."""

from __future__ import annotations

from typing import Dict, Type

from agent.plugin import Input, load_plugin

INPUTS: Dict[str, str] = {
    "internal": "agent.inputs.internal:InternalInput",
    "mem": "agent.inputs.mem:MemInput",
    "postgresql": "agent.inputs.postgresql:PostgresqlInput",
    "serial": "agent.inputs.serial:SerialInput",
}


def load(name: str) -> Type[Input]:
    return load_plugin(INPUTS, name)
