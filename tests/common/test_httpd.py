"""The listeners' HTTP server in a real agent: slow clients are cut by read_timeout, the
number of connections is bounded (503 beyond), chunked bodies are bounded, and TLS works as
Telegraf's: a server certificate, required client certificates, allowed DNS names."""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.delivery_helpers import wait_until
from tests.listener_helpers import (
    Listening,
    closed_by_peer,
    file_output,
    ports,
    read_lines,
    request,
    silent_connection,
    wait_lines,
)
from tests.servers import LOCALHOST


def v2_listener(port: int, extra: str = "") -> str:
    return (f'[[inputs.influxdb_v2_listener]]\n  service_address = "127.0.0.1:{port}"\n'
            f'  read_timeout = "1s"\n  max_connections = 8\n{extra}\n')


@pytest.fixture
def agent(tmp_path):
    (port,) = ports(1)
    out = tmp_path / "out.lp"
    with Listening(tmp_path, v2_listener(port) + file_output(out), [port]) as running:
        running.port, running.out = port, out
        yield running
        running.terminate()


def test_a_client_that_trickles_its_request_is_cut_at_read_timeout(agent):
    sock = socket.create_connection((LOCALHOST, agent.port), timeout=30)
    request_bytes = b"POST /api/v2/write HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nm v=1"
    cut = False
    for byte in request_bytes:  # one byte every 0.2 s: each read is quick, the whole is not
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            cut = True
            break
        if closed_by_peer(sock, 0.2):
            cut = True
            break
    sock.close()
    # Sending it all takes 14 s; read_timeout is 1 s.
    assert cut, "the server kept reading a request for longer than read_timeout"
    assert "cut off, reading the request took too long" in agent.stderr()
    assert request(agent.port, "POST", "/api/v2/write", b"after v=1 1\n").status == 204


def test_connections_are_bounded_and_the_server_recovers(tmp_path):
    """max_connections = 8: 4 threads and a queue of 2 (the rest are for idle keep-alive
    connections). Twelve clients that send nothing: at most 6 are taken (and cut by
    read_timeout, 5 s, long after the last one connected), every other one is answered 503
    at once and closed."""
    (port,) = ports(1)
    out = tmp_path / "out.lp"
    plugins = v2_listener(port).replace('"1s"', '"5s"') + file_output(out)
    with Listening(tmp_path, plugins, [port]) as running:
        holders = [silent_connection(port) for _ in range(12)]
        answers = [answer_of(holder, 30) for holder in holders]
        refused = [a for a in answers if a.startswith(b"HTTP/1.1 503 Service Unavailable")]
        assert len(refused) >= 12 - 6
        assert len(refused) < 12, "the first ones are served (and cut when they stay silent)"
        assert "refused with 503, all 8 connections in use" in running.stderr()
        # Once the silent ones are cut, writes are taken again.
        assert wait_until(lambda: _status(port, b"free v=1 1\n") == 204, 30)
        assert any(line.startswith("free") for line in wait_lines(out, 1))
        running.terminate()


def _status(port: int, body: bytes) -> int:
    try:
        return request(port, "POST", "/api/v2/write", body).status
    except OSError:
        return 0


def answer_of(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends before it closes the connection."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    sock.close()
    return data


def test_a_chunked_body_is_bounded_too(tmp_path):
    (port,) = ports(1)
    out = tmp_path / "out.lp"
    plugins = v2_listener(port, '  max_body_size = "10KiB"') + file_output(out)
    with Listening(tmp_path, plugins, [port]) as running:
        connection = http.client.HTTPConnection(LOCALHOST, port, timeout=30)
        connection.request("POST", "/api/v2/write", body=(b"m v=1\n" * 100 for _ in range(50)),
                           encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413
        connection.close()
        running.terminate()
    assert read_lines(out) == []


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _certificate(cwd: Path, name: str, subject: str, san: str) -> None:
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=cwd)
    (cwd / f"{name}.ext").write_text(f"subjectAltName={san}\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
             cwd=cwd)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate (client.example)."""
    cwd = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
             "/CN=listener test CA", cwd=cwd)
    _certificate(cwd, "server", "/CN=localhost", "DNS:localhost,IP:127.0.0.1")
    _certificate(cwd, "client", "/CN=client", "DNS:client.example")
    return cwd


def tls_listener(port: int, certs: Path, extra: str = "") -> str:
    return v2_listener(port, f'  tls_cert = "{certs}/server.pem"\n'
                             f'  tls_key = "{certs}/server.key"\n'
                             f'  tls_allowed_cacerts = ["{certs}/ca.pem"]\n{extra}')


def https(port: int, certs: Path, client_cert: bool = True) -> int:
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    if client_cert:
        context.load_cert_chain(str(certs / "client.pem"), str(certs / "client.key"))
    connection = http.client.HTTPSConnection(LOCALHOST, port, timeout=30, context=context)
    try:
        connection.request("POST", "/api/v2/write", body=b"tls v=1 1700000000000000000\n")
        return connection.getresponse().status
    finally:
        connection.close()


def test_tls_with_client_certificates(tmp_path, certificates):
    (port,) = ports(1)
    out = tmp_path / "out.lp"
    with Listening(tmp_path, tls_listener(port, certificates) + file_output(out),
                   [port]) as running:
        assert https(port, certificates) == 204
        curl = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
             f"{certificates}/ca.pem", "--cert", f"{certificates}/client.pem", "--key",
             f"{certificates}/client.key", "--data-binary", "tls v=2 1700000000000000001",
             f"https://127.0.0.1:{port}/api/v2/write"], capture_output=True, text=True,
            timeout=30)
        assert curl.stdout == "204"
        with pytest.raises((ssl.SSLError, ConnectionError)):
            https(port, certificates, client_cert=False)
        with socket.create_connection((LOCALHOST, port), timeout=30) as sock:
            sock.sendall(b"POST /api/v2/write HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n"
                         b"\r\ntls v=3\n")
            plain = answer_of(sock, 30)
        assert plain.startswith(b"HTTP/1.0 400 Bad Request")
        assert b"Client sent an HTTP request to an HTTPS server." in plain
        assert sorted(wait_lines(out, 2)) == ["tls v=1 1700000000000000000",
                                               "tls v=2 1700000000000000001"]
        running.terminate()
    log = running.stderr()
    assert "Listening on https://127.0.0.1:" in log
    assert "TLS handshake failed" in log


def test_tls_allowed_dns_names(tmp_path, certificates):
    (port,) = ports(1)
    extra = '  tls_allowed_dns_names = ["sensor.example"]'
    plugins = tls_listener(port, certificates, extra) + file_output(tmp_path / "out.lp")
    with Listening(tmp_path, plugins, [port]) as running:
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
            https(port, certificates)
        running.terminate()
    assert "client certificate names client.example, none of tls_allowed_dns_names" in \
        running.stderr()


def test_a_busy_listener_never_holds_up_other_inputs(tmp_path):
    """Every listener thread tied up by clients that send nothing: inputs.mem still gathers on
    its schedule (the listener's threads are its own)."""
    (port,) = ports(1)
    out = tmp_path / "out.lp"
    plugins = (v2_listener(port).replace('"1s"', '"30s"')
               + '[[inputs.mem]]\n  interval = "100ms"\n  fieldinclude = ["used"]\n'
               + file_output(out))
    with Listening(tmp_path, plugins, [port]) as running:
        holders = [silent_connection(port) for _ in range(12)]
        try:
            before = len(read_lines(out))
            assert wait_until(lambda: len(read_lines(out)) >= before + 10, 20)
            assert all(line.startswith("mem used=") for line in read_lines(out))
        finally:
            for holder in holders:
                holder.close()
        running.terminate()
