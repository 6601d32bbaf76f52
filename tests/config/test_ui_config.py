"""The config InfluxDB's UI generates ("Load Data → Telegraf → Create configuration", kept in
tests/data/influxdb_ui with its source) works as InfluxDB's guide sets it up: fetched with
`--config http://.../api/v2/telegrafs/<id>` and INFLUX_TOKEN in the environment, its
`token = "$INFLUX_TOKEN"` (no braces) expands, and the mem line reaches /api/v2/write with that
token. The server below plays InfluxDB: it serves the config and the write API, both only with
the token, and hands the writes to a real VictoriaMetrics."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from tests.servers import http

TOKEN = "ui-Token-Secret-4242=="
CONFIG_PATH = "/api/v2/telegrafs/0e3a59c2f1c7d000"
UI_CONFIG = (Path(__file__).resolve().parent.parent / "data" / "influxdb_ui" /
             "telegraf-mem.conf").read_text(encoding="utf-8")
UI_ORIGIN = "http://localhost:8086"  # the UI writes its own origin into urls


class FakeInflux(ThreadingHTTPServer):
    def __init__(self, victoria_url: str) -> None:
        super().__init__(("127.0.0.1", 0), Gate)
        self.victoria_url = victoria_url
        self.label = uuid.uuid4().hex  # forwarded as VictoriaMetrics' db label: ours only
        self.writes: List[Dict[str, str]] = []

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class Gate(BaseHTTPRequestHandler):
    server: FakeInflux

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Token {TOKEN}":
            return True
        body = b'{"code":"unauthorized","message":"unauthorized access"}'
        self._answer(401, "application/json; charset=utf-8", body)
        return False

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path != CONFIG_PATH:
            self._answer(404, "application/json", b'{"code":"not found"}')
        elif self._authorized():
            config = UI_CONFIG.replace(UI_ORIGIN, self.server.origin)
            self._answer(200, "application/toml", config.encode())

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.writes.append({"path": self.path, **self.headers})
        if not self.path.startswith("/api/v2/write?") or not self._authorized():
            return
        query = self.path.split("?", 1)[1] + f"&db={self.server.label}"
        forward = urllib.request.Request(
            f"{self.server.victoria_url}/api/v2/write?{query}", data=body, method="POST",
            headers={k: v for k, v in self.headers.items() if k.lower() == "content-encoding"})
        with urllib.request.urlopen(forward, timeout=10) as answer:
            self._answer(answer.status, "text/plain", answer.read())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def influx(victoria_metrics) -> Iterator[FakeInflux]:
    server = FakeInflux(victoria_metrics.url)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()
    # The session's VictoriaMetrics is shared: leave no mem_* series behind for other tests.
    match = urllib.parse.urlencode({"match[]": f'{{db="{server.label}"}}'})
    status, text = http("POST", f"{victoria_metrics.url}/api/v1/admin/tsdb/delete_series?{match}")
    assert status == 204, text


def agent(args: List[str], tmp_path: Path, token: str = TOKEN) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "STATE_DIRECTORY": str(tmp_path), "INFLUX_TOKEN": token}
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True,
                          text=True, timeout=90, env=env)


def test_the_ui_config_is_what_the_ui_writes():
    assert 'token = "$INFLUX_TOKEN"' in UI_CONFIG
    assert "# Configuration for telegraf agent\n[agent]" in UI_CONFIG
    assert f'urls = ["{UI_ORIGIN}"]' in UI_CONFIG


def test_the_ui_config_from_influxdb_delivers_mem_with_the_token(influx, victoria_metrics,
                                                                 tmp_path):
    url = influx.origin + CONFIG_PATH
    check = agent(["check", "--config", url], tmp_path)
    assert check.returncode == 0, check.stderr
    assert check.stdout == f"{url}: OK (1 input(s), 1 output(s))\n"
    assert " W! " not in check.stderr, "INFLUX_TOKEN is set: nothing may stay unexpanded"

    run = agent(["run", "--once", "--config", url], tmp_path)
    assert run.returncode == 0, run.stderr
    assert TOKEN not in run.stdout + run.stderr
    writes = [w for w in influx.writes if w["path"].startswith("/api/v2/write?")]
    assert writes and all(w["Authorization"] == f"Token {TOKEN}" for w in writes)
    assert "org=my-org" in writes[0]["path"] and "bucket=my-bucket" in writes[0]["path"]
    series = victoria_metrics.export(f'{{__name__="mem_used",db="{influx.label}"}}', expect=1)
    assert [len(s["values"]) for s in series] == [1]
    assert series[0]["values"][0] > 0


def test_without_the_token_the_config_is_refused(influx, tmp_path):
    result = agent(["run", "--once", "--config", influx.origin + CONFIG_PATH], tmp_path,
                   token="")
    assert result.returncode == 78
    assert "HTTP 401" in result.stderr and "INFLUX_TOKEN" in result.stderr
