"""Throwaway real servers for tests: InfluxDB 1.x, VictoriaMetrics, PostgreSQL, Mosquitto.

Each class starts one server from the Debian package's binary, on free loopback ports, with all
its state in a fresh temporary directory, waits (bounded) until it answers, and stops it again.
``stop()``/``start()`` restart the same instance on the same ports with the same data (for outage
tests); ``close()`` stops it and deletes its directory. Classes are context managers too.

Standard library only, so that it works before the package's extras are installed.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable

LOCALHOST = "127.0.0.1"
# Loopback only: never let an http_proxy from the environment see test traffic.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MissingBinary(Exception):
    """The server's binary is not installed (skip, or fail under AGENT_REQUIRE_SERVERS=1)."""


class ServerError(RuntimeError):
    """A server did not start, did not answer, or answered with an error."""


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that was free a moment ago (the kernel's choice, so rarely reused soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = LOCALHOST, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http(
    method: str,
    url: str,
    data: bytes | str | None = None,
    headers: dict | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """One HTTP request; returns (status, body) for any status, raises OSError if unreachable."""
    if isinstance(data, str):
        data = data.encode()
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when GET url answers 2xx."""
    try:
        return 200 <= http("GET", url, timeout=timeout)[0] < 300
    except OSError:
        return False


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
) -> None:
    """Poll check() until it is true; fail early if proc exits, with the log's tail."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"{what}: exited with code {proc.returncode}{log_tail(log)}")
        if check():
            return
        if time.monotonic() > deadline:
            raise ServerError(f"{what}: not ready after {timeout:.0f}s{log_tail(log)}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


def log_tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last {len(tail)} lines of {log} ---\n" + "\n".join(tail)


try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def _die_with_parent(sig: int) -> Callable[[], None] | None:
    """preexec_fn: the server gets `sig` if the test process dies without cleaning up."""
    if _prctl is None:
        return None
    prctl = _prctl

    def preexec() -> None:
        prctl(1, int(sig))  # PR_SET_PDEATHSIG; runs after setuid, which would clear it

    return preexec


class Server:
    """Common lifecycle: temp dir, one process, log file, readiness wait, stop, restart."""

    name = "server"
    stop_signal = signal.SIGTERM
    ready_timeout = 30.0
    stop_timeout = 20.0

    def __init__(self) -> None:
        self.tmpdir: Path | None = None
        self.log_path: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    # -- hooks for subclasses
    def _prepare(self) -> None:
        """Pick ports, write config, init data (first start only)."""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _after_first_start(self) -> None:
        """E.g. create users (first start only)."""

    def _run_as(self) -> str | None:
        return None

    # -- lifecycle
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Server:
        if self.running:
            return self
        began = time.monotonic()
        first = self.tmpdir is None
        if first:
            self.tmpdir = Path(tempfile.mkdtemp(prefix=f"agent-test-{self.name}-", dir=_tmp_base()))
            self.log_path = self.tmpdir / "server.log"
            atexit.register(self.close)
        for attempt in range(3):
            if first:
                self._prepare()
            try:
                self._launch()
                wait_until(self._ready, self.ready_timeout, self.name, self.proc, self.log_path)
                break
            except ServerError:
                self.stop()
                if not (first and attempt < 2 and _port_clash(self.log_path)):
                    raise
        if first:
            self._after_first_start()
        self.startup_seconds = time.monotonic() - began
        return self

    def _launch(self) -> None:
        assert self.tmpdir is not None and self.log_path is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INFLUX", "PG"))}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmpdir,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent(self.stop_signal),
                **_user_kwargs(self._run_as()),
            )

    def stop(self, sig: int | None = None) -> None:
        """Stop the server; data and ports are kept for start(). `sig` defaults to the server's
        clean shutdown signal; signal.SIGKILL simulates a crash."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig or self.stop_signal)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                pass
        # Whatever the server left in its session (children, a hung main process) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def close(self) -> None:
        """Stop and delete all state. Idempotent."""
        self.stop()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        atexit.unregister(self.close)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _port_clash(log: Path | None) -> bool:
    return bool(log and log.exists() and "address already in use" in log.read_text().lower())


def _user_kwargs(user: str | None) -> dict:
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _tmp_base() -> str:
    """The temp dir, unless other users cannot reach it (root + a private TMPDIR): then /tmp."""
    base = tempfile.gettempdir()
    if os.geteuid() != 0:
        return base
    path = Path(base).resolve()
    for part in (path, *path.parents):
        if not part.stat().st_mode & 0o001:
            return "/tmp"
    return base


def _which(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise MissingBinary(f"{name} not found: install the Debian package {package!r}")
    return found


def _urlencode(**params: Any) -> str:
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


class InfluxDB1(Server):
    """InfluxDB 1.x (Debian `influxdb`): HTTP API only, every other service off.

    With ``username``/``password``, HTTP auth is on and that admin user is created at start;
    the helpers below authenticate as it.
    """

    name = "influxdb1"

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        super().__init__()
        self.binary = _which("influxd", "influxdb")
        self.username, self.password = username, password
        self.port = self.rpc_port = 0

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def _prepare(self) -> None:
        assert self.tmpdir is not None
        self.port, self.rpc_port = free_port(), free_port()
        (self.tmpdir / "influxdb.conf").write_text(
            _INFLUX_CONF.format(
                dir=self.tmpdir,
                port=self.port,
                rpc_port=self.rpc_port,
                auth=str(self.username is not None).lower(),
            )
        )

    def _command(self) -> list[str]:
        assert self.tmpdir is not None
        return [self.binary, "run", "-config", str(self.tmpdir / "influxdb.conf")]

    def _ready(self) -> bool:
        try:
            return http("GET", self.url + "/ping", timeout=1)[0] == 204
        except OSError:
            return False

    def _after_first_start(self) -> None:
        if self.username is not None:
            q = f"CREATE USER \"{self.username}\" WITH PASSWORD '{self.password}' "
            self._post_query(q + "WITH ALL PRIVILEGES", auth=False)

    def _auth(self) -> dict:
        return {"u": self.username, "p": self.password} if self.username else {}

    def write(
        self, body: bytes | str, db: str, precision: str = "ns", **params: Any
    ) -> tuple[int, str]:
        """POST /write; returns (status, response text) whatever the status."""
        query = _urlencode(db=db, precision=precision, **self._auth(), **params)
        status, data = http("POST", f"{self.url}/write?{query}", body)
        return status, data.decode(errors="replace")

    def query(self, q: str, db: str | None = None, epoch: str | None = "ns") -> Any:
        """GET /query; parsed JSON. Times are integers in `epoch` units (None: RFC3339)."""
        query = _urlencode(q=q, db=db, epoch=epoch, **self._auth())
        status, data = http("GET", f"{self.url}/query?{query}")
        if status != 200:
            raise ServerError(f"InfluxQL {q!r}: HTTP {status}: {data.decode(errors='replace')}")
        return json.loads(data)

    def rows(self, q: str, db: str | None = None) -> list[dict]:
        """The first series of a SELECT as dicts, e.g. [{"time": 1, "used": 42, "host": "a"}]."""
        result = self.query(q, db)["results"][0]
        if "error" in result:
            raise ServerError(f"InfluxQL {q!r}: {result['error']}")
        series = result.get("series") or [{"columns": [], "values": []}]
        columns = series[0]["columns"]
        return [dict(zip(columns, values)) for values in series[0]["values"]]

    def create_database(self, name: str) -> None:
        self._post_query(f'CREATE DATABASE "{name}"')

    def _post_query(self, q: str, auth: bool = True) -> None:
        params = _urlencode(q=q, **(self._auth() if auth else {}))
        status, data = http("POST", f"{self.url}/query?{params}")
        if status != 200 or b'"error"' in data:
            raise ServerError(f"InfluxQL {q!r}: HTTP {status}: {data.decode(errors='replace')}")


_INFLUX_CONF = """\
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{dir}/meta"
  logging-enabled = false
[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"
[retention]
  enabled = false
[shard-precreation]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  auth-enabled = {auth}
  log-enabled = true
[ifql]
  enabled = false
[subscriber]
  enabled = false
[[graphite]]
  enabled = false
[[collectd]]
  enabled = false
[[opentsdb]]
  enabled = false
[[udp]]
  enabled = false
[continuous_queries]
  enabled = false
"""


class VictoriaMetrics(Server):
    """VictoriaMetrics single-node (Debian `victoria-metrics`), which serves the InfluxDB v2
    write API at ``/api/v2/write`` (what influxdb-client speaks) and InfluxDB 1.x ``/write``.

    How line protocol maps to its data model, for reading back:

    * each field becomes one series named ``<measurement>_<field>``
      (``mem,host=a used=1i,free=2i`` -> ``mem_used{host="a"}``, ``mem_free{host="a"}``);
      tags become labels;
    * a ``db`` query arg becomes a ``db`` label; ``org``, ``bucket`` and the token are ignored;
    * values are float64: booleans become 1/0, string fields become 0 (their text is lost);
    * timestamps are milliseconds (sub-ms precision is lost).

    Started with retention 100y (old fixed timestamps in tests are kept), no query latency
    offset and no response cache. Even after ``flush()`` (/internal/force_flush), samples with
    timestamps near now take up to ~1 s to become visible (older ones are visible at once):
    read back with ``export(match, expect=N)``, which polls until N samples are there.
    ``stop()`` (SIGTERM) keeps all data; ``stop(signal.SIGKILL)`` loses the last few seconds
    of writes, flushed or not.
    """

    name = "victoria-metrics"

    def __init__(self) -> None:
        super().__init__()
        self.binary = _which("victoria-metrics", "victoria-metrics")
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def _prepare(self) -> None:
        self.port = free_port()

    def _command(self) -> list[str]:
        assert self.tmpdir is not None
        return [
            self.binary,
            f"-httpListenAddr={LOCALHOST}:{self.port}",
            f"-storageDataPath={self.tmpdir / 'data'}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=WARN",
        ]

    def _ready(self) -> bool:
        return http_ok(self.url + "/health")

    def write(self, body: bytes | str, precision: str = "ns", **params: Any) -> tuple[int, str]:
        """POST /api/v2/write (InfluxDB v2 API); returns (status, response text)."""
        query = _urlencode(precision=precision, **params)
        status, data = http("POST", f"{self.url}/api/v2/write?{query}", body)
        return status, data.decode(errors="replace")

    def flush(self) -> None:
        """Make everything written so far visible to queries and exports."""
        status, data = http("GET", self.url + "/internal/force_flush")
        if status != 200:
            raise ServerError(f"force_flush: HTTP {status}: {data.decode(errors='replace')}")

    def export(
        self, match: str = '{__name__!=""}', expect: int = 0, timeout: float = 10.0
    ) -> list[dict]:
        """Raw samples via /api/v1/export, sorted by metric name then labels:
        [{"metric": {"__name__": "mem_used", "host": "a"}, "values": [1.0],
          "timestamps": [1700000000000]}, ...] (timestamps in ms).
        Polls (bounded by timeout) until there are at least `expect` samples in all."""
        deadline = time.monotonic() + timeout
        while True:
            series = self._export(match)
            if sum(len(s["values"]) for s in series) >= expect or time.monotonic() > deadline:
                return series
            time.sleep(0.1)

    def _export(self, match: str) -> list[dict]:
        self.flush()
        status, data = http("GET", f"{self.url}/api/v1/export?{_urlencode(**{'match[]': match})}")
        if status != 200:
            raise ServerError(f"export {match}: HTTP {status}: {data.decode(errors='replace')}")
        series = [json.loads(line) for line in data.splitlines() if line.strip()]
        return sorted(series, key=lambda s: (s["metric"]["__name__"], sorted(s["metric"].items())))

    def query(self, promql: str, time_s: float | None = None) -> Any:
        """Instant query via /api/v1/query (after a flush); parsed JSON. It looks back 5 min
        from `time_s` (default now): pass time_s to find old samples."""
        self.flush()
        params = _urlencode(query=promql, time=time_s)
        status, data = http("GET", f"{self.url}/api/v1/query?{params}")
        if status != 200:
            raise ServerError(f"query {promql}: HTTP {status}: {data.decode(errors='replace')}")
        return json.loads(data)


class PostgreSQL(Server):
    """A throwaway cluster from Debian's postgresql (the newest /usr/lib/postgresql/<ver>).

    Listens on 127.0.0.1:<port> and on a unix socket in its temp dir (``socket_dir``).
    ``auth`` is the pg_hba method for every connection ("trust", "scram-sha-256", "md5", ...);
    the superuser ``user`` always has ``password``. As root, it runs as the `postgres` user.
    Restartable: stop() then start() keeps port and data (for outage tests).
    """

    name = "postgresql"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back sessions, checkpoint, exit

    def __init__(self, auth: str = "trust", user: str = "postgres", password: str = "postgres"):
        super().__init__()
        self.bindir = _pg_bindir()
        self.auth, self.user, self.password = auth, user, password
        self.port = 0

    @property
    def data_dir(self) -> Path:
        assert self.tmpdir is not None
        return self.tmpdir / "data"

    @property
    def socket_dir(self) -> str:
        return str(self.tmpdir)

    def dsn(self, user: str | None = None, dbname: str = "postgres", **extra: Any) -> str:
        """libpq key=value DSN over TCP; the superuser's password is included for the superuser."""
        user = user or self.user
        parts = {"host": LOCALHOST, "port": self.port, "user": user, "dbname": dbname}
        if user == self.user and self.auth != "trust":
            parts["password"] = self.password
        parts.update(extra)
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def _run_as(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def _prepare(self) -> None:
        assert self.tmpdir is not None
        self.port = free_port()
        if self.data_dir.exists():  # retry after a port clash: just rewrite the port
            _set_pg_port(self.data_dir / "postgresql.conf", self.port)
            return
        self._initdb()
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(_PG_CONF.format(port=self.port, socket_dir=self.tmpdir))

    def _initdb(self) -> None:
        assert self.tmpdir is not None and self.log_path is not None
        pwfile = self.tmpdir / "pwfile"
        pwfile.write_text(self.password + "\n")
        user = self._run_as()
        if user:
            entry = pwd.getpwnam(user)
            os.chown(self.tmpdir, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        cmd = [
            f"{self.bindir}/initdb", "-D", str(self.data_dir), "-U", self.user,
            f"--pwfile={pwfile}", f"--auth={self.auth}", "-E", "UTF8", "--no-locale",
            "--no-sync", "--no-instructions",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            done = subprocess.run(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmpdir, **_user_kwargs(user)
            )
        pwfile.unlink()
        if done.returncode != 0:
            raise ServerError(f"initdb: exit code {done.returncode}{log_tail(self.log_path)}")

    def _command(self) -> list[str]:
        return [f"{self.bindir}/postgres", "-D", str(self.data_dir)]

    def _ready(self) -> bool:
        """Ready like pg_ctl -w sees it: postmaster.pid names our process and says "ready"."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[0] == str(self.proc.pid) and lines[7].strip() == "ready"

    def psql(
        self,
        sql: str,
        dbname: str = "postgres",
        user: str | None = None,
        password: str | None = None,
    ) -> str:
        """Run SQL with psql (stops at the first error, which raises ServerError).
        Returns rows unaligned, '|' between columns, one row a line, no headers."""
        user = user or self.user
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGPASSWORD"] = password or (self.password if user == self.user else "")
        env["PGCONNECT_TIMEOUT"] = "5"
        cmd = [
            f"{self.bindir}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", LOCALHOST, "-p", str(self.port), "-U", user, "-d", dbname, "-f", "-",
        ]  # fmt: skip
        done = subprocess.run(cmd, input=sql, capture_output=True, text=True, env=env, timeout=60)
        if done.returncode != 0:
            raise ServerError(f"psql: {done.stderr.strip()}")
        return done.stdout.rstrip("\n")


_PG_CONF = """
# --- tests/servers.py
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
fsync = off
full_page_writes = off
max_connections = 50
shared_buffers = 32MB
"""


def _set_pg_port(conf: Path, port: int) -> None:
    text = re.sub(r"(?m)^port = \d+$", f"port = {port}", conf.read_text())
    conf.write_text(text)


def _pg_bindir() -> str:
    """Newest /usr/lib/postgresql/<ver>/bin with a postgres binary, else `postgres` on PATH."""
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    if found:
        newest = max(found, key=lambda p: [int(n) for n in re.findall(r"\d+", p.split("/")[4])])
        return os.path.dirname(newest)
    return os.path.dirname(_which("postgres", "postgresql"))


class Mosquitto(Server):
    """An MQTT broker (Debian `mosquitto`) on a free loopback port, its own config in its temp
    dir, logging to server.log.

    ``persistence``: sessions and queued messages are saved on a clean stop (SIGTERM) and
    every second, and restored by start() (for outage tests). ``users`` (name -> password):
    anonymous clients are refused. ``message_size_limit``: larger PUBLISHes are refused.
    ``max_queued_messages``: per offline persistent session (0 = no limit, as here by
    default; Mosquitto's own default is 1000). ``websockets``: a second listener on
    ``ws_port`` speaking MQTT over websockets. As root it stays root (its files are ours).
    """

    name = "mosquitto"

    def __init__(self, persistence: bool = False, users: dict | None = None,
                 message_size_limit: int = 0, max_queued_messages: int = 0,
                 websockets: bool = False, tls: bool = False) -> None:
        super().__init__()
        self.binary = _which("mosquitto", "mosquitto")
        self.tls = tls
        self.tls_port = 0
        self.persistence = persistence
        self.users = users
        self.message_size_limit = message_size_limit
        self.max_queued_messages = max_queued_messages
        self.websockets = websockets
        self.port = self.ws_port = 0

    @property
    def url(self) -> str:
        return f"tcp://{LOCALHOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{LOCALHOST}:{self.ws_port}"

    @property
    def tls_url(self) -> str:
        return f"ssl://{LOCALHOST}:{self.tls_port}"

    @property
    def ca_file(self) -> str:
        return str(self.tmpdir / "cert.pem") if self.tmpdir else ""

    def _make_certificate(self) -> None:
        assert self.tmpdir is not None
        subprocess.run([
            _which("openssl", "openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(self.tmpdir / "key.pem"), "-out", str(self.tmpdir / "cert.pem"),
            "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ], check=True, capture_output=True, timeout=60)

    def _prepare(self) -> None:
        assert self.tmpdir is not None
        self.port = free_port()
        lines = [
            f"listener {self.port} {LOCALHOST}",
            f"persistence {str(self.persistence).lower()}",
            f"persistence_location {self.tmpdir}/",
            "autosave_interval 1",
            f"max_queued_messages {self.max_queued_messages}",
            "log_dest stdout",
            "log_type error", "log_type warning", "log_type notice", "log_type information",
            "connection_messages true",
        ]
        if self.message_size_limit:
            lines.append(f"message_size_limit {self.message_size_limit}")
        if os.geteuid() == 0:
            lines.append("user root")
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            lines += ["allow_anonymous false", f"password_file {self.tmpdir}/passwords"]
            self._write_passwords()
        if self.tls:
            self._make_certificate()
            self.tls_port = free_port()
            lines += [f"listener {self.tls_port} {LOCALHOST}",
                      f"certfile {self.tmpdir}/cert.pem", f"keyfile {self.tmpdir}/key.pem"]
            if self.users is None:
                lines.append("allow_anonymous true")
        if self.websockets:
            self.ws_port = free_port()
            lines += [f"listener {self.ws_port} {LOCALHOST}", "protocol websockets"]
            if self.users is None:
                lines.append("allow_anonymous true")
        (self.tmpdir / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def _write_passwords(self) -> None:
        assert self.tmpdir is not None and self.users is not None
        path = self.tmpdir / "passwords"
        path.touch(mode=0o600)
        tool = _which("mosquitto_passwd", "mosquitto")
        for user, password in self.users.items():
            subprocess.run([tool, "-b", str(path), user, password], check=True,
                           capture_output=True, timeout=30)

    def _command(self) -> list[str]:
        assert self.tmpdir is not None
        return [self.binary, "-c", str(self.tmpdir / "mosquitto.conf")]

    def _ready(self) -> bool:
        return port_open(self.port) and (not self.websockets or port_open(self.ws_port)) and (
            not self.tls or port_open(self.tls_port))
