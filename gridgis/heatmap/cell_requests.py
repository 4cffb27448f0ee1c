"""The requests and households behind a set of H3 cells, filtered exactly as aggregate() counts them.

Used to describe a few cells (a project candidate) without loading every request: the queries go
through the cell index with ``cell IN (…)`` in chunks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import and_, func, select

from gridgis import grid
from gridgis.heatmap.demand_query import COARSE_MAX_RES, cell_expr
from gridgis.heatmap.filters import Filters
from gridgis.storage.schema import cell_households, requests

if TYPE_CHECKING:
    from gridgis.storage.store import Store

IN_CHUNK = 5_000


def requests_in_cells(store: Store, f: Filters, cat: str, cells: np.ndarray, res: int, fine: int) -> pd.DataFrame:
    """The requests of category ``cat`` in ``cells`` (at ``res``; ``fine`` is the stored resolution) that
    ``f`` (checked filters) selects: id, cell (at res), created_at (UTC), text, grid_code, first (first
    report of its issue), in time order."""
    r = requests
    col = cell_expr(r, res, fine)
    conds = [r.c.category == cat]
    if f.since is not None:
        conds.append(r.c.created_at >= int(np.floor(f.since.timestamp())))
    if f.until is not None:
        conds.append(r.c.created_at < int(np.ceil(f.until.timestamp())))
    for c, values in ((r.c.request_type, f.request_types), (r.c.status, f.statuses), (r.c.grid_code, f.grids)):
        if values:
            conds.append(c.in_(values))
    coarse = [level for level, finest in COARSE_MAX_RES.items() if finest < res]
    if coarse:  # as aggregate(): a centroid fallback says nothing about a cell this fine
        conds.append(r.c.geocode_level.not_in(coarse))
    if f.collapse_duplicates:
        conds.append(r.c.duplicate_of.is_(None))
    ids = np.sort(cells).astype(np.int64).tolist()
    cols = ["id", "cell", "created_at", "text", "grid_code", "duplicate_of", "lng", "lat"]
    frames = [store.requests_frame(cols, where=and_(*conds, col.in_(ids[i:i + IN_CHUNK])))
              for i in range(0, len(ids), IN_CHUNK)]
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if f.zone is not None and len(df):
        df = df[shapely.intersects_xy(f.zone, df["lng"].to_numpy(float), df["lat"].to_numpy(float))]
    return member_rows(df, res, fine)


def member_rows(df: pd.DataFrame, res: int, fine: int) -> pd.DataFrame:
    """Request rows (id, cell at ``fine``, created_at, text, grid_code, duplicate_of) in the shape candidates
    use, whichever engine read them: ordered by time then id, cells at ``res``, ``first`` = not a repeat."""
    df = df.sort_values(["created_at", "id"], kind="stable").reset_index(drop=True)
    fine_cells = df["cell"].to_numpy(np.int64).astype(np.uint64)
    return pd.DataFrame({
        "id": pd.array(df["id"].to_numpy(object), dtype="str"),
        "cell": grid.cells_to_parent(fine_cells, res) if res < fine else fine_cells,
        "created_at": df["created_at"],
        "text": pd.array(df["text"].to_numpy(object), dtype="str"),
        "grid_code": pd.array(df["grid_code"].to_numpy(object), dtype="str"),
        "first": df["duplicate_of"].isna().to_numpy(bool),
    })


def households_in_cells(store: Store, cells: np.ndarray, res: int, fine: int) -> pd.Series | None:
    """Households per cell at ``res`` for the given cells; None when ``cell_households`` is empty."""
    h = cell_households
    col = cell_expr(h, res, fine)
    with store.read() as conn:
        if not conn.execute(select(func.count()).select_from(h)).scalar():
            return None
        ids = np.unique(cells).astype(np.int64).tolist()
        rows = []
        for i in range(0, len(ids), IN_CHUNK):
            q = select(col, func.sum(h.c.households)).where(col.in_(ids[i:i + IN_CHUNK])).group_by(col)
            rows += conn.execute(q).all()
    return pd.Series({np.uint64(c): float(v) for c, v in rows}, dtype=float)
