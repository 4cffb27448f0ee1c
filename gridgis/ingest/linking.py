"""Repeat linking of an import: each stored row's ``duplicate_of``, against the rest of its file and the
stored requests of other batches in the same time window and area (:func:`gridgis.ingest.dedupe.find_duplicates`),
written inside the import's transaction with ``demand_counts`` kept right (:mod:`gridgis.storage.links`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
import pandas as pd

from gridgis.config import Settings
from gridgis.idsets import isin
from gridgis.ingest.dedupe import find_duplicates
from gridgis.storage import Store
from gridgis.storage.demand_counts import flush_deferred as flush_deferred_counts
from gridgis.storage.demand_counts import group_counts, take_deferred, utc_offset, write_counts
from gridgis.storage.links import set_duplicates as set_duplicates_uncounted
from gridgis.storage.sqlite_bulk import IndexHold
from gridgis.storage.sqlite_stage import Stage

COARSE_LEVELS = ("community", "street")


def _dedupe_input(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows placed only at a community/street centroid share one point: their place says nothing."""
    out = frame[["id", "category", "created_at", "lng", "lat", "text"]].copy()
    coarse = frame["geocode_level"].isin(COARSE_LEVELS).to_numpy()
    out.loc[coarse, ["lng", "lat"]] = np.nan
    return out


def link_duplicates(store: Store, settings: Settings, *, batch_id: str | None = None,
                    rows: pd.DataFrame | None = None, conn=None) -> pd.Series:
    """duplicate_of for a batch's rows (stored, or given as ``rows`` in a dry run), against each other
    and against stored requests of other batches in the same time window and area."""
    if rows is None:
        new = store.dedupe_rows(batch_id=batch_id, conn=conn)
    else:
        new = rows.assign(created_at=pd.to_datetime(rows["created_at"], unit="s", utc=True))
    if new.empty:
        return pd.Series([], dtype=object)
    return find_repeats(settings, new, known_rows(store, settings, new, batch_id, conn))


def known_rows(store: Store, settings: Settings, new: pd.DataFrame, batch_id: str | None, conn) -> pd.DataFrame:
    """Stored requests of other batches that ``new`` rows may repeat: same time window, area, categories."""
    win = pd.Timedelta(days=settings.duplicate_days)
    pad = settings.duplicate_radius_m / 90_000  # degrees; generous at any latitude in China
    t_min, t_max = new["created_at"].min() - win, new["created_at"].max()
    bbox = (new["lng"].min() - pad * 1.3, new["lat"].min() - pad, new["lng"].max() + pad * 1.3,
            new["lat"].max() + pad)
    existing = store.dedupe_rows(exclude_batch=batch_id, min_ts=int(t_min.timestamp()),
                                 max_ts=int(t_max.timestamp()), bbox=bbox,
                                 categories_=sorted(new["category"].unique()), conn=conn)
    existing = existing[~isin(existing["id"], new["id"])]
    return _dedupe_input(existing).assign(duplicate_of=existing["duplicate_of"]).reset_index(drop=True)


def find_repeats(settings: Settings, new: pd.DataFrame, known: pd.DataFrame) -> pd.Series:
    dup = find_duplicates(
        _dedupe_input(new), known,
        radius_m=settings.duplicate_radius_m, days=settings.duplicate_days,
        text_similarity=settings.duplicate_text_similarity,
    )
    return pd.Series(dup.to_numpy(dtype=object), index=new["id"].to_numpy())


class BatchRows:
    """What repeat linking needs of the rows an import stored or changed, kept as the chunks are written,
    so that it need not read the whole batch back. A chunk that mixes stored or changed rows with unchanged
    ones (which keep their old batch) makes the keeper give up: the batch is then read back instead."""

    COLUMNS = ("id", "category", "created_at", "lng", "lat", "text", "geocode_level")

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []
        self.complete = True

    def add(self, rows: pd.DataFrame, counts: tuple[int, int, int]) -> None:
        stored, updated, unchanged = counts
        if not self.complete or stored + updated == 0:
            return
        if unchanged:
            self.complete, self.parts = False, []
            return
        self.parts.append(pd.DataFrame({c: rows[c].copy() for c in self.COLUMNS}))  # not views of the chunk

    def frame(self) -> pd.DataFrame:
        """The kept rows as :meth:`Store.dedupe_rows` returns a batch (created_at as UTC datetimes)."""
        if not self.parts:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in self.COLUMNS})
        out = pd.concat(self.parts, ignore_index=True)
        out["created_at"] = pd.to_datetime(out["created_at"].to_numpy(dtype=np.int64), unit="s", utc=True)
        return out


def link_file_batch(store: Store, settings: Settings, batch_id: str, conn, kept: BatchRows, hold: IndexHold,
                     pool: ThreadPoolExecutor, stage: Stage | None = None) -> int:
    """Link a file's stored repeats (duplicate_of) inside its transaction; returns how many were linked.

    The writer thread copies the staged new rows into ``requests`` (``stage``, see
    :meth:`Store.request_stage`) and rebuilds the indexes set aside for the load (SQLite works without the
    GIL) while the repeats are computed here. On SQLite the new rows are then counted in ``demand_counts`` once,
    with their links (grouped here while the indexes rebuild), and the links written with the update
    trigger set aside; elsewhere the counts go in first and the links move them.
    """
    if not kept.complete:  # the batch is read back: its rows must be in the table first
        store.flush_stage(stage, batch_id, conn, indexed=not hold.held)
        new = store.dedupe_rows(batch_id=batch_id, conn=conn)
    else:
        new = kept.frame()
    known = known_rows(store, settings, new, batch_id, conn) if len(new) else None
    sqlite = hold.active
    uncounted = take_deferred(conn) if sqlite else None
    offset = utc_offset(conn) if uncounted is not None else 0

    def settle() -> None:  # before any row is updated: the rows, the indexes (elsewhere the new rows' counts)
        store.flush_stage(stage, batch_id, conn, indexed=not hold.held)
        if not sqlite:
            flush_deferred_counts(conn)
        hold.restore()

    restoring = pool.submit(settle)
    try:
        dup = find_repeats(settings, new, known) if len(new) else pd.Series([], dtype=object)
        linked = dup[dup.notna()]
        if uncounted is not None:
            first = uncounted["duplicate_of"].isna().to_numpy() & ~isin(uncounted["id"], linked.index)
            counts = group_counts(uncounted, offset, np.ones(len(uncounted), dtype=np.int64), first)
            fresh = isin(linked.index, uncounted["id"])
    finally:
        wait([restoring])
    restoring.result()
    if uncounted is None:
        store.set_duplicates(linked.index.tolist(), linked.tolist(), conn=conn)
        return len(linked)
    write_counts(conn, counts)
    set_duplicates_uncounted(conn, linked.index[fresh].tolist(), linked[fresh].tolist(), counted=False)
    store.set_duplicates(linked.index[~fresh].tolist(), linked[~fresh].tolist(), conn=conn)  # counted already
    return len(linked)


def link_batch(store: Store, settings: Settings, batch_id: str, conn) -> pd.Series:
    """Link a stored batch's repeats (duplicate_of) inside the writing transaction; returns the links."""
    dup = link_duplicates(store, settings, batch_id=batch_id, conn=conn)
    linked = dup[dup.notna()]
    store.set_duplicates(linked.index.tolist(), linked.tolist(), conn=conn)
    return linked
