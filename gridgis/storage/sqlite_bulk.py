"""Big imports into SQLite: secondary indexes and the per-row insert trigger set aside, rebuilt at the end.

Keeping five secondary B-trees of ``requests`` up to date row by row costs more than building them once
from sorted data, once an import adds at least as many rows as the table had. :class:`IndexHold`
drops them (and migration 0002's ``demand_counts_insert`` trigger, which a bulk import skips anyway)
inside the import's own write transaction and recreates them from their stored SQL before it commits.
SQLite's DDL is transactional: a failure or a kill anywhere rolls the drop back with the rows, so the
database is never left without its indexes, and readers (WAL) see the old snapshot until the commit.
Unique indexes are kept (they enforce something while rows go in). PostgreSQL is left alone.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

TABLE = "requests"
# The insert trigger only counts rows of other batches (see gridgis.storage.demand_counts.BULK_KEY):
# an import's own rows are counted set-wise, so while its rows go in the trigger has nothing to do.
INSERT_TRIGGERS = ("demand_counts_insert",)
# Below this many rows written by the import, index upkeep is cheap: nothing is set aside.
MIN_ROWS = 20_000


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class IndexHold:
    """Set aside the secondary indexes of ``requests`` once an import is big relative to the table.

    Call :meth:`wrote` after each written chunk with its count of new rows, and :meth:`restore` once
    the rows are in (before anything reads through those indexes or updates rows the trigger would
    count). Both run on the import's connection inside its transaction.
    """

    def __init__(self, conn: Connection, *, min_rows: int | None = None) -> None:
        self.conn = conn
        self.active = conn.dialect.name == "sqlite"
        self.min_rows = int(MIN_ROWS if min_rows is None else min_rows)
        self.written = 0
        self.dropped: list[tuple[str, str, str]] = []  # (type, name, sql) in the order found
        self.rebuild_s = 0.0
        self.before = 0
        if self.active:
            # max(rowid) is an O(log n) stand-in for the row count (rowids only grow while rows are added).
            self.before = int(conn.exec_driver_sql(f"SELECT coalesce(max(rowid), 0) FROM {TABLE}").scalar())

    @property
    def held(self) -> bool:
        return bool(self.dropped)

    def wrote(self, n_new: int) -> None:
        """Count new rows; set the indexes aside when the import has outgrown the table it started with."""
        self.written += int(n_new)
        if self.active and not self.dropped and self.written >= max(self.min_rows, self.before):
            self._drop()

    def _drop(self) -> None:
        found = self.conn.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
            "AND ((type = 'index' AND sql NOT LIKE 'CREATE UNIQUE%') OR (type = 'trigger' AND name IN ({})))"
            .format(", ".join("?" * len(INSERT_TRIGGERS))),
            (TABLE, *INSERT_TRIGGERS),
        ).fetchall()
        for kind, name, sql in found:
            self.conn.exec_driver_sql(f"DROP {kind.upper()} {_quote(name)}")
            self.dropped.append((kind, name, sql))
        log.debug("bulk load: set aside %s after %d new rows (table had ~%d)",
                  [n for _, n, _ in self.dropped], self.written, self.before)

    def restore(self) -> None:
        """Recreate what was set aside (indexes built from the table, sorted); idempotent."""
        if not self.dropped:
            return
        t0 = time.perf_counter()
        while self.dropped:
            self.conn.exec_driver_sql(self.dropped[0][2])
            self.dropped.pop(0)
        self.rebuild_s += time.perf_counter() - t0


def _literal(value) -> str:
    """An SQL literal for a constant column value (SQLite): NULL, an integer or a quoted string."""
    if value is None:
        return "NULL"
    if isinstance(value, bool | np.bool_ | int | np.integer):
        return str(int(value))
    text = str(value)
    if "\x00" in text:
        raise ValueError("NUL in a constant column")
    return "'" + text.replace("'", "''") + "'"


def _constant(col: pd.Series):
    """(True, value) when every value of ``col`` is the same (missing counts as None), else (False, None)."""
    if col.dtype.kind == "f":
        return False, None  # floats go as parameters: repr() round trips, but keep them exact and simple
    first = col.iloc[0]
    if not pd.api.types.is_scalar(first):
        return False, None
    if pd.isna(first):
        return (True, None) if bool(col.isna().all()) else (False, None)
    if col.dtype.kind in "iub":
        return (True, first) if bool((col.to_numpy() == first).all()) else (False, None)
    if isinstance(col.dtype, pd.StringDtype) or col.dtype == object:
        if isinstance(first, str) and bool(col.eq(first).fillna(False).all()):
            return True, first
    return False, None


def _param_list(col: pd.Series) -> list:
    """One column as a list of Python values for sqlite3, None for missing (NaN floats bind as NULL)."""
    kind = col.dtype.kind
    if kind in "iu" and isinstance(col.dtype, np.dtype):  # nullable (masked) integers: the object path below
        return col.tolist()
    if kind == "f":
        return col.to_numpy(dtype=np.float64).tolist()
    if isinstance(col.dtype, pd.StringDtype):
        return col.to_numpy(dtype=object, na_value=None).tolist()
    arr = np.array(col.to_numpy(dtype=object), dtype=object, copy=True)
    missing = pd.isna(arr)
    if missing.any():
        arr[missing] = None
    return arr.tolist()


def insert_rows(conn: Connection, table: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """INSERT ``frame``'s ``columns`` into ``table`` (SQLite) through one executemany.

    Columns holding one value for every row (source, batch, import time, …) are written as SQL literals
    rather than bound per row, and the others are converted column-wise, straight to Python values:
    sqlite3 binds each parameter of each row while holding the GIL, so fewer and cheaper parameters
    is what makes the insert fast. NaN floats are bound as they are: SQLite stores them as NULL.
    """
    if frame.empty:
        return
    values, bound, lists = [], [], []
    for name in columns:
        col = frame[name]
        const, value = _constant(col) if len(frame) > 1 else (False, None)
        if const:
            try:
                values.append(_literal(value))
                continue
            except ValueError:
                pass
        values.append("?")
        bound.append(name)
        lists.append(_param_list(col))
    sql = f"INSERT INTO {_quote(table)} ({', '.join(_quote(c) for c in columns)}) VALUES ({', '.join(values)})"
    if lists:
        conn.exec_driver_sql(sql, list(zip(*lists, strict=True)))
    else:  # every column constant: as many identical rows as the frame has
        conn.exec_driver_sql(sql, [()] * len(frame))


def stored_hashes(conn: Connection, ids: Sequence[str]) -> dict[str, str] | None:
    """id → content_hash for those of ``ids`` in ``requests`` (SQLite): the ids go in as one JSON array,
    looked up one by one through the primary key, instead of thousands of bound IN parameters.
    None when an id holds a NUL character (JSON would carry it as an escape): bind those instead."""
    if not len(ids):
        return {}
    payload = json.dumps(list(ids), ensure_ascii=False)
    if "\\u0000" in payload:
        return None
    sql = f"SELECT r.id, r.content_hash FROM json_each(?) AS j JOIN {TABLE} AS r ON r.id = j.value"
    return dict(conn.exec_driver_sql(sql, (payload,)).fetchall())

