"""Upkeep of ``demand_counts`` for bulk imports: the batch's new rows are added set-wise.

Migration 0002's triggers count every request insert/update/delete one row at a time. While
``gridgis_meta`` holds a batch id under :data:`BULK_KEY`, inserts of that batch skip the insert
trigger and the Store calls :func:`add_demand_counts` once per chunk instead (3 upserts per row
become one grouped upsert); a test checks both paths give the same table.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection

from gridgis.storage.pgcopy import copy_upsert
from gridgis.storage.schema import meta

BULK_KEY = "demand_counts_bulk_batch"
OFFSET_KEY = "demand_counts_utc_offset"
DEFAULT_OFFSET = 28_800
COARSE_MAX_RES = {"community": 8, "street": 7}  # finest resolution a coarse geocode is counted at
COLUMNS = ("level", "period", "cell_9", "category", "max_res", "cell_8", "cell_7", "requests", "firsts")


_DEFERRED = "gridgis_deferred_demand_counts"
_PARAM_ROWS = 100_000


@contextmanager
def deferred(conn: Connection) -> Iterator[None]:
    """Within: :func:`add_demand_counts` on ``conn`` keeps the rows, and :func:`flush_deferred` counts them
    all in one grouped upsert (a big import's chunks share many day/month/year rows: fewer upserts).
    Rows still kept on leaving are counted then; on an error they are dropped with the transaction."""
    if _DEFERRED in conn.info:
        yield
        return
    conn.info[_DEFERRED] = []
    ok = False
    try:
        yield
        ok = True
    finally:
        if ok:
            flush_deferred(conn)
        conn.info.pop(_DEFERRED, None)


def flush_deferred(conn: Connection) -> None:
    """Count the rows kept so far under :func:`deferred` (call before updating any of them)."""
    rows = take_deferred(conn)
    if rows is not None:
        _upsert(conn, rows, np.ones(len(rows), dtype=np.int64), rows["duplicate_of"].isna().to_numpy(dtype=np.int64))


def take_deferred(conn: Connection) -> pd.DataFrame | None:
    """The rows kept so far under :func:`deferred` (id, created_at, cells, category, geocode_level,
    duplicate_of), taken out: the caller counts them (:func:`group_counts`, :func:`write_counts`), e.g.
    after linking their repeats, so that each row is counted once with its final ``duplicate_of``."""
    kept = conn.info.get(_DEFERRED)
    if not kept:
        return None
    rows = pd.concat(kept, ignore_index=True)
    kept.clear()
    return rows


def add_demand_counts(conn: Connection, rows: pd.DataFrame) -> None:
    """Add new requests to ``demand_counts`` (local day, month and year rows), as the insert trigger
    of migration 0002 would, with one grouped upsert.

    Grouped in numpy (sort + run boundaries) and written in primary-key order, so that the upsert walks
    the table's B-tree forwards instead of jumping around it. Inside :func:`deferred` the rows are only
    kept (the columns counted) until :func:`flush_deferred`.
    """
    rows = rows[rows["cell_9"].notna()]
    if rows.empty:
        return
    kept = conn.info.get(_DEFERRED)
    if kept is not None:  # own compact copies: a column view would keep the whole chunk alive
        kept.append(pd.DataFrame({
            "id": rows["id"].to_numpy(dtype=object, copy=True),
            **{c: rows[c].to_numpy(dtype=np.int64, copy=True) for c in ("created_at", "cell_9", "cell_8", "cell_7")},
            **{c: rows[c].astype("str").reset_index(drop=True) for c in ("category", "geocode_level")},
            "duplicate_of": np.where(rows["duplicate_of"].isna().to_numpy(), None, "-"),
        }))
        return
    _upsert(conn, rows, np.ones(len(rows), dtype=np.int64), rows["duplicate_of"].isna().to_numpy(dtype=np.int64))


def move_firsts(conn: Connection, rows: pd.DataFrame, was_first: np.ndarray, is_first: np.ndarray) -> None:
    """Requests whose ``duplicate_of`` was set or cleared set-wise (the update trigger set aside): move
    their ``firsts`` in one grouped upsert, as the trigger would have row by row (``requests`` stay)."""
    delta = np.asarray(is_first, dtype=np.int64) - np.asarray(was_first, dtype=np.int64)
    keep = (delta != 0) & rows["cell_9"].notna().to_numpy()
    if keep.any():
        flush_deferred(conn)  # rows still waiting to be counted go first
        _upsert(conn, rows[keep], np.zeros(int(keep.sum()), dtype=np.int64), delta[keep])


def _upsert(conn: Connection, rows: pd.DataFrame, requests_w: np.ndarray, firsts_w: np.ndarray) -> None:
    """Add ``requests_w`` / ``firsts_w`` (one weight per row) to the day, month and year rows of ``rows``."""
    write_counts(conn, group_counts(rows, utc_offset(conn), requests_w, firsts_w))


def utc_offset(conn: Connection) -> int:
    """Seconds added to UTC epoch times to get the local days, months and years that are counted."""
    offset = conn.execute(select(meta.c.value).where(meta.c.key == OFFSET_KEY)).scalar()
    return int(offset if offset is not None else DEFAULT_OFFSET)


def group_counts(rows: pd.DataFrame, offset: int, requests_w: np.ndarray, firsts_w: np.ndarray) -> list[np.ndarray]:
    """The ``demand_counts`` rows (:data:`COLUMNS`, one array each) that add ``requests_w`` / ``firsts_w``
    (a weight per row) to the local day, month and year of each of ``rows`` — grouped in numpy (sort + run
    boundaries), in primary-key order so that the upsert walks the table's B-tree forwards. No database:
    it can run while the connection does something else."""
    loc = rows["created_at"].to_numpy(dtype=np.int64) + int(offset)
    wall = pd.DatetimeIndex(pd.to_datetime(loc, unit="s"))
    cat_codes, cat_names = pd.factorize(rows["category"].to_numpy(dtype=object), use_na_sentinel=False)
    # rank of each category name in SQLite's BINARY order (code points, as UTF-8 bytes sort)
    rank = np.empty(len(cat_names), dtype=np.int64)
    rank[sorted(range(len(cat_names)), key=lambda i: (cat_names[i] is None, str(cat_names[i])))] = np.arange(
        len(cat_names))
    cat = rank[cat_codes]
    names_by_rank = np.empty(len(cat_names), dtype=object)
    names_by_rank[rank] = cat_names
    cell_9 = rows["cell_9"].to_numpy(dtype=np.int64)
    cell_8 = rows["cell_8"].to_numpy(dtype=np.int64)
    cell_7 = rows["cell_7"].to_numpy(dtype=np.int64)
    max_res = rows["geocode_level"].map(COARSE_MAX_RES).fillna(15).to_numpy(dtype=np.int64)
    requests_w, firsts_w = np.asarray(requests_w, dtype=np.int64), np.asarray(firsts_w, dtype=np.int64)
    periods = {"D": loc // 86400, "M": (wall.year * 12 + wall.month - 1).to_numpy(), "Y": wall.year.to_numpy()}
    out: dict[str, list] = {c: [] for c in COLUMNS}
    for level, period in periods.items():  # "D" < "M" < "Y": levels come out in key order too
        period = period.astype(np.int64)
        order = np.lexsort((max_res, cat, cell_9, period))
        keys = [k[order] for k in (period, cell_9, cat, max_res)]
        start = np.flatnonzero(np.r_[True, np.any([k[1:] != k[:-1] for k in keys], axis=0)])
        out["level"].append(np.full(len(start), level, dtype=object))
        out["period"].append(keys[0][start])
        out["cell_9"].append(keys[1][start])
        out["category"].append(names_by_rank[keys[2][start]])
        out["max_res"].append(keys[3][start])
        out["cell_8"].append(np.minimum.reduceat(cell_8[order], start))
        out["cell_7"].append(np.minimum.reduceat(cell_7[order], start))
        out["requests"].append(np.add.reduceat(requests_w[order], start))
        out["firsts"].append(np.add.reduceat(firsts_w[order], start))
    return [np.concatenate(out[c]) for c in COLUMNS]


def write_counts(conn: Connection, columns: list[np.ndarray]) -> None:
    """Upsert :func:`group_counts`' rows into ``demand_counts`` (adding to rows already there)."""
    if not len(columns[0]):
        return
    params = itertools.chain.from_iterable(  # rows as tuples, a bounded slice at a time (memory)
        zip(*(c[i : i + _PARAM_ROWS].tolist() for c in columns), strict=True)
        for i in range(0, len(columns[0]), _PARAM_ROWS)
    )
    conflict = (
        "ON CONFLICT (level, period, cell_9, category, max_res) DO UPDATE SET "
        "requests = demand_counts.requests + excluded.requests, firsts = demand_counts.firsts + excluded.firsts"
    )
    if conn.dialect.name == "postgresql":  # COPY to a staging table + one set-wise upsert (gridgis.storage.pgcopy)
        copy_upsert(conn, "demand_counts", COLUMNS, params, conflict)
        return
    ph = ", ".join(["?" if conn.dialect.paramstyle == "qmark" else "%s"] * len(COLUMNS))
    sql = f"INSERT INTO demand_counts ({', '.join(COLUMNS)}) VALUES ({ph}) {conflict}"
    while batch := list(itertools.islice(params, _PARAM_ROWS)):
        conn.exec_driver_sql(sql, batch)
