"""Time limits per connection, as Go's http.Server applies ReadTimeout and WriteTimeout: a
request must be read whole (TLS handshake, headers and body) within read_timeout, and its
answer written within write_timeout. A connection past its deadline is shut down from this
supervised thread, which unblocks the server thread stuck reading or writing it: a client
that trickles bytes holds a thread for read_timeout at most.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Callable, Dict, Optional, Tuple

from agent.system.worker import Worker


class Deadlines:
    def __init__(self, name: str, log: logging.Logger | logging.LoggerAdapter,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.log = log
        self.clock = clock
        self.cut = 0  # connections shut down for overrunning (inputs.internal)
        self._due: Dict[object, Tuple[float, str, str]] = {}
        self._cond = threading.Condition()
        self._worker: Optional[Worker] = None

    def start(self) -> None:
        self._worker = Worker(f"{self.name} deadlines", self._run, logger=self.log).start()

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stopping.set()
            with self._cond:
                self._cond.notify()
            self._worker.stop(1.0)

    def set(self, connection: object, seconds: float, what: str, peer: str) -> None:
        """connection must be done with `what` ("reading the request") within seconds."""
        with self._cond:
            self._due[connection] = (self.clock() + seconds, what, peer)
            self._cond.notify()

    def clear(self, connection: object) -> None:
        with self._cond:
            self._due.pop(connection, None)

    def _run(self, worker: Worker) -> None:
        while not worker.stopping.is_set():
            with self._cond:
                now = self.clock()
                expired = [(c, due) for c, due in self._due.items() if due[0] <= now]
                for connection, _ in expired:
                    del self._due[connection]
                soonest = min((due[0] for due in self._due.values()), default=now + 1.0)
                worker.beat()
                if not expired:
                    self._cond.wait(min(max(soonest - now, 0.005), 1.0))
            for connection, (_, what, peer) in expired:
                self._shut(connection, what, peer)

    def _shut(self, connection: object, what: str, peer: str) -> None:
        self.cut += 1
        self.log.warning("%s from %s: cut off, %s took too long", self.name, peer, what)
        sock = getattr(connection, "socket", None)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass  # already closed by its thread
