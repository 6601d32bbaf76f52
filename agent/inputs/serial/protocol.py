"""What every protocol offers the reader: reset after (re)open, feed bytes, requests to send."""

from __future__ import annotations

from typing import List, Tuple

from agent.inputs.serial.counters import Counters
from agent.lineprotocol.metric import Metric

# (bytes received after the reading's last byte in this chunk, the reading without a time)
Reading = Tuple[int, Metric]


class Protocol:
    """Turns a byte stream into readings. One instance per port, used by its reader thread."""

    name = ""  # the default measurement
    modes: Tuple[str, ...] = ("active",)  # the first is the default
    request = b""  # written at each gather in passive mode

    def __init__(self, counters: Counters, mode: str = "") -> None:
        self.counters = counters
        self.mode = mode or self.modes[0]

    @property
    def passive(self) -> bool:
        return self.mode == "passive"

    def reset(self) -> bytes:
        """Forget partial input after a (re)open; returns bytes to send to the device first."""
        return b""

    def feed(self, data: bytes) -> List[Reading]:
        raise NotImplementedError
