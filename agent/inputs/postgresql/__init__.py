"""inputs.postgresql: Telegraf's `postgresql` measurement from pg_stat_database and
pg_stat_bgwriter, [[inputs.postgresql.query]] custom queries (Telegraf's postgresql_extensible),
and opt-in health metrics (`collect`). psycopg is imported only when a gather connects.

Failures: an outage (no connection, or the connection broke) is logged once when it starts and
once when it ends, whatever the number of gathers in between; a failing query is logged once
until it works again, and the gather returns what the other queries gave.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from agent.inputs.postgresql import dsn, servertag
from agent.inputs.postgresql.connection import ConnectError, Session, Settings, Waiting
from agent.inputs.postgresql.extras import COLLECT, MIN_VERSION, extra_metrics, extra_queries
from agent.inputs.postgresql.queries import (
    custom_query_problems,
    parse_custom_queries,
    telegraf_metrics,
    telegraf_queries,
)
from agent.inputs.postgresql.results import fetch
from agent.lineprotocol.metric import Metric
from agent.plugin.base import Input
from agent.plugin.options import Option

_Result = Optional[Tuple[List[str], List[tuple]]]


_INT32 = 2 ** 31 - 1
# statement_timeout and lock_timeout are sent in ms, PostgreSQL takes at most INT_MAX ms (24.8
# days), and tcp_user_timeout (statement_timeout + 10 s) too: 596h stays below both.
_PG_MS_MAX = 596 * 3600.0


class PostgresqlError(Exception):
    """The server cannot be reached; the message names it and holds no secret."""


class _Lost(Exception):
    """The connection broke during a query."""


class PostgresqlInput(Input):
    name = "postgresql"
    description = ("PostgreSQL statistics (Telegraf's postgresql schema), custom queries and "
                   "opt-in health metrics")
    options = (
        Option("address", "str", "", "libpq key=value string or postgres:// URL; empty = "
               '"host=localhost sslmode=disable"', secret=True),
        Option("outputaddress", "str", "", "the server tag; default: the address without "
               "password, sslcert, sslkey, sslmode, sslrootcert"),
        Option("databases", "str_list", [], "only these databases (pg_stat_database and the "
               "per-database collect metrics)"),
        Option("ignored_databases", "str_list", [], "all databases but these; wins over "
               "databases"),
        Option("prepared_statements", "bool", True, "false for PgBouncer in transaction mode"),
        Option("max_lifetime", "duration", 0.0, "reconnect after this long; 0 = never"),
        Option("max_idle", "int", 1, "0 = disconnect after each gather (Telegraf's pool option)",
               minimum=0, maximum=_INT32),
        Option("max_open", "int", 1, "accepted for Telegraf configs; one connection is used",
               minimum=0, maximum=_INT32),
        Option("connect_timeout", "duration", 5.0, "give up connecting after this long",
               minimum=1.0, maximum=300.0),
        Option("statement_timeout", "duration", 5.0, "cancel a query after this long; 0 = "
               "the server's setting", maximum=_PG_MS_MAX),
        Option("lock_timeout", "duration", 1.0, "stop waiting for a lock after this long; 0 = "
               "the server's setting", maximum=_PG_MS_MAX),
        Option("password_file", "str", "", "file whose first line is the password"),
        Option("collect", "str_list", [], "also collect: " + ", ".join(COLLECT)),
        Option("max_rows", "int", 10000, "rows kept of each custom query's result; the rest "
               "are not read (a warning says so); a query may set its own", minimum=1),
        Option("query", "table_list", [], "[[inputs.postgresql.query]] custom queries: "
               "sqlquery, script, measurement, tagvalue, timestamp, min_version, max_version, "
               "max_rows"),
    )
    requires = (("psycopg", "postgres"),)
    sample_config = """\
# PostgreSQL statistics, as Telegraf's inputs.postgresql (+ custom queries, + opt-in metrics).
[[inputs.postgresql]]
  ## libpq key=value string or postgres:// URL. The password can come from here, from
  ## PGPASSFILE / ~/.pgpass, or from password_file; it never shows in tags or logs.
  address = "host=localhost user=postgres sslmode=disable"
  ## The server tag; default: the address without password and ssl* keys.
  # outputaddress = "db01"
  ## Only these databases, or all but these (ignored_databases wins if both are set).
  # databases = ["app_production"]
  # ignored_databases = ["template0", "template1"]
  ## false when connecting through PgBouncer with pool_mode = transaction.
  # prepared_statements = true
  ## Reconnect after this long; 0s = keep the connection.
  # max_lifetime = "0s"
  # connect_timeout = "5s"
  ## Per-session bounds on each query; "0s" leaves the server's (or the role's) setting.
  # statement_timeout = "5s"
  # lock_timeout = "1s"
  ## A file whose first line is the password (e.g. a systemd credential).
  # password_file = "${CREDENTIALS_DIRECTORY}/pgpassword"
  ## Opt-in metrics: database_size, activity, locks, replication, wal.
  # collect = ["database_size", "activity", "locks", "replication", "wal"]
  ## Rows kept of each custom query's result (memory stays bounded); more: a warning.
  # max_rows = 10000

  ## Custom queries (Telegraf's postgresql_extensible). Version numbers are
  ## server_version_num / 100: 15.2 -> 1500. max_version is the first version NOT queried.
  # [[inputs.postgresql.query]]
  #   sqlquery = "SELECT datname, numbackends FROM pg_stat_database WHERE datname IS NOT NULL"
  #   measurement = "pg_backends"
  #   tagvalue = ""
  #   timestamp = ""
  #   min_version = 1000
  #   max_version = 0
  #   max_rows = 0  # 0: the plugin's max_rows
"""

    def __init__(self, connect: Optional[Callable[..., Any]] = None, **options: Any) -> None:
        super().__init__(**options)
        self.address = dsn.normalize(self.address)
        self.server = servertag.server_tag(self.address, self.outputaddress)
        self.connection_db = dsn.connection_database(self.server)
        self.queries = parse_custom_queries(self.query)
        settings = Settings(
            self.server, dsn.parse(self.address), self.connect_timeout, self.statement_timeout,
            self.lock_timeout, self.prepared_statements, self.max_lifetime, self.password_file)
        self.session = Session(settings, connect=connect)
        self._failing: Dict[str, str] = {}  # query label -> the error logged for it
        self._truncated: Set[str] = set()  # queries whose row cap has been warned about
        self._stopping = False

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> Iterator[Tuple[str, str]]:
        try:
            params = dsn.parse(dsn.normalize(options.get("address") or ""))
        except dsn.AddressError as err:
            yield "address", f"cannot be parsed: {err}"
            params = {}
        for key in params:
            if dsn.is_secret(key) and key not in dsn.SECRET_KEYS:
                yield "address", f"libpq keywords are lower case: {key.lower()}, not {key}"
        for item in options.get("collect") or ():
            if item not in COLLECT:
                yield "collect", f"unknown item {item!r} (available: {', '.join(COLLECT)})"
        yield from custom_query_problems(options.get("query") or ())

    def start(self) -> None:
        if self.databases and self.ignored_databases:
            self.log.warning("both databases and ignored_databases are set; "
                             "ignored_databases wins, as in Telegraf")

    def stop(self) -> None:
        self._stopping = True
        self.session.interrupt()

    def gather(self) -> List[Metric]:
        self.session.backoff.gathering()
        metrics: List[Metric] = []
        for _ in range(2):  # a reused connection that died since the last gather: one retry
            try:
                conn, fresh = self.session.connection()
            except Waiting as err:
                self.log.debug("%s", err)
                return []
            except ConnectError as err:
                return self._unavailable(str(err), [])
            metrics = []
            try:
                self._collect(conn, metrics)
                break
            except _Lost as err:
                self.session.close()
                if fresh or metrics:
                    return self._unavailable(str(err), metrics)
        failures, seconds = self.session.backoff.succeeded()
        if failures:
            self.log.info("connected to %s again after %d failed attempt(s) in %.0fs",
                          self.server, failures, seconds)
        if self.max_idle == 0:
            self.session.close()
        return metrics

    def _unavailable(self, message: str, metrics: List[Metric]) -> List[Metric]:
        """Log an outage once: raise at its start (or log, when some metrics came through)."""
        first = self.session.backoff.failed()
        if self._stopping or not first:
            self.log.debug("still unavailable: %s", message)
            return metrics
        if metrics:
            self.log.error("%s", message)
            return metrics
        raise PostgresqlError(message)

    def _collect(self, conn: Any, metrics: List[Metric]) -> None:
        for label, sql, params in telegraf_queries(self.databases, self.ignored_databases):
            result = self._run(conn, label, sql, params)
            if result:
                metrics.extend(telegraf_metrics(*result, self.server, self.connection_db))
        version = self.session.server_version
        if self.collect and version < MIN_VERSION:
            self._query_failed("collect", f"collect needs PostgreSQL 10 or newer; "
                               f"{self.server} runs {version}")
        elif self.collect:
            for extra, sql, params in extra_queries(self.collect, version, self.databases,
                                                    self.ignored_databases):
                result = self._run(conn, extra.measurement, sql, params)
                if result:
                    metrics.extend(extra_metrics(extra, *result, self.server))
        self._custom(conn, version // 100, metrics)

    def _custom(self, conn: Any, version: int, metrics: List[Metric]) -> None:
        for number, query in enumerate(self.queries, 1):
            if not query.runs_on(version):
                continue
            label = query.label(number)
            try:
                sql = query.sql()
            except OSError as err:
                self._query_failed(label, f"{label}: cannot read script {query.script}: "
                                   f"{err.strerror}")
                continue
            result = self._run(conn, label, sql, None, query.max_rows or self.max_rows)
            if result:
                metrics.extend(query.metrics(*result, self.server, self.connection_db))

    def _run(self, conn: Any, label: str, sql: str, params: Optional[list],
             max_rows: int = 0) -> _Result:
        """(columns, rows); None after logging a failed query; _Lost if the connection broke.
        With max_rows, rows are streamed and no more than that are read."""
        import psycopg

        try:
            columns, rows = fetch(psycopg, conn, sql, params, max_rows + 1 if max_rows else 0)
        except psycopg.Error as err:
            if conn.closed or conn.broken:
                raise _Lost(self.session.describe("lost the connection to", err)) from None
            self._query_failed(label, self.session.describe(f"{label} failed on", err))
            return None
        if self._failing.pop(label, None) is not None:
            self.log.info("%s works again", label)
        if max_rows:
            self._cap(label, rows, max_rows)
        return columns, rows

    def _cap(self, label: str, rows: List[tuple], max_rows: int) -> None:
        """Keep max_rows rows; say so once per query until it fits again."""
        if len(rows) <= max_rows:
            self._truncated.discard(label)
            return
        del rows[max_rows:]
        message = (f"{label} returned more than max_rows = {max_rows} rows; only the first "
                   f"{max_rows} are kept (aggregate or LIMIT in the query, or raise max_rows)")
        if label in self._truncated:
            self.log.debug("%s", message)
        else:
            self._truncated.add(label)
            self.log.warning("%s", message)

    def _query_failed(self, label: str, message: str) -> None:
        """Log a failing query once, until it works again (not the one stop() cancelled)."""
        if label in self._failing or self._stopping:
            self.log.debug("%s", message)
            return
        self._failing[label] = message
        self.log.error("%s", message)

