"""Binary frames: find the start bytes, check the length, checksum and tail, resynchronise.

A decoder keeps at most one frame's worth of bytes between reads. A frame that fails a check
costs one byte: the search for the next start byte resumes inside it, so a valid frame that
follows noise, or starts inside a corrupt frame, is still found.
"""

from __future__ import annotations

from typing import Dict, List, Optional

from agent.inputs.serial.protocol import Protocol, Reading
from agent.lineprotocol.metric import Metric

NEED_MORE = 0  # measure(): not enough bytes yet to know the frame's length
NOT_A_FRAME = -1  # a start byte that does not begin a frame (misalignment, noise)
BAD_LENGTH = -2  # a frame header with an impossible length


class FrameDecoder(Protocol):
    head = b""  # the byte(s) every frame starts with

    def __init__(self, counters, mode: str = "") -> None:
        super().__init__(counters, mode)
        self._buffer = bytearray()

    def reset(self) -> bytes:
        self._buffer.clear()
        return b""

    def measure(self, buffer: bytearray, start: int) -> int:
        """The length of the frame starting at start, or NEED_MORE, NOT_A_FRAME, BAD_LENGTH."""
        raise NotImplementedError

    def check(self, frame: bytes) -> Optional[str]:
        """None for a good frame, else the reason: "checksum" or "length"."""
        raise NotImplementedError

    def decode(self, frame: bytes) -> Optional[Dict[str, object]]:
        """The fields of a data frame; None for a valid frame that carries no reading."""
        raise NotImplementedError

    def feed(self, data: bytes) -> List[Reading]:
        buffer = self._buffer
        buffer += data
        end, pos, readings, skipped = len(buffer), 0, [], 0
        while True:
            start = buffer.find(self.head, pos)
            if start < 0:
                keep = max(pos, end - len(self.head) + 1)  # a start split across reads
                skipped += keep - pos
                pos = keep
                break
            skipped += start - pos
            pos = start
            length = self.measure(buffer, start)
            if length == NEED_MORE or start + length > end:
                break
            reason = "length" if length == BAD_LENGTH else None
            if length > 0:
                frame = bytes(buffer[start:start + length])
                reason = self.check(frame)
            if length == NOT_A_FRAME or reason:
                if reason:
                    self.counters.add(f"frames_bad_{reason}")
                skipped += 1
                pos = start + 1
                continue
            self._accept(frame, end - start - length, readings)
            pos = start + length
        del buffer[:pos]
        if skipped:
            self.counters.add("bytes_skipped", skipped)
        return readings

    def _accept(self, frame: bytes, after: int, readings: List[Reading]) -> None:
        fields = self.decode(frame)
        self.counters.add("frames_ok")
        if fields is not None:
            readings.append((after, Metric(self.name, fields)))
