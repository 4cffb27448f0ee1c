"""New rows of a big SQLite import staged through ADBC, then copied into their table in one statement.

``sqlite3``'s executemany binds every parameter of every row in Python, holding the GIL: an import's
writer thread and its preparation of the next chunk then take turns on one core. ADBC's SQLite driver
(Apache Arrow) binds an Arrow table's columns in C with the GIL released. :class:`Stage` writes each
chunk's new rows that way into a scratch SQLite file (no journal, no fsync: it is thrown away), and
:meth:`Stage.flush` copies them into the table with one ``INSERT … SELECT`` on the import's own
connection, inside its transaction (SQLite runs it in C, GIL released too).

Atomicity is the import's: the scratch file holds no state of the database, the copy is part of the
import's transaction, and a failure or a kill before the commit leaves the table as it was (a killed
import's scratch file is deleted by the next import, which holds the write lock when it looks).
Values are stored as :func:`gridgis.storage.sqlite_bulk.insert_rows` stores them (NaN floats as NULL).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
from sqlalchemy.engine import Connection

from gridgis.storage.sqlite_bulk import _quote

log = logging.getLogger(__name__)

SUFFIX = ".gridgis-stage"
SCHEMA = "gridgis_stage"  # the name the scratch file is attached under
TABLE = "rows"
ATTACHED = "gridgis_stage_attached"  # connection info key: the path of the stage attached to it


def _arrow_column(col: pd.Series) -> pa.Array | None:
    """One column as an Arrow array that ADBC's SQLite driver binds as SQLite would store the value
    (int64, float64 with NaN as NULL, UTF-8 string, NULL); None for anything else (mixed Python types,
    datetimes…): the chunk is then inserted the plain way."""
    try:
        arr = pa.array(col.array if isinstance(col.dtype, pd.api.extensions.ExtensionDtype) else col.to_numpy(),
                       from_pandas=True)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        t = arr.type
        if pa.types.is_null(t):
            return pa.nulls(len(arr), pa.string())
        if pa.types.is_boolean(t) or pa.types.is_integer(t):
            return arr.cast(pa.int64())  # safe cast: a uint64 beyond int64 raises (then the plain way)
        if pa.types.is_floating(t):
            return arr.cast(pa.float64())
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return arr.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError,
            OverflowError):
        return None
    return None


class Stage:
    """Scratch rows for one table of one import; see the module docstring. Use :func:`staged`."""

    def __init__(self, conn: Connection, table: str, columns: Sequence[str], path: Path) -> None:
        import adbc_driver_sqlite.dbapi as adbc

        self.conn, self.table, self.columns, self.path = conn, table, tuple(columns), path
        self._db = adbc.connect(str(path), autocommit=True)
        with self._db.cursor() as cur:
            cur.execute("PRAGMA journal_mode=OFF")
            cur.execute("PRAGMA synchronous=OFF")
        self.rows = 0
        self.flushed = False
        self.copy_s = 0.0  # seconds spent copying into the table

    def add(self, frame: pd.DataFrame) -> bool:
        """Stage ``frame``'s rows (in the calling thread, GIL released while ADBC binds them); False when a
        column cannot be held as one Arrow type: then insert those rows another way."""
        if self.flushed:
            raise RuntimeError("rows staged after the stage was flushed")
        if frame.empty:
            return True
        arrays = []
        for name in self.columns:
            arr = _arrow_column(frame[name])
            if arr is None:
                log.debug("column %s of a chunk not staged (%s): inserted directly", name, frame[name].dtype)
                return False
            arrays.append(arr)
        with self._db.cursor() as cur:
            cur.adbc_ingest(TABLE, pa.Table.from_arrays(arrays, names=list(self.columns)),
                            mode="append" if self.rows else "create")
        self.rows += len(frame)
        return True

    def flush(self, order: Sequence[str] = ()) -> int:
        """Copy the staged rows into the table on the import's connection (inside its transaction), in the
        order they were staged or by the columns ``order``; returns how many. Called once, after the last
        :meth:`add`; later calls copy nothing."""
        if self.flushed:
            return 0
        self.flushed = True
        self._db.close()
        if not self.rows:
            return 0
        self.conn.exec_driver_sql(f"ATTACH DATABASE ? AS {SCHEMA}", (str(self.path),))
        self.conn.info[ATTACHED] = str(self.path)  # detached by release() when the connection is checked in
        cols = ", ".join(_quote(n) for n in self.columns)
        t0 = time.perf_counter()
        self.conn.exec_driver_sql(
            f"INSERT INTO {_quote(self.table)} ({cols}) SELECT {cols} FROM {SCHEMA}.{TABLE} "
            f"ORDER BY {', '.join(_quote(c) for c in order) if order else 'rowid'}")
        self.copy_s = time.perf_counter() - t0
        return self.rows

    def close(self) -> None:
        """Drop the scratch file. Once attached, it stays attached to the import's connection until that
        connection goes back to the pool (SQLite keeps a file the transaction read until it ends):
        :func:`release` detaches it there."""
        with contextlib.suppress(Exception):
            self._db.close()
        with contextlib.suppress(OSError):  # an attached file on Windows: removed by release() or the next import
            self.path.unlink(missing_ok=True)


def release(dbapi_conn, record) -> None:
    """Pool ``checkin`` listener (SQLite engines): detach and delete a flushed stage. The connection is
    back from its transaction here, so DETACH is allowed."""
    path = record.info.pop(ATTACHED, None)
    if path is None:
        return
    with contextlib.suppress(Exception):
        dbapi_conn.execute(f"DETACH DATABASE {SCHEMA}")
    with contextlib.suppress(OSError):
        Path(path).unlink(missing_ok=True)


def _folder(conn: Connection) -> tuple[Path, str]:
    db = conn.engine.url.database
    if db and db != ":memory:" and not db.startswith("file:"):
        p = Path(db).expanduser().resolve()
        return p.parent, p.name
    import tempfile

    return Path(tempfile.gettempdir()), ""  # an in-memory database: a unique scratch name, nothing to clean


def new_stage(conn: Connection, table: str, columns: Sequence[str]) -> Stage:
    """A stage beside the database file. Call inside the import's write transaction: the write lock is
    held, so any scratch file of this database already there was left by a killed import; it is removed."""
    folder, name = _folder(conn)
    for old in folder.glob(f".{name}.*{SUFFIX}") if name else ():
        log.warning("removing the scratch file of an unfinished import: %s", old)
        with contextlib.suppress(OSError):
            old.unlink()
    scratch = f".{name or 'gridgis-memory'}.{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
    return Stage(conn, table, columns, folder / scratch)


@contextlib.contextmanager
def staged(conn: Connection, table: str, columns: Sequence[str]) -> Iterator[Stage | None]:
    """A :class:`Stage` for an import on ``conn`` (SQLite; None elsewhere). Rows staged but not flushed when
    the block ends are not written (the caller flushes before its transaction commits)."""
    if conn.dialect.name != "sqlite":
        yield None
        return
    stage = new_stage(conn, table, columns)
    try:
        yield stage
    finally:
        stage.close()

