"""The storage contract: one Store over SQLAlchemy Core, the same for SQLite and PostgreSQL callers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from gridgis.errors import NotFoundError, StorageError
from gridgis.models import RowProblem
from gridgis.storage import migrate
from gridgis.storage.demand_counts import BULK_KEY, add_demand_counts
from gridgis.storage.engine import check_connection, make_engine, safe_url
from gridgis.storage.frames import _column_lists, result_frame
from gridgis.storage.links import set_duplicates as set_duplicates_setwise
from gridgis.storage.pgcopy import copy_frame
from gridgis.storage.pgcopy import stored_hashes as pg_stored_hashes
from gridgis.storage.postgis import bbox_condition, is_postgresql
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
from gridgis.storage.sqlite_bulk import insert_rows, stored_hashes
from gridgis.storage.sqlite_stage import Stage, staged
from gridgis.storage.token_store import TokenStoreMixin
from gridgis.storage.user_store import UserStoreMixin
from gridgis.storage.zone_store import ZoneStoreMixin

# Columns an import writes; the workflow's own columns (status_changed_at) are left to gridgis.workflow.
_WORKFLOW_COLUMNS = ("status_changed_at",)
REQUEST_COLUMNS: tuple[str, ...] = tuple(c.name for c in requests.columns if c.name not in _WORKFLOW_COLUMNS)
# demand_counts upkeep (see migration 0002): the meta keys and the coarse-geocode resolution limits
_UPDATABLE = tuple(c for c in REQUEST_COLUMNS if c not in ("id", "ingested_at"))
_ID_CHUNK = 5_000


def now_ts() -> int:
    return int(time.time())


def to_epoch_seconds(values: pd.Series) -> np.ndarray:
    """tz-aware datetimes → int64 UTC epoch seconds."""
    return values.dt.tz_convert("UTC").dt.as_unit("s").astype("int64").to_numpy()


def from_epoch_seconds(values, tz: str = "UTC") -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="int64"), unit="s", utc=True).dt.tz_convert(tz)


class Store(ZoneStoreMixin, TokenStoreMixin, RequestStoreMixin, UserStoreMixin):
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

    # -- ingest batches ---------------------------------------------------------------------------------

    def insert_batch(
        self,
        file_name: str,
        file_sha256: str | None,
        source: str,
        options: dict,
        conn: Connection | None = None,
        status: str = "running",
    ) -> str:
        batch_id = uuid.uuid4().hex
        with self._using(conn, write=True) as c:
            c.execute(
                insert(ingest_batches).values(
                    id=batch_id,
                    file_name=file_name,
                    file_sha256=file_sha256,
                    source=source,
                    started_at=now_ts(),
                    status=status,
                    rows_read=0,
                    rows_stored=0,
                    rows_updated=0,
                    rows_rejected=0,
                    options=json.dumps(options, ensure_ascii=False, default=str),
                )
            )
        return batch_id

    def finish_batch(
        self, batch_id: str, report: dict, status: str = "committed", conn: Connection | None = None
    ) -> None:
        with self._using(conn, write=True) as c:
            c.execute(
                update(ingest_batches)
                .where(ingest_batches.c.id == batch_id)
                .values(
                    finished_at=now_ts(),
                    status=status,
                    rows_read=report.get("read", 0),
                    rows_stored=report.get("stored", 0),
                    rows_updated=report.get("updated", 0),
                    rows_rejected=report.get("rejected", 0),
                    report=json.dumps(report, ensure_ascii=False, default=str),
                )
            )

    def batches(self) -> pd.DataFrame:
        with self.read() as conn:
            rows = conn.execute(select(ingest_batches).order_by(ingest_batches.c.started_at)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in ingest_batches.columns])

    # -- requests ---------------------------------------------------------------------------------------

    def existing_hashes(self, ids: Sequence[str], conn: Connection | None = None) -> dict[str, str]:
        """id → content_hash for those of ``ids`` already stored."""
        out: dict[str, str] = {}
        ids = list(ids)
        with self._using(conn) as c:
            if c.dialect.name == "sqlite" and (found := stored_hashes(c, ids)) is not None:
                return found  # one JSON array parameter: no SQL compiled per id
            if is_postgresql(c):  # one text[] parameter (= ANY), likewise
                return pg_stored_hashes(c, ids)
            for i in range(0, len(ids), _ID_CHUNK):
                part = ids[i : i + _ID_CHUNK]
                q = select(requests.c.id, requests.c.content_hash).where(requests.c.id.in_(part))
                out.update(c.execute(q).cursor.fetchall())
        return out

    def source_is_new(self, source: str, conn: Connection) -> bool:
        """True when no stored request id starts with ``source:`` (SQLite: one probe of the primary key,
        whose BINARY order puts them all between ``source:`` and ``source;``). False on other backends,
        whose collation may not order ids that way."""
        if conn.dialect.name != "sqlite":
            return False
        q = "SELECT 1 FROM requests WHERE id >= ? AND id < ? LIMIT 1"
        return conn.exec_driver_sql(q, (f"{source}:", f"{source};")).first() is None

    def classify_changes(self, rows: pd.DataFrame, conn: Connection | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Masks (new, changed) of ``rows`` against what is stored; the rest are unchanged."""
        known = self.existing_hashes(rows["id"].tolist(), conn) if len(rows) else {}
        prior = rows["id"].map(known)
        new_mask = prior.isna().to_numpy()
        changed_mask = (~new_mask) & (prior.to_numpy(dtype=object) != rows["content_hash"].to_numpy(dtype=object))
        return new_mask, changed_mask

    def request_stage(self, conn: Connection):
        """A context manager giving a :class:`~gridgis.storage.sqlite_stage.Stage` for new request rows of a big
        import on ``conn`` (SQLite; None elsewhere): pass it to :meth:`upsert_requests`, then
        :meth:`flush_stage` before the rows are read or linked."""
        return staged(conn, "requests", REQUEST_COLUMNS)

    def flush_stage(self, stage: Stage | None, batch_id: str, conn: Connection, *, indexed: bool = True) -> int:
        """Copy the staged rows into ``requests`` (their counts were added as they were staged). ``indexed``:
        the table's secondary indexes are in place, so the rows go in by cell: the two cell indexes, the
        ones a big table's random keys hit, then take them in key order (month 12 of a 10 M-row year:
        copy 31.5 → 23.8 s); other indexes get this file's new keys at their ends. Without the indexes
        (set aside for a load bigger than the table), in file order."""
        if stage is None or stage.flushed:
            return 0
        self.set_meta(BULK_KEY, batch_id, conn=conn)  # the insert trigger must not count them again
        n = stage.flush(("cell", "created_at") if indexed else ())
        conn.execute(delete(meta).where(meta.c.key == BULK_KEY))
        return n

    def upsert_requests(
        self, batch_id: str, rows: pd.DataFrame, conn: Connection | None = None, *, all_new: bool = False,
        stage: Stage | None = None,
    ) -> tuple[int, int, int]:
        """Insert new and update changed request rows. Returns (stored, updated, unchanged).

        ``rows`` holds :data:`REQUEST_COLUMNS` except batch_id/ingested_at/updated_at. Rows whose content hash
        equals the stored one are left alone, so re-importing a file changes nothing. ``all_new``: the caller
        knows none of the ids is stored (see :meth:`source_is_new`): the lookup is skipped (a stored one
        would still be refused by the primary key, failing the transaction). ``stage``: new rows are staged
        there (see :meth:`request_stage`) and reach the table at :meth:`flush_stage`.
        """
        ts = now_ts()
        with self._using(conn, write=True) as c:
            if all_new:
                new_mask, changed_mask = np.ones(len(rows), dtype=bool), np.zeros(len(rows), dtype=bool)
            else:
                new_mask, changed_mask = self.classify_changes(rows, c)
            for mask, upsert in ((new_mask, False), (changed_mask, True)):
                if mask.any():
                    todo = rows[mask].copy()
                    todo["batch_id"] = batch_id
                    todo["ingested_at"] = ts
                    todo["updated_at"] = ts
                    if upsert:  # rare: the update trigger moves their counts; app statuses kept (request_store)
                        self._upsert_changed_requests(c, todo, batch_id, ts)
                        continue
                    # New rows: their counts are added set-wise, not by the per-row insert trigger.
                    if stage is None or not stage.add(todo):
                        self.set_meta(BULK_KEY, batch_id, conn=c)
                        self._insert_requests(c, todo, upsert=False)
                        c.execute(delete(meta).where(meta.c.key == BULK_KEY))
                    add_demand_counts(c, todo)
        n_new, n_changed = int(new_mask.sum()), int(changed_mask.sum())
        return n_new, n_changed, int(len(rows) - n_new - n_changed)

    def insert_rejects(self, batch_id: str, problems: Iterable[RowProblem], conn: Connection | None = None) -> None:
        records = [
            {
                "batch_id": batch_id,
                "line": p.line,
                "field": p.field,
                "value": p.value,
                "reason": p.reason,
                "raw": json.dumps(p.raw, ensure_ascii=False, default=str) if p.raw else None,
            }
            for p in problems
        ]
        if records:
            with self._using(conn, write=True) as c:
                c.execute(insert(rejects), records)

    def _insert_requests(self, conn: Connection, frame: pd.DataFrame, *, upsert: bool) -> None:
        """Bulk INSERT through the driver's executemany (a plain insert for new ids is the fast path);
        new rows on PostgreSQL go through COPY instead (gridgis.storage.pgcopy)."""
        cols = REQUEST_COLUMNS
        if not upsert and is_postgresql(conn):
            copy_frame(conn, "requests", frame, cols)
            return
        if not upsert and conn.dialect.name == "sqlite":  # constants as literals, columns converted at once
            insert_rows(conn, "requests", frame, cols)
            return
        style = conn.dialect.paramstyle
        ph = ", ".join(["?"] * len(cols)) if style == "qmark" else ", ".join(["%s"] * len(cols))
        sql = f"INSERT INTO requests ({', '.join(cols)}) VALUES ({ph})"
        if upsert:
            sets = ", ".join(f"{c} = excluded.{c}" for c in _UPDATABLE)
            sql += f" ON CONFLICT (id) DO UPDATE SET {sets}"
        params = list(zip(*_column_lists(frame, cols), strict=True))
        conn.exec_driver_sql(sql, params)

    def dedupe_rows(
        self,
        *,
        batch_id: str | None = None,
        exclude_batch: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        categories_: Sequence[str] | None = None,
        conn: Connection | None = None,
    ) -> pd.DataFrame:
        """Rows as duplicate detection needs them: id, category, created_at (UTC), lng, lat, text,
        duplicate_of, geocode_level; either one batch's rows or stored rows in a window around it."""
        q = select(
            requests.c.id,
            requests.c.category,
            requests.c.created_at,
            requests.c.lng,
            requests.c.lat,
            requests.c.text,
            requests.c.duplicate_of,
            requests.c.geocode_level,
        )
        if batch_id is not None:
            q = q.where(requests.c.batch_id == batch_id)
        if exclude_batch is not None:
            q = q.where(requests.c.batch_id != exclude_batch)
        if min_ts is not None and max_ts is not None:
            q = q.where(requests.c.created_at.between(min_ts, max_ts))
        if bbox is not None:
            q = q.where(bbox_condition(requests, bbox, conn or self.engine))  # PostGIS on PostgreSQL
        if categories_ is not None:
            q = q.where(requests.c.category.in_(list(categories_)))
        names = ["id", "category", "created_at", "lng", "lat", "text", "duplicate_of", "geocode_level"]
        with self._using(conn) as c:
            df = result_frame(c.execute(q), names)
        df["created_at"] = from_epoch_seconds(df["created_at"].to_numpy(dtype="int64"))
        return df

    def set_duplicates(self, ids: Sequence[str], roots: Sequence[str | None], conn: Connection | None = None) -> None:
        """Set ``duplicate_of`` of the given requests (None clears it)."""
        if len(ids) == 0:
            return
        style = "?" if (conn or self.engine).dialect.paramstyle == "qmark" else "%s"
        sql = f"UPDATE requests SET duplicate_of = {style} WHERE id = {style}"
        with self._using(conn, write=True) as c:
            if set_duplicates_setwise(c, ids, roots):
                return  # many rows: their demand counts moved set-wise
            c.exec_driver_sql(sql, list(zip(roots, ids, strict=True)))

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
