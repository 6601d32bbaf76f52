"""What is asked, and how a result row becomes a metric the way Telegraf makes it.

Telegraf's schema is two queries, whatever the number of databases: `SELECT * FROM
pg_stat_database` (optionally filtered) and `SELECT * FROM pg_stat_bgwriter`. Every column
becomes a field except stats_reset; NULLs and timestamps are left out (Telegraf's metric
conversion drops them); integers stay integers, float8 stays float, text stays a string.
Custom queries follow Telegraf's postgresql_extensible ([[inputs.postgresql.query]]).
"""

from __future__ import annotations

import datetime
import difflib
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from agent.lineprotocol.metric import Metric
from agent.lineprotocol.serializer import format_float

MEASUREMENT = "postgresql"
GLOBAL_DB = "postgres_global"  # the PostgreSQL 12+ row of shared objects (datname NULL)
IGNORED_COLUMNS = frozenset({"stats_reset"})

Query = Tuple[str, str, list]  # (name for messages, SQL, parameters)


def database_filter(column: str, databases: Sequence[str], ignored: Sequence[str]):
    """A WHERE clause on `column` (a constant, never user input) and its parameters.
    ignored_databases wins over databases, as in Telegraf."""
    if ignored:
        return f" WHERE {column} <> ALL(%s::text[])", [list(ignored)]
    if databases:
        return f" WHERE {column} = ANY(%s::text[])", [list(databases)]
    return "", []


def telegraf_queries(databases: Sequence[str], ignored: Sequence[str]) -> List[Query]:
    where, params = database_filter("datname", databases, ignored)
    return [
        ("pg_stat_database", "SELECT * FROM pg_stat_database" + where, params),
        ("pg_stat_bgwriter", "SELECT * FROM pg_stat_bgwriter", []),
    ]


def field_value(value: Any) -> Any:
    """A column value as Telegraf's field value, or None when Telegraf leaves it out."""
    kind = type(value)
    if kind in (int, float, str, bool):
        return value
    if kind in (bytes, bytearray, memoryview):
        return bytes(value).decode("utf-8", "replace")
    return None  # NULL, and dates and times (time.Time is not a field type in Telegraf)


def row_fields(columns: Sequence[str], row: Sequence[Any]) -> Dict[str, Any]:
    fields = {}
    for column, raw in zip(columns, row):
        value = field_value(raw)
        if value is not None and column not in IGNORED_COLUMNS:
            fields[column] = value
    return fields


def telegraf_metrics(columns: Sequence[str], rows: Sequence[Sequence[Any]], server: str,
                     connection_db: str) -> List[Metric]:
    """pg_stat_database / pg_stat_bgwriter rows as Telegraf's `postgresql` metrics."""
    index = list(columns).index("datname") if "datname" in columns else None
    metrics = []
    for row in rows:
        if index is None:
            db = connection_db
        else:
            db = row[index] if isinstance(row[index], str) else GLOBAL_DB
        metrics.append(Metric(MEASUREMENT, row_fields(columns, row), {"server": server, "db": db}))
    return metrics


@dataclass
class CustomQuery:
    """One [[inputs.postgresql.query]] table (Telegraf's postgresql_extensible query)."""

    sqlquery: str = ""
    script: str = ""
    measurement: str = MEASUREMENT
    tagvalue: str = ""
    timestamp: str = ""
    min_version: int = 0
    max_version: int = 0
    max_rows: int = 0  # 0: the plugin's max_rows

    @property
    def tag_columns(self) -> frozenset:
        return frozenset(t.strip() for t in self.tagvalue.split(",") if t.strip())

    def label(self, number: int) -> str:
        return f"query #{number} ({self.measurement})"

    def sql(self) -> str:
        """The SQL: sqlquery, else the script file's content (read once, when first needed)."""
        if not self.sqlquery:
            with open(self.script, encoding="utf-8") as handle:
                self.sqlquery = handle.read()
        return self.sqlquery

    def runs_on(self, version: int) -> bool:
        """Telegraf's rule, version = server_version_num / 100 (15.2 -> 1500)."""
        return self.min_version <= version and (self.max_version == 0 or
                                                self.max_version > version)

    def metrics(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], server: str,
                connection_db: str) -> List[Metric]:
        return [self._metric(dict(zip(columns, row)), server, connection_db) for row in rows]

    def _metric(self, values: Dict[str, Any], server: str, connection_db: str) -> Metric:
        datname = values.get("datname")
        tags = {"server": server, "db": datname if isinstance(datname, str) else connection_db}
        fields: Dict[str, Any] = {}
        time_ns: Optional[int] = None
        tag_columns = self.tag_columns
        for column, value in values.items():
            if column in IGNORED_COLUMNS or value is None:
                continue
            if column == self.timestamp:
                time_ns = _time_ns(value)
            elif column in tag_columns:
                text = _tag_text(value)
                if text is not None:
                    tags[column] = text
            else:
                value = field_value(value)
                if value is not None:
                    fields[column] = value
        return Metric(self.measurement, fields, tags, time_ns)


def _time_ns(value: Any) -> Optional[int]:
    """A timestamp column's value in ns; None (the gather time) unless it is a date or time."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime.datetime):
        return None
    if value.tzinfo is None:  # timestamp without time zone: pgx reads it as UTC
        value = value.replace(tzinfo=datetime.timezone.utc)
    delta = value - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _tag_text(value: Any) -> Optional[str]:
    """Telegraf's internal.ToString for tag values: strings, bytes, numbers, booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return None


QUERY_KEYS = {
    "sqlquery": str, "script": str, "measurement": str, "tagvalue": str, "timestamp": str,
    "min_version": int, "max_version": int, "max_rows": int,
}


def parse_custom_queries(tables: Sequence[Dict[str, Any]]) -> List[CustomQuery]:
    """Validated tables as queries; an empty measurement means "postgresql", as in Telegraf."""
    return [CustomQuery(**{**table, "measurement": table.get("measurement") or MEASUREMENT})
            for table in tables]


def custom_query_problems(tables: Sequence[Any]) -> Iterator[Tuple[str, str]]:
    """(key, message) for each problem in the [[inputs.postgresql.query]] tables."""
    for number, table in enumerate(tables, 1):
        where = f"query[{number}]"
        for key, value in table.items():
            kind = QUERY_KEYS.get(key)
            if kind is None:
                close = difflib.get_close_matches(key, QUERY_KEYS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                yield f"{where}.{key}", f"unknown option {key!r}{hint}"
            elif isinstance(value, bool) or not isinstance(value, kind):
                yield f"{where}.{key}", f"expected {'an integer' if kind is int else 'a string'}"
            elif key == "max_rows" and value < 0:
                yield f"{where}.{key}", f"must be at least 0 (0: the plugin's), got {value}"
        if not table.get("sqlquery") and not table.get("script"):
            yield where, "needs sqlquery (or script, a file with the SQL)"
