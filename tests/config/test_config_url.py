"""--config http(s)://...: fetched the way Telegraf does (Authorization: Token $INFLUX_TOKEN,
Accept: application/toml, retries), against a local HTTP server. Every failure is one line with
the URL and never the token; 4xx and bad answers exit 78, unreachable servers 75."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Iterator, List, Tuple

import pytest

from agent.config.errors import SourceError
from agent.config.source import read_source
from agent.config.url import fetch_url, safe_url

TOKEN = "tok-Url-Secret-5150"
CONFIG = b'[agent]\nomit_hostname = true\n[[inputs.mem]]\n[[outputs.file]]\nfiles = ["stdout"]\n'
WITH_OUTPUT = (b'[[inputs.mem]]\n' + b'# padding\n' * 2000 +
               b'[[outputs.influxdb]]\nurls = ["http://127.0.0.1:8086"]\n')
# path -> (status, content type, body)
ROUTES: Dict[str, Tuple[int, str, bytes]] = {
    "/api/v2/telegrafs/ok": (200, "application/toml", CONFIG),
    "/plain": (200, "text/plain; charset=utf-8", CONFIG),
    "/html": (200, "text/html", b"<html><body>Login</body></html>"),
    "/html-as-text": (200, "text/plain", b"\n  <!DOCTYPE html><html></html>"),
    "/json": (200, "application/json", b'{"config": "..."}'),
    "/invalid": (200, "application/toml", b"[[inputs.mem]\n"),
    "/unknown-plugin": (200, "application/toml", b"[[inputs.nope]]\n"),
    "/latin1": (200, "application/toml", b"# caf\xe9\n[[inputs.mem]]\n"),
    "/404": (404, "application/json", b'{"code":"not found"}'),
    "/503": (503, "text/plain", b"down"),
}


class Handler(BaseHTTPRequestHandler):
    seen: List[Tuple[str, Dict[str, str]]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.seen.append((self.path, dict(self.headers)))
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/redirect/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/api/v2/telegrafs/ok" and (
                self.headers.get("Authorization") != f"Token {TOKEN}"
                or self.headers.get("Accept") != "application/toml"):
            # InfluxDB's answer to a missing or wrong token; a reason echoing the token must
            # still not reach our output.
            self.send_response(401, f"Unauthorized {self.headers.get('Authorization')}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/cut":  # the full Content-Length, then the connection closes early
            self.send_response(200)
            self.send_header("Content-Type", "application/toml")
            self.send_header("Content-Length", str(len(WITH_OUTPUT)))
            self.end_headers()
            self.wfile.write(WITH_OUTPUT[:WITH_OUTPUT.index(b"[[outputs.influxdb]]")])
            return
        status, content_type, body = ROUTES.get(self.path, (404, "text/plain", b"no"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def silent() -> Iterator[str]:
    """A server that accepts connections (the kernel does) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/config"
    sock.close()


def no_sleep(seconds: float) -> None:
    pass


def agent(*args: str, token: str = TOKEN) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "INFLUX_TOKEN": token}
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def one_error(result: subprocess.CompletedProcess, url: str) -> str:
    """The single E! line; the token nowhere."""
    assert TOKEN not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and " E! " in lines[0], result.stderr
    assert url in lines[0]
    return lines[0]


def test_fetch_sends_token_and_accept_and_returns_the_toml(server):
    Handler.seen.clear()
    url = f"{server}/api/v2/telegrafs/ok"
    assert fetch_url(url, TOKEN) == CONFIG.decode()
    ((path, headers),) = Handler.seen
    assert headers["Authorization"] == f"Token {TOKEN}"
    assert headers["Accept"] == "application/toml"
    assert read_source(url, {"INFLUX_TOKEN": TOKEN}) == (url, CONFIG.decode())


def test_agent_check_and_run_once_from_a_url(server):
    url = f"{server}/api/v2/telegrafs/ok"
    check = agent("check", "--config", url)
    assert check.returncode == 0, check.stderr
    assert check.stdout == f"{url}: OK (1 input(s), 1 output(s))\n"
    run = agent("run", "--once", "--config", url)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("mem ") and TOKEN not in run.stdout + run.stderr


def test_401_wrong_token_is_one_line_exit_78(server):
    url = f"{server}/api/v2/telegrafs/ok"
    result = agent("check", "--config", url, token="wrong-" + TOKEN)
    assert result.returncode == 78
    line = one_error(result, url)
    assert "HTTP 401" in line and "INFLUX_TOKEN" in line
    assert "wrong-" not in line, "the server's reason echoed the token"


def test_401_without_token(server):
    result = agent("check", "--config", f"{server}/api/v2/telegrafs/ok", token="")
    assert result.returncode == 78 and "HTTP 401" in result.stderr


def test_404_is_one_line_exit_78(server):
    url = f"{server}/404"
    result = agent("run", "--once", "--config", url)
    assert result.returncode == 78
    assert "HTTP 404 Not Found (no config at this URL)" in one_error(result, url)


@pytest.mark.parametrize("path,message", [
    ("/html", "expected a TOML config, got text/html"),
    ("/html-as-text", "expected a TOML config, got an HTML/XML page"),
    ("/json", "expected a TOML config, got application/json"),
    ("/invalid", "TOML syntax error"),
    ("/unknown-plugin", "[inputs.nope]: unknown input plugin 'nope'"),
    ("/latin1", "config is not UTF-8 text"),
])
def test_non_toml_answers_are_one_line_exit_78(server, path, message):
    url = f"{server}{path}"
    result = agent("check", "--config", url)
    assert result.returncode == 78
    assert message in one_error(result, url)


def test_5xx_is_retried_then_temporary(server):
    Handler.seen.clear()
    sleeps: List[float] = []
    with pytest.raises(SourceError) as err:
        fetch_url(f"{server}/503", TOKEN, attempts=3, sleep=sleeps.append)
    assert err.value.temporary and str(err.value) == f"{server}/503: HTTP 503 Service Unavailable"
    assert len(Handler.seen) == 3 and sleeps == [2, 4]


def test_a_body_cut_off_before_its_content_length_is_refused(server):
    """Issue 11 #3: a truncated config (here: without its [[outputs.influxdb]]) must not
    load; it is retried like a broken connection, then a temporary failure (exit 75)."""
    Handler.seen.clear()
    with pytest.raises(SourceError) as err:
        fetch_url(f"{server}/cut", TOKEN, sleep=no_sleep)
    assert err.value.temporary and len(Handler.seen) == 3
    cut = WITH_OUTPUT.index(b"[[outputs.influxdb]]")
    assert str(err.value) == (f"{server}/cut: cannot fetch config: the answer was cut off "
                              f"after {cut} of {len(WITH_OUTPUT)} bytes")


def test_4xx_is_not_retried(server):
    Handler.seen.clear()
    with pytest.raises(SourceError) as err:
        fetch_url(f"{server}/404", TOKEN, sleep=no_sleep)
    assert not err.value.temporary and len(Handler.seen) == 1


def test_a_silent_server_times_out_temporarily(silent):
    started = time.monotonic()
    with pytest.raises(SourceError) as err:
        fetch_url(silent, TOKEN, attempts=2, timeout=0.3, sleep=no_sleep)
    assert time.monotonic() - started < 3
    assert err.value.temporary
    assert str(err.value) == f"{silent}: cannot fetch config: timed out"


def test_unreachable_server_exits_75_in_one_line():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/config"  # nobody listens
    result = agent("check", "--config", url)
    assert result.returncode == 75
    assert "cannot fetch config: [Errno 111] Connection refused" in one_error(result, url)


def test_the_token_follows_redirects_on_the_same_server_only(server):
    Handler.seen.clear()
    assert fetch_url(f"{server}/redirect//api/v2/telegrafs/ok", TOKEN) == CONFIG.decode()
    other = server.replace("127.0.0.1", "localhost")
    Handler.seen.clear()
    with pytest.raises(SourceError, match="HTTP 401"):
        fetch_url(f"{server}/redirect/{other}/api/v2/telegrafs/ok", TOKEN)
    assert "Authorization" not in Handler.seen[-1][1]


def test_a_password_in_the_url_is_not_shown(server):
    url = f"http://user:{TOKEN}@{server.removeprefix('http://')}/404"
    assert safe_url(url) == f"http://user:***@{server.removeprefix('http://')}/404"
    result = agent("check", "--config", url)
    assert result.returncode == 78
    one_error(result, safe_url(url))
    Handler.seen.clear()
    with pytest.raises(SourceError):
        fetch_url(url, "")  # no token: the URL's user:password as basic auth, as Go does
    assert Handler.seen[-1][1]["Authorization"].startswith("Basic ")
    assert Handler.seen[-1][0] == "/404"
