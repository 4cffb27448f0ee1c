"""Bulk work on PostgreSQL: ``COPY … FROM STDIN`` (psycopg) inside the caller's transaction, and
lookups of many ids through one array parameter.

COPY streams rows in one command instead of one INSERT per row; triggers and constraints still apply,
and an error rolls back with the rest of the transaction, so nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from gridgis.storage.frames import _column_lists


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """COPY ``rows`` (tuples in ``columns`` order; None for NULL) into ``table``; returns the row count."""
    import psycopg  # the `postgis` extra; only reached on a PostgreSQL connection

    sql = f"COPY {_quote(table)} ({', '.join(_quote(c) for c in columns)}) FROM STDIN"
    n = 0
    cursor = conn.connection.driver_connection.cursor()  # psycopg, in the SQLAlchemy transaction
    try:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
    except psycopg.Error as exc:  # as SQLAlchemy would wrap it (IntegrityError, OperationalError, …)
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc
    finally:
        cursor.close()
    return n


def copy_frame(conn: Connection, table: str, frame: pd.DataFrame, columns: Sequence[str]) -> int:
    """COPY the ``columns`` of ``frame`` into ``table`` (missing values as NULL)."""
    if frame.empty:
        return 0
    return copy_rows(conn, table, columns, zip(*_column_lists(frame, columns), strict=True))


def copy_upsert(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence], conflict: str) -> int:
    """INSERT … ON CONFLICT for many rows: COPY them into a temporary table, then one set-wise
    ``INSERT INTO table SELECT … FROM it {conflict}`` (``conflict``: the ``ON CONFLICT …`` clause, which
    names the target by its table name and the new row as ``excluded``). Rows must be unique by key."""
    cols = ", ".join(_quote(c) for c in columns)
    # On an error the transaction rolls back, the temporary table with it.
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE gridgis_stage (LIKE {_quote(table)} INCLUDING DEFAULTS)")
    n = copy_rows(conn, "gridgis_stage", columns, rows)
    conn.exec_driver_sql(f"INSERT INTO {_quote(table)} ({cols}) SELECT {cols} FROM gridgis_stage {conflict}")
    conn.exec_driver_sql("DROP TABLE gridgis_stage")
    return n


def stored_hashes(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    """id → content_hash of the requests among ``ids`` (one ``= ANY(array)`` parameter, one plan)."""
    sql = "SELECT id, content_hash FROM requests WHERE id = ANY(%s)"
    return dict(conn.exec_driver_sql(sql, (list(ids),)).fetchall())
