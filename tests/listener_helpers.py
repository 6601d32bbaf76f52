"""The listener inputs in a real `agent run` process: configs, waiting for the ports, raw HTTP
requests (status, headers and body whatever the status) and reading back the file output."""

from __future__ import annotations

import http.client
import socket
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from tests.delivery_helpers import AgentProcess, wait_until
from tests.servers import LOCALHOST, free_port, port_open

AGENT_DEFAULTS = {"flush_interval": '"200ms"', "retry_max_interval": '"1s"',
                  "shutdown_timeout": '"5s"', "omit_hostname": "true"}


def agent_section(spool: Path, settings: Optional[Dict[str, str]], extra: str) -> str:
    """[agent] with the test defaults, settings (TOML values as text) over them, then extra
    (e.g. a [global_tags] table)."""
    values = {**AGENT_DEFAULTS, "buffer_directory": f'"{spool}"', **(settings or {})}
    lines = "".join(f"  {key} = {value}\n" for key, value in values.items())
    return f"[agent]\n{lines}{extra}\n"


class Reply:
    def __init__(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:300]!r})"


def request(port: int, method: str, path: str, body: bytes = b"",
            headers: Optional[Dict[str, str]] = None, timeout: float = 30.0) -> Reply:
    """One request on a fresh connection (no proxy, no retry, no redirects)."""
    connection = http.client.HTTPConnection(LOCALHOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                     response.read())
    finally:
        connection.close()


class Listening(AgentProcess):
    """`agent run` whose config is agent_section() + the given plugin tables; ready once every
    port accepts connections (or fails at once if the agent exits)."""

    def __init__(self, tmp: Path, plugins: str, ports: List[int], agent_extra: str = "",
                 name: str = "agent", spool: Optional[Path] = None,
                 settings: Optional[Dict[str, str]] = None) -> None:
        spool = spool or tmp / f"{name}-spool"
        config = agent_section(spool, settings, agent_extra) + plugins
        super().__init__(tmp, config, name)
        self.spool = spool
        self.ports = ports
        self.wait_ready()

    def wait_ready(self) -> None:
        ready = wait_until(lambda: self.proc.poll() is not None
                           or all(port_open(p) for p in self.ports), 30)
        assert ready and self.proc.poll() is None, self.stderr()

    def restart(self) -> None:
        """Start again with the same config and spool (after kill9 or terminate)."""
        AgentProcess.__init__(self, self.config_path.parent, self.config_path.read_text(),
                              self.config_path.stem)
        self.wait_ready()


def ports(count: int) -> List[int]:
    found: List[int] = []
    while len(found) < count:
        port = free_port()
        if port not in found:
            found.append(port)
    return found


def silent_connection(port: int) -> socket.socket:
    """A client that connects and sends nothing (it holds a server thread until cut)."""
    return socket.create_connection((LOCALHOST, port), timeout=30)


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True when the server closes (or resets) the connection within timeout seconds."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def file_output(path: Path) -> str:
    return f'[[outputs.file]]\n  files = ["{path}"]\n'


def read_lines(path: Path) -> List[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_lines(path: Path, count: int, timeout: float = 20.0) -> List[str]:
    wait_until(lambda: len(read_lines(path)) >= count, timeout)
    return read_lines(path)


def body_and_status(reply: Reply) -> Tuple[int, bytes]:
    return reply.status, reply.body
