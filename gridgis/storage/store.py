"""The storage contract: one Store over SQLAlchemy Core, the same for SQLite and PostgreSQL callers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pandas as pd
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from gridgis.errors import NotFoundError, StorageError
from gridgis.storage import migrate
from gridgis.storage.engine import check_connection, make_engine, safe_url
from gridgis.storage.epochs import from_epoch_seconds, now_ts, to_epoch_seconds
from gridgis.storage.frames import result_frame
from gridgis.storage.import_store import REQUEST_COLUMNS, ImportStoreMixin
from gridgis.storage.postgis import is_postgresql
from gridgis.storage.request_store import RequestStoreMixin
from gridgis.storage.schema import (
    categories,
    cell_households,
    grids,
    ingest_batches,
    meta,
    rejects,
    request_events,
    requests,
    zone_history,
)
from gridgis.storage.token_store import TokenStoreMixin
from gridgis.storage.user_store import UserStoreMixin
from gridgis.storage.zone_store import ZoneStoreMixin

__all__ = ["REQUEST_COLUMNS", "Store", "from_epoch_seconds", "now_ts", "to_epoch_seconds"]


class Store(ImportStoreMixin, ZoneStoreMixin, TokenStoreMixin, RequestStoreMixin, UserStoreMixin):
    """All reads and writes of gridgis data. Construct with :func:`open_store` or ``Store(engine)``."""

    def __init__(self, engine: Engine, *, check_schema: bool = True) -> None:
        self.engine = engine
        self.url = safe_url(engine.url.render_as_string(hide_password=False))
        if check_schema:
            self.check_schema()

    # -- connection and schema --------------------------------------------------------------------------

    @classmethod
    def from_url(cls, url: str, *, create: bool = False) -> Store:
        engine = make_engine(url)
        if create:
            check_connection(engine)
            try:
                migrate.upgrade(engine)
            except SQLAlchemyError as exc:
                raise StorageError(
                    f"无法初始化数据库 / cannot initialise the database at {safe_url(url)}: {exc}"
                ) from exc
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def check_schema(self) -> None:
        try:
            current = migrate.current_revision(self.engine)
        except OperationalError as exc:
            raise StorageError(f"无法连接数据库 / cannot connect to the database at {self.url}: {exc.orig}") from exc
        head = migrate.head_revision()
        if current is None:
            raise StorageError(
                f"数据库尚未初始化，请运行 gridgis db init / the database at {self.url} has no gridgis schema: "
                "run `gridgis db init`"
            )
        if current != head:
            raise StorageError(
                f"数据库结构版本 {current} 旧于程序的 {head}，请运行 gridgis db upgrade / the database schema "
                f"({current}) is older than this gridgis ({head}): run `gridgis db upgrade`"
            )

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read transaction: every query in it sees the same snapshot (SQLite's WAL read transaction;
        REPEATABLE READ on PostgreSQL, whose default gives each statement its own)."""
        try:
            with self.engine.connect() as conn:
                if is_postgresql(conn):
                    conn.execution_options(isolation_level="REPEATABLE READ")
                yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"数据库读取失败 / database read failed: {exc}") from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction: everything inside is committed together or not at all."""
        try:
            with self.engine.connect() as conn:
                conn.info["gridgis_write"] = True
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"数据库写入失败，本批未保存 / database write failed, batch not stored: {exc}") from exc

    @contextmanager
    def bulk_write(self, conn: Connection, cache_mib: int = 128) -> Iterator[None]:
        """A bigger page cache (SQLite) for one large import: index upkeep of a table that outgrows the
        default cache otherwise dominates the import time. Restored afterwards (pooled connections)."""
        if conn.dialect.name != "sqlite":
            yield
            return
        before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        conn.exec_driver_sql(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")
        try:
            yield
        finally:
            conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")

    def close(self) -> None:
        self.engine.dispose()

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self.read() as conn:
            v = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
        return default if v is None else v

    def set_meta(self, key: str, value: str, conn: Connection | None = None) -> None:
        def _do(c: Connection) -> None:
            c.execute(delete(meta).where(meta.c.key == key))
            c.execute(insert(meta).values(key=key, value=value))

        if conn is not None:
            _do(conn)
        else:
            with self.write() as c:
                _do(c)

    @contextmanager
    def _using(self, conn: Connection | None, write: bool = False) -> Iterator[Connection]:
        """The caller's connection (inside its transaction) or a fresh one."""
        if conn is not None:
            yield conn
        else:
            with self.write() if write else self.read() as c:
                yield c

    def count_requests(self) -> int:
        with self.read() as conn:
            return int(conn.execute(select(func.count()).select_from(requests)).scalar())

    def requests_frame(
        self, columns: Sequence[str] | None = None, where=None, limit: int | None = None, offset: int = 0, order_by=None
    ) -> pd.DataFrame:
        """Requests as a DataFrame (times as tz-aware UTC). ``where`` is a SQLAlchemy clause on ``requests``."""
        cols = [requests.c[c] for c in (columns or REQUEST_COLUMNS)]
        q = select(*cols)
        if where is not None:
            q = q.where(where)
        q = q.order_by(*(order_by if order_by is not None else [requests.c.created_at, requests.c.id]))
        if limit is not None:
            q = q.limit(limit).offset(offset)
        with self.read() as conn:
            df = result_frame(conn.execute(q), [c.name for c in cols])
        for t in ("created_at", "ingested_at", "updated_at"):
            if t in df.columns:
                df[t] = from_epoch_seconds(df[t].to_numpy(dtype="int64"))
        return df

    def get_request(self, request_id: str) -> dict:
        with self.read() as conn:
            row = conn.execute(select(requests).where(requests.c.id == request_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"找不到诉求 / request not found: {request_id}", field="id")
        return dict(row)

    def rejects_frame(self, batch_id: str | None = None) -> pd.DataFrame:
        q = select(rejects).order_by(rejects.c.id)
        if batch_id:
            q = q.where(rejects.c.batch_id == batch_id)
        with self.read() as conn:
            return result_frame(conn.execute(q), [c.name for c in rejects.columns])

    # -- grids and categories ---------------------------------------------------------------------------

    def replace_grids(self, frame: pd.DataFrame) -> int:
        """Replace (upsert by grid_code) grid polygons; ``frame`` has the ``grids`` columns."""
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        with self.write() as conn:
            conn.execute(delete(grids).where(grids.c.grid_code.in_([r["grid_code"] for r in records])))
            if records:
                conn.execute(insert(grids), records)
        return len(records)

    def grids_frame(self) -> pd.DataFrame:
        with self.read() as conn:
            return result_frame(
                conn.execute(select(grids).order_by(grids.c.grid_code)), [c.name for c in grids.columns]
            )

    def sync_categories(self, rows: Sequence[dict]) -> None:
        with self.write() as conn:
            conn.execute(delete(categories))
            if rows:
                conn.execute(insert(categories), list(rows))

    def categories_frame(self) -> pd.DataFrame:
        with self.read() as conn:
            return result_frame(
                conn.execute(select(categories).order_by(categories.c.position)), [c.name for c in categories.columns]
            )

    def summary(self) -> dict:
        """Counts for the status page and `gridgis db status`."""
        with self.read() as conn:
            n = conn.execute(select(func.count()).select_from(requests)).scalar()
            by_cat = dict(conn.execute(select(requests.c.category, func.count()).group_by(requests.c.category)
                                       .order_by(requests.c.category)).all())  # same order on every backend
            span = conn.execute(select(func.min(requests.c.created_at), func.max(requests.c.created_at))).one()
            n_dup = conn.execute(
                select(func.count()).select_from(requests).where(requests.c.duplicate_of.is_not(None))
            ).scalar()
            n_grids = conn.execute(select(func.count()).select_from(grids)).scalar()
            n_rej = conn.execute(select(func.count()).select_from(rejects)).scalar()
            n_batches = conn.execute(select(func.count()).select_from(ingest_batches)).scalar()
        return {
            "requests": int(n),
            "duplicates": int(n_dup),
            "by_category": {k: int(v) for k, v in by_cat.items()},
            "first": None if span[0] is None else pd.Timestamp(span[0], unit="s", tz="UTC").isoformat(),
            "last": None if span[1] is None else pd.Timestamp(span[1], unit="s", tz="UTC").isoformat(),
            "grids": int(n_grids),
            "rejects": int(n_rej),
            "batches": int(n_batches),
        }

    def data_version(self) -> tuple[str, int]:
        """(token, last-change epoch seconds) that change whenever requests, grids, categories or zones do.

        One query over small tables and indexed columns (~0.1 ms at 1 M requests, where a row count would
        cost ~6 ms), so the web layer can check it on every call for ETag/Last-Modified. Requests change
        only through ingest batches, which the batch count and times capture, and workflow status changes,
        each of which appends a ``request_events`` row.
        """
        parts = [
            select(func.count()).select_from(ingest_batches),
            select(func.max(ingest_batches.c.started_at)),
            select(func.max(ingest_batches.c.finished_at)),
            select(func.max(requests.c.created_at)),
            select(func.count()).select_from(zone_history),
            select(func.max(zone_history.c.changed_at)),
            select(func.count()).select_from(grids),
            select(func.max(grids.c.imported_at)),
            select(func.count()).select_from(categories),
            select(func.max(categories.c.color)),
            select(func.count()).select_from(cell_households),
            select(func.max(cell_households.c.updated_at)),
            select(func.max(request_events.c.id)),  # workflow status changes (never deleted)
            select(func.max(request_events.c.at)),
        ]
        with self.read() as conn:
            v = conn.execute(select(*(p.scalar_subquery() for p in parts))).one()
        token = "-".join("" if x is None else str(x) for x in v)
        times = [int(x) for x in (v[1], v[2], v[5], v[7], v[11], v[13]) if x is not None]
        return token, max(times, default=0)
