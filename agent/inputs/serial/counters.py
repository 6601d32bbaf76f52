"""What the serial input counts, so a user can tell a flaky cable from a quiet sensor."""

from __future__ import annotations

import threading
from typing import Dict

# Every counter, always reported (a stable schema for inputs.internal), with its meaning.
STATS: Dict[str, str] = {
    "bytes_read": "bytes read from the port",
    "bytes_skipped": "bytes between frames that belong to no valid frame (noise, misalignment)",
    "lines_ok": "text lines parsed",
    "lines_bad_parse": "text lines the data_format could not parse",
    "lines_bad_length": "text lines longer than max_line_length (dropped)",
    "lines_discarded": "first (possibly partial) lines dropped after each (re)open",
    "frames_ok": "binary frames with a valid checksum",
    "frames_bad_checksum": "binary frames whose checksum did not match",
    "frames_bad_length": "binary frames with an impossible length word or a missing tail byte",
    "requests_sent": "read commands or queries written to the sensor",
    "replies_missing": "requests not answered within timeout",
    "readings_dropped": "readings dropped because more than max_readings waited for a gather",
    "opens": "successful opens of the port",
    "open_errors": "failed attempts to open the port",
    "read_errors": "read or write errors that closed the port (an unplug, a flaky cable)",
    "reconnects": "successful opens after the port was lost",
}


class Counters:
    """Thread-safe integer counters with fixed names."""

    def __init__(self) -> None:
        self._values = dict.fromkeys(STATS, 0)
        self._lock = threading.Lock()

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            self._values[name] += count

    def snapshot(self) -> Dict[str, int]:
        with self._lock:
            return dict(self._values)
