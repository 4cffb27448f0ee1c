"""Store methods of an import: its batch record, new and changed request rows (COPY on PostgreSQL, a bulk
insert or an ADBC stage on SQLite, ``demand_counts`` kept set-wise), rejects, and the rows repeat linking reads
and writes. Mixed into :class:`gridgis.storage.store.Store`, whose ``_using``/``set_meta`` it uses."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from gridgis.models import RowProblem
from gridgis.storage.demand_counts import BULK_KEY, add_demand_counts
from gridgis.storage.epochs import from_epoch_seconds, now_ts
from gridgis.storage.frames import _column_lists, result_frame
from gridgis.storage.links import set_duplicates as set_duplicates_setwise
from gridgis.storage.pgcopy import copy_frame
from gridgis.storage.pgcopy import stored_hashes as pg_stored_hashes
from gridgis.storage.postgis import bbox_condition, is_postgresql
from gridgis.storage.schema import ingest_batches, meta, rejects, requests
from gridgis.storage.sqlite_bulk import insert_rows, stored_hashes
from gridgis.storage.sqlite_stage import Stage, staged

# Columns an import writes; the workflow's own columns (status_changed_at) are left to gridgis.workflow.
_WORKFLOW_COLUMNS = ("status_changed_at",)
REQUEST_COLUMNS: tuple[str, ...] = tuple(c.name for c in requests.columns if c.name not in _WORKFLOW_COLUMNS)
_UPDATABLE = tuple(c for c in REQUEST_COLUMNS if c not in ("id", "ingested_at"))
_ID_CHUNK = 5_000


class ImportStoreMixin:
    """Writes of an import (and the reads repeat linking needs), inside the caller's transaction."""

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
