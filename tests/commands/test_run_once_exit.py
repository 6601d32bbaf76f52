"""`agent run --once` tells the truth in its exit code: 0 only when every gathered metric was
delivered or is durably in the disk buffer; 75 (EX_TEMPFAIL) with a count otherwise. And a
missing extra is named, by `agent check` and by `agent run`, never a ModuleNotFoundError."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, List

import pytest

from agent.plugin.extras import install_hint


class Refusing(BaseHTTPRequestHandler):
    """InfluxDB's answer to a wrong token, to every write."""

    writes: List[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.writes.append(self.path)
        body = b'{"code":"unauthorized","message":"unauthorized access"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def refusing() -> Iterator[str]:
    Refusing.writes = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def config(tmp_path: Path, url: str, strategy: str) -> Path:
    path = tmp_path / f"{strategy}.toml"
    path.write_text(f'[agent]\nomit_hostname = true\nbuffer_strategy = "{strategy}"\n'
                    f'buffer_directory = "{tmp_path / "spool"}"\nshutdown_timeout = "1s"\n'
                    f'[[inputs.mem]]\n[[outputs.influxdb_v2]]\nurls = ["{url}"]\n'
                    f'token = "wrong"\norganization = "o"\nbucket = "b"\n')
    return path


def agent(*args: str, code: str = "") -> subprocess.CompletedProcess:
    """The agent's CLI; `code` runs first in the same interpreter (to hide a module)."""
    program = f"{code}\nimport sys\nfrom agent.cli import main\nmain(sys.argv[1:])\n"
    return subprocess.run([sys.executable, "-c", program, *args], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})


def test_memory_buffer_and_a_401_exits_75_saying_how_many(refusing, tmp_path):
    result = agent("run", "--once", "--config", str(config(tmp_path, refusing, "memory")))
    assert result.returncode == 75, result.stderr
    assert Refusing.writes, "it tried"
    assert "outputs.influxdb_v2: 1 of 1 gathered metric(s) not delivered and not kept" \
        in result.stderr


def test_disk_buffer_and_a_401_exits_0_with_the_metric_kept(refusing, tmp_path):
    result = agent("run", "--once", "--config", str(config(tmp_path, refusing, "disk")))
    assert result.returncode == 0, result.stderr
    assert "1 metric(s) not delivered yet, kept in the disk buffer" in result.stderr
    (spool,) = (tmp_path / "spool").glob("influxdb_v2-*.sqlite")
    with sqlite3.connect(spool) as db:
        assert db.execute("SELECT sum(count) FROM batches").fetchone()[0] == 1


def test_a_failing_file_output_exits_75(tmp_path):
    path = tmp_path / "file.toml"
    # /dev/full opens, and every write to it fails with ENOSPC.
    path.write_text('[[inputs.mem]]\n[[outputs.file]]\nfiles = ["/dev/full"]\n')
    result = agent("run", "--once", "--config", str(path))
    assert result.returncode == 75, result.stderr
    assert "outputs.file: 1 of 1 gathered metric(s) not delivered" in result.stderr


def test_delivered_is_exit_0(tmp_path):
    result = agent("run", "--once")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mem,")


HIDE = "import sys\nsys.modules['influxdb_client'] = None  # as on a core install"


@pytest.mark.parametrize("command", [["check"], ["run", "--once"], ["run"]])
def test_a_missing_extra_is_named_by_check_and_run(refusing, tmp_path, command):
    result = agent(*command, "--config", str(config(tmp_path, refusing, "memory")), code=HIDE)
    assert result.returncode == 78, result.stderr
    (line,) = result.stderr.splitlines()
    assert "[outputs.influxdb_v2]: needs the Python module influxdb_client" in line
    assert install_hint("influx") in line
    assert "ModuleNotFoundError" not in line and "Traceback" not in result.stderr


def test_a_module_that_is_there_but_does_not_import_is_named_too(refusing, tmp_path):
    """find_spec finds it, importing fails (a broken install): one line, the extra named."""
    fake = tmp_path / "site" / "influxdb_client"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('libbroken.so: cannot open shared "
                                      "object file', name='influxdb_client')\n")
    code = f"import sys\nsys.path.insert(0, {str(fake.parent)!r})"
    result = agent("run", "--once", "--config", str(config(tmp_path, refusing, "memory")),
                   code=code)
    assert result.returncode == 78, result.stderr
    (line,) = result.stderr.splitlines()
    assert "cannot import influxdb_client: libbroken.so" in line
    assert install_hint("influx") in line
