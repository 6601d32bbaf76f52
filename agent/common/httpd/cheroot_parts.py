"""The few cheroot classes the server adapts (imported only when a listener starts): the
connection reports to the server's owner when a pool thread takes it and when it is done,
TLS handshakes are left to that thread, the WSGI environ carries the connection (for the
write deadline), refusals and errors go to the owner's log and counters."""

from __future__ import annotations

import logging
import queue
import ssl

from cheroot import server as cheroot_server
from cheroot import ssl as cheroot_ssl
from cheroot import wsgi
from cheroot.makefile import MakeFile


class Connection(cheroot_server.HTTPConnection):
    def communicate(self):
        owner = self.server.owner
        try:
            if not owner.connection_started(self):
                return False
            return super().communicate()
        finally:
            owner.connection_finished(self)


class Gateway(wsgi.Gateway_10):
    def get_environ(self):
        environ = super().get_environ()
        environ["agent.connection"] = self.req.conn
        return environ


class Server(wsgi.Server):
    ConnectionClass = Connection
    owner = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gateway = Gateway

    def process_conn(self, conn) -> None:
        try:
            self.requests.put(conn)
        except queue.Full:
            self.owner.busy(conn)
            _refuse(conn)

    def error_log(self, msg="", level=logging.INFO, traceback=False) -> None:
        if traceback:
            import traceback as tb

            msg = f"{msg}: {tb.format_exc().strip().splitlines()[-1]}"
        self.owner.server_error(str(msg), level)


_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\n"
         b"Connection: close\r\n\r\n")


def _refuse(conn) -> None:
    """Answer 503 and close now (cheroot's own refusal keeps the socket open until it is
    garbage-collected). A TLS connection is closed without an answer: its handshake would
    hold up this thread, the one that accepts connections."""
    try:
        if not isinstance(conn.socket, ssl.SSLSocket):
            conn.socket.settimeout(0.5)
            conn.socket.sendall(_BUSY)
    except OSError:
        pass
    finally:
        conn.close()


class TLSAdapter(cheroot_ssl.Adapter):
    """Wraps accepted sockets without a handshake (the pool thread does it)."""

    def __init__(self, context) -> None:  # noqa: D107 - no certificate paths: a context
        self.context = context
        self.certificate = self.private_key = self.certificate_chain = None
        self.ciphers = None

    def bind(self, sock):
        return sock

    def wrap(self, sock):
        wrapped = self.context.wrap_socket(sock, server_side=True,
                                           do_handshake_on_connect=False)
        return wrapped, self.get_environ()

    def get_environ(self, sock=None):
        return {"wsgi.url_scheme": "https", "HTTPS": "on"}

    def makefile(self, sock, mode="r", bufsize=-1):
        return MakeFile(sock, mode, bufsize)
