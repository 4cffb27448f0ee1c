"""Copy a whole gridgis database into another (SQLite ⇄ PostgreSQL): `gridgis db copy SRC DST`.

Every table of the Core schema is read in foreign-key order, in chunks, from one read snapshot of the
source, and written in ONE transaction on the target (COPY on PostgreSQL, executemany on SQLite): an
error anywhere leaves the target as it was. Requests are written batch by batch under migration 0002's
bulk key, so the insert trigger does not count them again: ``demand_counts`` is copied as it is.
Serial ids keep their values; PostgreSQL sequences are moved past them afterwards.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterator

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Table, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from gridgis.errors import InvalidInputError, StorageError
from gridgis.storage import migrate
from gridgis.storage.demand_counts import BULK_KEY
from gridgis.storage.engine import check_connection, make_engine, safe_url
from gridgis.storage.pgcopy import copy_rows
from gridgis.storage.postgis import is_postgresql
from gridgis.storage.schema import demand_counts, meta, metadata, requests

# Written by `gridgis db init` (taxonomy, resolution): replaced by the source's, never "data" in the target.
CONFIG_TABLES = ("gridgis_meta", "categories")
DEFAULT_CHUNK_ROWS = 50_000


def tables() -> list[Table]:
    """The Core tables in foreign-key order (parents first)."""
    return list(metadata.sorted_tables)


def copy_database(
    src_url: str,
    dst_url: str,
    *,
    replace: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Copy every table from ``src_url`` into ``dst_url``; returns rows copied per table.

    The source must be at the code's schema (else: run ``gridgis db upgrade`` on it). The target is
    initialised when it has no schema; it must hold no data unless ``replace`` (then its rows are
    deleted first, in the same transaction).
    """
    from gridgis.storage.store import Store  # the source opens like any store (schema check included)

    if int(chunk_rows) < 1:
        raise InvalidInputError("chunk_rows 须为正整数 / chunk_rows must be a positive integer", field="chunk_rows")
    src = Store.from_url(src_url)
    dst = make_engine(dst_url)
    try:
        if src.engine.url == dst.url:
            raise InvalidInputError(
                f"源与目标是同一个数据库 / source and target are the same database: {src.url}", field="dst_url"
            )
        check_connection(dst)
        with src.engine.connect() as sconn, dst.connect() as dconn:
            if is_postgresql(sconn):  # every table from one snapshot, while writers go on
                sconn = sconn.execution_options(isolation_level="REPEATABLE READ")
            dconn.info["gridgis_write"] = True  # SQLite: take the write lock up front
            with sconn.begin(), dconn.begin():
                _prepare_target(dconn, replace)
                counts = {}
                for table in tables():
                    counts[table.name] = _copy_table(sconn, dconn, table, int(chunk_rows))
                    if progress is not None:
                        progress(table.name, counts[table.name])
                if is_postgresql(dconn):
                    _fix_sequences(dconn)
                _check_counts(dconn, counts)
    except SQLAlchemyError as exc:
        raise StorageError(
            f"复制失败，目标数据库未改动 / copy failed, the target {safe_url(dst_url)} is unchanged: {exc}"
        ) from exc
    finally:
        src.close()
        dst.dispose()
    return counts


def _prepare_target(conn: Connection, replace: bool) -> None:
    current, head = MigrationContext.configure(conn).get_current_revision(), migrate.head_revision()
    if current is None:
        migrate.upgrade_connection(conn)
    elif current != head:
        raise StorageError(
            f"目标数据库结构版本 {current} 旧于程序的 {head}，请先对目标运行 gridgis db upgrade / the target's schema "
            f"({current}) is older than this gridgis ({head}): run `gridgis db upgrade` on the target first"
        )
    holding = [t.name for t in tables() if t.name not in CONFIG_TABLES and _count(conn, t)]
    if holding and not replace:
        raise StorageError(
            f"目标数据库已有数据（{', '.join(holding)}），如需覆盖请加 --replace / the target already holds data "
            f"({', '.join(holding)}): add --replace to overwrite it"
        )
    if is_postgresql(conn):  # no row triggers, no per-row work
        conn.exec_driver_sql("TRUNCATE " + ", ".join(t.name for t in tables()))
        return
    for table in reversed(tables()):
        conn.execute(table.delete())
    conn.execute(demand_counts.delete())  # the delete trigger re-adds (negative) rows for the deleted requests


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar())


def _read_chunks(conn: Connection, table: Table, chunk_rows: int) -> Iterator[list[tuple]]:
    """The table's rows as DB-API tuples, ``chunk_rows`` at a time (server-side cursor on PostgreSQL)."""
    q = select(*table.columns).order_by(*table.primary_key.columns)  # an index walk, no sort
    result = conn.execution_options(yield_per=chunk_rows).execute(q)  # yield_per streams on PostgreSQL
    try:
        for part in result.partitions():
            yield [tuple(row) for row in part]
    finally:
        result.close()


def _copy_table(sconn: Connection, dconn: Connection, table: Table, chunk_rows: int) -> int:
    cols = [c.name for c in table.columns]
    write = _writer(dconn, table.name, cols)
    n = 0
    if table is requests:  # batch by batch under the bulk key: the insert trigger skips them
        batch_at = cols.index("batch_id")
        by_batch = operator.itemgetter(batch_at)
        for rows in _read_chunks(sconn, table, chunk_rows):
            for batch_id, run in itertools.groupby(sorted(rows, key=by_batch), key=by_batch):
                _set_bulk_key(dconn, batch_id)
                n += write(list(run))
        dconn.execute(meta.delete().where(meta.c.key == BULK_KEY))
        return n
    for rows in _read_chunks(sconn, table, chunk_rows):
        n += write(rows)
    return n


def _set_bulk_key(conn: Connection, batch_id: str) -> None:
    conn.execute(meta.delete().where(meta.c.key == BULK_KEY))
    conn.execute(meta.insert().values(key=BULK_KEY, value=batch_id))


def _writer(conn: Connection, table: str, cols: list[str]) -> Callable[[list[tuple]], int]:
    if is_postgresql(conn):
        return lambda rows: copy_rows(conn, table, cols, rows)
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"

    def insert_many(rows: list[tuple]) -> int:
        conn.exec_driver_sql(sql, rows)
        return len(rows)

    return insert_many


def _fix_sequences(conn: Connection) -> None:
    """Move each serial id's sequence past the copied ids (the next new row must not collide)."""
    for table in tables():
        col = table.autoincrement_column
        if col is None:
            continue
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col.name}'), "
                f"COALESCE((SELECT MAX({col.name}) FROM {table.name}), 0) + 1, false)"
            )
        )


def _check_counts(conn: Connection, counts: dict[str, int]) -> None:
    """Every table of the target holds exactly the rows copied (before the commit)."""
    for table in tables():
        got = _count(conn, table)
        if got != counts[table.name]:
            raise StorageError(
                f"复制后 {table.name} 行数不符（{got} ≠ {counts[table.name]}），已回滚 / {table.name} holds {got} "
                f"rows after the copy, not {counts[table.name]}: rolled back"
            )
