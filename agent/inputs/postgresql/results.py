"""Reading a query's result: all of it, or at most a number of rows, streamed.

A custom query may return any number of rows (1 M rows took 1.2 GB): with a limit, rows are
read as they come (libpq's single-row mode, or chunks with libpq 17 and psycopg 3.2), so no
more than the limit is ever in memory, and closing the stream early cancels the rest of the
query on the server (psycopg drains what was already sent; the connection stays usable).
"""

from __future__ import annotations

import itertools
from typing import Any, List, Optional, Tuple

CHUNK = 256  # rows per chunk in chunked mode


def fetch(psycopg: Any, conn: Any, sql: str, params: Optional[list],
          limit: int = 0) -> Tuple[List[str], List[tuple]]:
    """(column names, rows): every row, or at most `limit` rows when limit > 0."""
    if limit > 0:
        return _stream(psycopg, conn, sql, params, limit)
    cursor = conn.execute(sql, params or None)
    columns = [column.name for column in cursor.description or ()]
    return columns, cursor.fetchall() if cursor.description else []


def _stream(psycopg: Any, conn: Any, sql: str, params: Optional[list],
            limit: int) -> Tuple[List[str], List[tuple]]:
    cursor = conn.cursor()
    options = {}
    if psycopg.pq.version() >= 170000 and _version(psycopg.__version__) >= (3, 2):
        options["size"] = min(limit, CHUNK)
    stream = cursor.stream(sql, params or None, **options)
    try:
        rows = list(itertools.islice(stream, limit))
        columns = [column.name for column in cursor.description or ()]
    finally:
        stream.close()
    return columns, rows


def _version(text: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())
