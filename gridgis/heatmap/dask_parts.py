"""What each dask partition of a request archive computes: selected rows and partial demand sums, in pandas.

Dask workers run these functions on one part file at a time. They import only numpy, pandas, shapely,
:mod:`gridgis.grid` and :mod:`gridgis.heatmap.periods`, and get the checked filters as plain values
(:class:`Selection`), so a worker starts quickly and needs nothing of the store. The rules are those of
:func:`gridgis.heatmap.aggregate.aggregate`: ``since`` inclusive, ``until`` exclusive; a zone holds a
request when its exact point is inside (boundary included); a request placed at a community or street
centroid counts only at the coarse resolutions its point supports, otherwise as "unplaced".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gridgis import grid
from gridgis.heatmap import periods


@dataclass(frozen=True)
class Selection:
    """Which archive rows a query takes: the checked filters as plain values (times in epoch seconds)."""

    since: int | None = None
    until: int | None = None
    categories: tuple[str, ...] = ()
    request_types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    grids: tuple[str, ...] = ()
    zone: shapely.Geometry | None = None
    collapse_duplicates: bool = False

    def columns(self) -> list[str]:
        """The archive columns the selection reads besides ``created_at``."""
        cols = [c for c, v in (("category", self.categories), ("request_type", self.request_types),
                               ("status", self.statuses), ("grid_code", self.grids)) if v]
        return cols + (["lng", "lat"] if self.zone is not None else [])


@dataclass(frozen=True)
class CountSpec:
    """What :func:`partition_counts` counts: cells at ``res`` (``fine`` stored), per category and local
    ``bucket`` when asked, over ``ranges`` ([lo, hi) epoch seconds: the period, then optionally the one it
    is compared with); requests at ``coarse`` geocode levels are unplaced at this resolution."""

    res: int
    fine: int
    by_category: bool
    bucket: str | None
    tz: str
    ranges: tuple[tuple[int, int], ...]
    sel: Selection
    coarse: tuple[str, ...]

    @property
    def keys(self) -> list[str]:
        return ["period", "cell", *(["category"] if self.by_category else []), *(["tkey"] if self.bucket else [])]


def cell_column(res: int, fine: int) -> str:
    """The archive column holding the cell at ``res`` (``cell`` when the parent must be computed)."""
    return f"cell_{res}" if res < fine and res in (7, 8, 9) else "cell"


def cells_at(pdf: pd.DataFrame, res: int, fine: int) -> np.ndarray:
    """int64 cells at ``res`` of archive (or households) rows."""
    col = cell_column(res, fine)
    cells = pdf[col].to_numpy(np.int64)
    if col == "cell" and res < fine:
        cells = grid.cells_to_parent(cells.astype(np.uint64), res).astype(np.int64)
    return cells


def epoch_seconds(created_at: pd.Series) -> np.ndarray:
    """tz-aware UTC times → int64 epoch seconds."""
    return created_at.dt.as_unit("s").astype("int64").to_numpy() if len(created_at) else np.empty(0, np.int64)


def selected(pdf: pd.DataFrame, sel: Selection, keep: np.ndarray) -> np.ndarray:
    """``keep`` narrowed by the category/type/status/grid filters and the zone (the exact points)."""
    for col, values in (("category", sel.categories), ("request_type", sel.request_types),
                        ("status", sel.statuses), ("grid_code", sel.grids)):
        if values:
            keep &= pdf[col].isin(values).to_numpy(bool)
    if sel.zone is not None and keep.any():
        idx = np.flatnonzero(keep)
        inside = shapely.intersects_xy(sel.zone, pdf["lng"].to_numpy(float)[idx], pdf["lat"].to_numpy(float)[idx])
        keep[idx[~inside]] = False
    return keep


def partition_counts(pdf: pd.DataFrame, spec: CountSpec) -> pd.DataFrame:
    """One partition's sums (period, cell, [category], [tkey], n, f): n requests, f first reports of their
    issue. Period 0 is the counted period, 1 the compared one; cell 0 holds period 0's unplaced requests."""
    t = epoch_seconds(pdf["created_at"])
    period = np.full(len(pdf), -1, dtype=np.int64)
    for i, (lo, hi) in reversed(list(enumerate(spec.ranges))):
        period[(t >= lo) & (t < hi)] = i
    keep = selected(pdf, spec.sel, period >= 0)
    cells = cells_at(pdf, spec.res, spec.fine)
    if spec.coarse:
        unplaced = pdf["geocode_level"].isin(spec.coarse).to_numpy(bool)
        cells = np.where(unplaced, 0, cells)
        keep &= ~unplaced | (period == 0)
    out = {"period": period[keep], "cell": cells[keep]}
    if spec.by_category:
        out["category"] = pdf["category"].to_numpy(object)[keep]
    if spec.bucket:
        days = periods.local_days_of_epochs(t[keep], spec.tz)
        out["tkey"] = np.asarray(periods.bucket_of_day(days, spec.bucket), dtype=np.int64)
    out["n"] = np.ones(int(keep.sum()), dtype=np.int64)
    out["f"] = pdf["duplicate_of"].isna().to_numpy(bool)[keep].astype(np.int64)
    return pd.DataFrame(out).groupby(spec.keys, sort=False, as_index=False)[["n", "f"]].sum()


ROW_COLUMNS = ["id", "cell", "created_at", "text", "grid_code", "duplicate_of"]


def partition_rows(pdf: pd.DataFrame, sel: Selection, cat: str, cells: np.ndarray, res: int, fine: int,
                   coarse: tuple[str, ...]) -> pd.DataFrame:
    """The rows of category ``cat`` in ``cells`` (int64, at ``res``) that ``sel`` takes (:data:`ROW_COLUMNS`),
    as :func:`gridgis.heatmap.cell_requests.requests_in_cells` picks them."""
    t = epoch_seconds(pdf["created_at"])
    keep = pdf["category"].to_numpy(object) == cat
    if sel.since is not None:
        keep &= t >= sel.since
    if sel.until is not None:
        keep &= t < sel.until
    if coarse:
        keep &= ~pdf["geocode_level"].isin(coarse).to_numpy(bool)
    if sel.collapse_duplicates:
        keep &= pdf["duplicate_of"].isna().to_numpy(bool)
    keep &= np.isin(cells_at(pdf, res, fine), cells)
    keep = selected(pdf, sel, keep)  # cat is one of sel.categories (when any): that test changes nothing
    return pdf.loc[keep, ROW_COLUMNS]
