"""dead-letter.lp: lines a server refused for good, with when, which output and why."""

from __future__ import annotations

import os
import threading
import time
from typing import Optional

DEFAULT_MAX_BYTES = 16 * 1024 * 1024


class DeadLetters:
    """Appends rejected lines as `# <time> <output> <reason>` + the line; bounded in size
    (the full file is rotated to dead-letter.lp.1, replacing an older one)."""

    def __init__(self, path: Optional[str], max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.count = 0
        self._lock = threading.Lock()

    def add(self, output: str, reason: str, line: str) -> None:
        self.count += 1
        if not self.path:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        reason = " ".join(reason.split())[:1000]
        record = f"# {stamp} {output} {reason}\n{line.rstrip(chr(10))}\n".encode()
        with self._lock:
            self._rotate_if_full(len(record))
            with open(self.path, "ab") as handle:
                handle.write(record)

    def _rotate_if_full(self, incoming: int) -> None:
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return
        if size + incoming > self.max_bytes:
            os.replace(self.path, self.path + ".1")
