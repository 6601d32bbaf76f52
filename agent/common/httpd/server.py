"""The listeners' HTTP server: cheroot (pure Python, CherryPy's production server) with every
resource bounded for a Raspberry Pi.

- THREADS pool threads serve requests; a connection waiting for one sits in a bounded queue;
  idle keep-alive connections are bounded too; beyond that a new connection gets 503 and is
  closed. max_connections bounds the three together.
- TLS handshakes run in the pool threads under read_timeout (cheroot would do them in its one
  accepting thread, where a silent client would stall every other connection).
- read_timeout covers handshake, headers and body; write_timeout the answer (Deadlines).
- The accepting loop runs in a supervised Worker; pool threads are cheroot's own, and what
  they cannot handle is logged and counted here (errors). All threads are daemon threads.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, Optional

from agent.common.httpd.address import Address, bind_hosts
from agent.common.httpd.deadlines import Deadlines
from agent.common.httpd.tls import allowed_peer
from agent.plugin import extras
from agent.system.worker import Worker

THREADS = 4  # requests handled at once; the spool takes one commit at a time anyway
MIN_CONNECTIONS = THREADS + 4


def require_cheroot() -> None:
    try:
        import cheroot.wsgi  # noqa: F401 - the server of the listeners' extra
    except ImportError:
        raise RuntimeError(f"cheroot is not installed: {extras.install_hint('listeners')} "
                           "(or apt install python3-cheroot)") from None


class HTTPServer:
    """Serves app (a WSGI callable) on address until stop()."""

    def __init__(self, name: str, address: Address, app: Callable,
                 log: logging.Logger | logging.LoggerAdapter, *, tls_context: Any = None,
                 allowed_dns_names: Optional[list] = None, read_timeout: float = 10.0,
                 write_timeout: float = 10.0, max_connections: int = 64) -> None:
        self.name = name
        self.address = address
        self.app = app
        self.log = log
        self.tls_context = tls_context
        self.allowed_dns_names = allowed_dns_names or []
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.max_connections = max(MIN_CONNECTIONS, max_connections)
        self.deadlines = Deadlines(name, log)
        self.counters: Dict[str, int] = {"errors": 0, "busy": 0, "tls_failures": 0}
        self.bound = ""  # host:port actually bound
        self._server: Any = None
        self._worker: Optional[Worker] = None

    @property
    def port(self) -> int:
        return int(self.bound.rsplit(":", 1)[1]) if self.bound else 0

    def start(self) -> None:
        """Bind now (OSError when the address is taken), then serve in the background."""
        require_cheroot()
        error: Optional[OSError] = None
        for host in bind_hosts(self.address):
            self._server = self._build((host, self.address.port))
            try:
                _in_daemon_thread(self._server.prepare)
                break
            except OSError as err:
                error = error or err
                self._server = None
        if self._server is None:
            raise OSError(f"cannot listen on {self.address}: {error}")
        host, port = self._server.bind_addr[:2]
        self.bound = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.deadlines.start()
        self._worker = Worker(f"{self.name} server", self._serve, logger=self.log).start()

    def stop(self, timeout: float = 2.0) -> None:
        if self._worker is not None:
            self._worker.stopping.set()
        if self._server is not None:
            self._server.shutdown_timeout = timeout
            self._server.stop()
        if self._worker is not None:
            self._worker.stop(timeout)
        self.deadlines.stop()

    def write_deadline(self, connection: object, peer: str) -> None:
        """Called by the app when it starts answering: write_timeout from now."""
        self.deadlines.set(connection, self.write_timeout, "writing the answer", peer)

    def _serve(self, worker: Worker) -> None:
        if not self._server.ready:
            _in_daemon_thread(self._server.prepare)  # after an unexpected exit: bind again
        self._server.serve()

    def _build(self, bind_addr: tuple) -> Any:
        from agent.common.httpd import cheroot_parts

        # Waiting for a thread, or idle between requests: half each (threads + queue + idle =
        # the bound). A roomy queue rides out the moment a pool thread takes to wake up.
        queue = max(1, (self.max_connections - THREADS) // 2)
        idle = self.max_connections - THREADS - queue
        server = cheroot_parts.Server(
            # The listen backlog is generous: a connection beyond the bound is accepted and
            # answered 503 at once rather than left to retry its SYN for seconds.
            bind_addr, self.app, numthreads=THREADS, max=THREADS,
            request_queue_size=self.max_connections,
            timeout=self.read_timeout, shutdown_timeout=2, accepted_queue_size=queue,
            accepted_queue_timeout=0, server_name="agent")
        server.owner = self
        server.keep_alive_conn_limit = idle
        # How long its accepting loop may sleep in select(): also how long a stop waits for it.
        server.expiration_interval = 0.1
        if self.tls_context is not None:
            server.ssl_adapter = cheroot_parts.TLSAdapter(self.tls_context)
        return server

    # Called from cheroot's threads (cheroot_parts).
    def connection_started(self, connection: Any) -> bool:
        """A pool thread took a connection: set its read deadline, finish its TLS
        handshake; False to drop it."""
        peer = _peer(connection)
        self.deadlines.set(connection, self.read_timeout, "reading the request", peer)
        sock = connection.socket
        if self.tls_context is None or getattr(connection, "agent_tls_done", False):
            return True
        try:
            sock.do_handshake()
        except OSError as err:
            self.counters["tls_failures"] += 1
            self.log.warning("%s from %s: TLS handshake failed: %s", self.name, peer,
                             getattr(err, "reason", None) or err)
            if getattr(err, "reason", "") == "HTTP_REQUEST":
                _plain_refusal(sock)
            return False
        connection.agent_tls_done = True
        return self._peer_allowed(sock, peer)

    def _peer_allowed(self, sock: Any, peer: str) -> bool:
        if not self.allowed_dns_names:
            return True
        allowed, names = allowed_peer(sock.getpeercert(), self.allowed_dns_names)
        if not allowed:
            self.counters["tls_failures"] += 1
            self.log.warning("%s from %s: client certificate names %s, none of "
                             "tls_allowed_dns_names", self.name, peer, names)
        return allowed

    def connection_finished(self, connection: Any) -> None:
        self.deadlines.clear(connection)

    def busy(self, connection: Any) -> None:
        self.counters["busy"] += 1
        self.log.warning("%s from %s: refused with 503, all %d connections in use", self.name,
                         _peer(connection), self.max_connections)

    def server_error(self, message: str, level: int) -> None:
        if level >= logging.ERROR:
            self.counters["errors"] += 1
            self.log.error("%s: %s", self.name, message.strip().splitlines()[-1][:300])
        else:
            self.log.debug("%s: %s", self.name, message.strip())


def _peer(connection: Any) -> str:
    return f"{connection.remote_addr or 'local'}"


def _plain_refusal(sock: Any) -> None:
    """What Go answers plain HTTP on a TLS port (the client sees why, not a reset)."""
    import socket

    try:
        socket.socket.send(sock, b"HTTP/1.0 400 Bad Request\r\n\r\n"
                                 b"Client sent an HTTP request to an HTTPS server.\n")
    except OSError:
        pass


def _in_daemon_thread(call: Callable[[], None]) -> None:
    """Run call in a daemon thread and wait: the threads it starts (cheroot's pool) inherit
    daemon from it, so a stuck request can never hold the process at exit."""
    failure: list = []

    def run() -> None:
        try:
            call()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller
            failure.append(err)

    thread = threading.Thread(target=run, name="listener bind", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
