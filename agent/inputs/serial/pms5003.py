"""Plantower PMS5003 (and PMS7003, PMSA003) particulate sensor.

Frame: 42 4d, length word (bytes after it: 28 for data, 4 for a command reply), 13 big-endian
u16 data words, u16 checksum = sum of all bytes before it. Active mode streams a frame about
every second; passive mode answers each read request. The mode is set on every (re)open, since
the sensor forgets it at power-up.
"""

from __future__ import annotations

import struct
from typing import Dict, Optional

from agent.inputs.serial.frames import BAD_LENGTH, NEED_MORE, FrameDecoder

FIELDS = (
    "pm1_0_cf1", "pm2_5_cf1", "pm10_cf1", "pm1_0", "pm2_5", "pm10",
    "gt0_3um", "gt0_5um", "gt1_0um", "gt2_5um", "gt5_0um", "gt10um",
)
DATA_LENGTH = 28
REPLY_LENGTH = 4


def command(cmd: int, data: int) -> bytes:
    body = bytes((0x42, 0x4D, cmd, data >> 8, data & 0xFF))
    return body + struct.pack(">H", sum(body))


READ = command(0xE2, 0)  # 42 4d e2 00 00 01 71
SET_PASSIVE = command(0xE1, 0)
SET_ACTIVE = command(0xE1, 1)


class PMS5003(FrameDecoder):
    name = "pms5003"
    modes = ("active", "passive")
    request = READ
    head = b"BM"

    def reset(self) -> bytes:
        super().reset()
        return SET_PASSIVE if self.passive else SET_ACTIVE

    def measure(self, buffer: bytearray, start: int) -> int:
        if start + 4 > len(buffer):
            return NEED_MORE
        length = buffer[start + 2] << 8 | buffer[start + 3]
        return 4 + length if length in (DATA_LENGTH, REPLY_LENGTH) else BAD_LENGTH

    def check(self, frame: bytes) -> Optional[str]:
        (expected,) = struct.unpack_from(">H", frame, len(frame) - 2)
        return None if sum(frame[:-2]) & 0xFFFF == expected else "checksum"

    def decode(self, frame: bytes) -> Optional[Dict[str, object]]:
        if len(frame) != 4 + DATA_LENGTH:
            return None  # the reply to a mode command
        return dict(zip(FIELDS, struct.unpack_from(">12H", frame, 4)))
