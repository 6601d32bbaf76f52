"""Nova Fitness SDS011 particulate sensor, query mode (it also streams in its active mode).

Data frame: aa c0 P25L P25H P10L P10H ID ID CS ab; pm = little-endian u16 / 10 ug/m3;
CS = sum of bytes 2..7 & 0xff. Replies to set-up commands (type c5) are valid but carry no data.
The input never changes the sensor's settings (some are kept in its flash).
"""

from __future__ import annotations

from typing import Dict, Optional

from agent.inputs.serial.frames import NEED_MORE, NOT_A_FRAME, FrameDecoder

FRAME_LENGTH = 10
DATA, REPLY = 0xC0, 0xC5
QUERY = bytes.fromhex("aa b4 04 00 00 00 00 00 00 00 00 00 00 00 00 ff ff 02 ab")


class SDS011(FrameDecoder):
    name = "sds011"
    modes = ("passive", "active")
    request = QUERY
    head = b"\xaa"

    def measure(self, buffer: bytearray, start: int) -> int:
        if start + 1 >= len(buffer):
            return NEED_MORE
        return FRAME_LENGTH if buffer[start + 1] in (DATA, REPLY) else NOT_A_FRAME

    def check(self, frame: bytes) -> Optional[str]:
        if frame[9] != 0xAB:
            return "length"
        return None if sum(frame[2:8]) & 0xFF == frame[8] else "checksum"

    def decode(self, frame: bytes) -> Optional[Dict[str, object]]:
        if frame[1] != DATA:
            return None
        return {"pm2_5": (frame[2] | frame[3] << 8) / 10, "pm10": (frame[4] | frame[5] << 8) / 10}
