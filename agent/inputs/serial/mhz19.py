"""Winsen MH-Z19 (B/C/E) CO2 sensor, passive: it answers 0x86 "read CO2" commands.

Answer: ff 86 HH LL xx xx xx xx CS, co2 = HH*256 + LL ppm, CS = -(sum of bytes 1..7) & 0xff.
"""

from __future__ import annotations

from typing import Dict, Optional

from agent.inputs.serial.frames import NEED_MORE, NOT_A_FRAME, FrameDecoder

FRAME_LENGTH = 9
READ_CO2 = bytes.fromhex("ff 01 86 00 00 00 00 00 79")


def checksum(frame: bytes) -> int:
    return -sum(frame[1:8]) & 0xFF


class MHZ19(FrameDecoder):
    name = "mhz19"
    modes = ("passive",)
    request = READ_CO2
    head = b"\xff"

    def measure(self, buffer: bytearray, start: int) -> int:
        if start + 1 >= len(buffer):
            return NEED_MORE
        return FRAME_LENGTH if buffer[start + 1] == 0x86 else NOT_A_FRAME

    def check(self, frame: bytes) -> Optional[str]:
        return None if frame[8] == checksum(frame) else "checksum"

    def decode(self, frame: bytes) -> Dict[str, object]:
        return {"co2": frame[2] * 256 + frame[3]}
