"""The psycopg connection's lifecycle: connect (lazily importing psycopg), set the session up,
reuse it across gathers, drop it when it breaks or ages out, and back off between reconnects.

Session settings are sent with one `SELECT set_config(...)` after connecting rather than in the
startup packet's `options`, which PgBouncer rejects (see README.md, inputs.postgresql: PgBouncer).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from agent.inputs.postgresql import dsn
from agent.system.backoff import Backoff

APPLICATION_NAME = "agent"
# Types loaded as Python values; every other type comes back as PostgreSQL's text, which is
# what Telegraf's driver (pgx through database/sql) hands to Telegraf for them.
_NATIVE_TYPES = frozenset({
    "bool", "int2", "int4", "int8", "oid", "float4", "float8", "text", "name", "varchar",
    "bpchar", '"char"', "bytea", "date", "timestamp", "timestamptz",
})


class ConnectError(Exception):
    """Connecting failed; the message names the server and never contains a secret."""


class Waiting(ConnectError):
    """Not trying yet: the backoff after the last failed attempt has not elapsed."""


@dataclass
class Settings:
    server: str                       # the server tag, to name the server in messages
    params: Dict[str, str]            # the parsed address
    connect_timeout: float = 5.0
    statement_timeout: float = 5.0
    lock_timeout: float = 1.0
    prepared_statements: bool = True
    max_lifetime: float = 0.0
    password_file: str = ""


class ReconnectBackoff:
    """When to try reconnecting: the one Backoff (1 s, doubling, at most 60 s), never so long
    that two gathers in a row are skipped (gathers are what retry, so collection resumes
    within two intervals of the server coming back)."""

    def __init__(self, first: float = 1.0, maximum: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.delays = Backoff(first=first, cap=maximum)
        self.clock = clock
        self.since = 0.0
        self._next = 0.0
        self._last_gather: Optional[float] = None
        self._period = math.inf

    @property
    def failures(self) -> int:
        return self.delays.failures

    def gathering(self) -> None:
        """Called at the start of each gather: learns the time between gathers."""
        now = self.clock()
        if self._last_gather is not None:
            self._period = now - self._last_gather
        self._last_gather = now

    def ready(self) -> bool:
        # 0.1 s of slack: a gather exactly one delay later is not skipped for clock jitter.
        return self.failures == 0 or self.clock() >= self._next - 0.1

    def failed(self) -> bool:
        """Count a failure; True when it is the first of an outage."""
        now = self.clock()
        if self.failures == 0:
            self.since = now
        self._next = now + min(self.delays.next_delay(), 1.5 * self._period)
        return self.failures == 1

    def succeeded(self) -> Tuple[int, float]:
        """Reset; returns (failures, seconds) of the outage that just ended, (0, 0) if none."""
        ended = (self.failures, self.clock() - self.since if self.failures else 0.0)
        self.delays.reset()
        return ended


class Session:
    """One connection, reused across gathers. `connect` is psycopg.connect unless injected."""

    def __init__(self, settings: Settings, connect: Optional[Callable[..., Any]] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.backoff = ReconnectBackoff(clock=clock)
        self.clock = clock
        self._connect = connect
        self.conn: Any = None
        self._opened = 0.0
        self.server_version = 0
        self.hidden = dsn.secrets(settings.params)

    def connection(self) -> Tuple[Any, bool]:
        """(a usable connection, whether it was just opened); ConnectError when there is none."""
        conn = self.conn
        if conn is not None and not (conn.closed or conn.broken) and not self._expired():
            return conn, False
        self.close()
        if not self.backoff.ready():
            raise Waiting(f"waiting before reconnecting to {self.settings.server}")
        self.conn = self._open()
        self._opened = self.clock()
        self.server_version = self.conn.info.server_version
        return self.conn, True

    def _expired(self) -> bool:
        lifetime = self.settings.max_lifetime
        return lifetime > 0 and self.clock() - self._opened >= lifetime

    def _open(self) -> Any:
        import psycopg

        connect = self._connect or psycopg.connect
        libpq, runtime = self._parameters(psycopg)
        try:
            conn = connect(psycopg.conninfo.make_conninfo("", **libpq), autocommit=True,
                           prepare_threshold=5 if self.settings.prepared_statements else None)
        except psycopg.Error as err:
            raise ConnectError(self.describe("cannot connect to", err)) from None
        try:
            _configure_loaders(conn, psycopg)
            _apply_settings(conn, runtime)
        except psycopg.Error as err:
            conn.close()
            raise ConnectError(self.describe("cannot set up the session on", err)) from None
        return conn

    def _parameters(self, psycopg: Any) -> Tuple[Dict[str, str], List[Tuple[str, str]]]:
        """libpq's parameters, and the rest (e.g. statement_timeout=... in a Telegraf address,
        which pgx sends as run-time parameters) as session settings."""
        known = {d.keyword.decode() for d in psycopg.pq.Conninfo.get_defaults()}
        params = dict(self.settings.params)
        if "database" in params:  # pgx's other name for dbname
            params.setdefault("dbname", params.pop("database"))
        libpq = {k: v for k, v in params.items() if k in known}
        # (A secret under a spelling libpq does not know is never sent as a setting.)
        runtime = [(k, v) for k, v in params.items() if k not in known and not dsn.is_secret(k)]
        settings = self.settings
        libpq.setdefault("connect_timeout", str(max(1, math.ceil(settings.connect_timeout))))
        libpq.setdefault("fallback_application_name", APPLICATION_NAME)
        if settings.statement_timeout > 0 and "tcp_user_timeout" in known.difference(libpq):
            # A server that vanished mid-query would otherwise hang the gather for minutes.
            libpq["tcp_user_timeout"] = str(round((settings.statement_timeout + 10) * 1000))
        if settings.password_file:
            libpq["password"] = self._read_password()
            self.hidden = [*dsn.secrets(self.settings.params), libpq["password"]]
        timeouts = [("statement_timeout", settings.statement_timeout),
                    ("lock_timeout", settings.lock_timeout)]
        for name, seconds in reversed(timeouts):
            if seconds > 0:  # 0 leaves the server's (or the role's) setting alone
                runtime.insert(0, (name, f"{round(seconds * 1000)}ms"))
        return libpq, runtime

    def _read_password(self) -> str:
        path = self.settings.password_file
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError as err:
            raise ConnectError(f"cannot read password_file {path}: {err.strerror}") from None
        return lines[0] if lines else ""

    def describe(self, what: str, err: BaseException) -> str:
        """One line: what failed, on which server, and libpq's reason, secrets removed."""
        reason = " ".join(str(err).split()) or type(err).__name__
        reason = reason.removeprefix("connection failed: ")  # psycopg's, before libpq's
        return dsn.redact(f"{what} {self.settings.server}: {reason}", self.hidden)

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone
                pass

    def interrupt(self) -> None:
        """Cancel a running query (at shutdown), then close."""
        conn = self.conn
        if conn is not None and not conn.closed:
            try:
                if hasattr(conn, "cancel_safe"):  # psycopg >= 3.2
                    conn.cancel_safe(timeout=1.0)
                else:
                    conn.cancel()
            except Exception:  # noqa: BLE001 - best effort
                pass
        self.close()


def _configure_loaders(conn: Any, psycopg: Any) -> None:
    from psycopg.types.numeric import IntLoader
    from psycopg.types.string import TextLoader

    adapters = conn.adapters
    for info in psycopg.postgres.types:
        if info.name not in _NATIVE_TYPES:
            adapters.register_loader(info.oid, TextLoader)
        if info.array_oid:
            adapters.register_loader(info.array_oid, TextLoader)
    for name in ("xid", "cid"):  # pgx returns these as integers
        adapters.register_loader(name, IntLoader)


def _apply_settings(conn: Any, settings: List[Tuple[str, str]]) -> None:
    if not settings:
        return
    calls = ", ".join(["set_config(%s, %s, false)"] * len(settings))
    conn.execute(f"SELECT {calls}", [v for pair in settings for v in pair])
