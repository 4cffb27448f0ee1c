"""numberMatched of the requests collection: exact where it is cheap to know, left out where it is not.

OGC API – Features Part 1 (/req/core/fc-numberMatched): if ``numberMatched`` is given it must be the exact
number of matching features, and "a server MAY omit this information in a response, if the information
about the number of matching features is not known or difficult to compute". An exact ``COUNT(*)`` over
a large view reads every matching index entry (≈ 0.3 s for half a city of 1,000,000 requests), so:

- **Time and category** (any interval, one category) are counted from ``demand_counts`` — per local
  day/month/year and res-9 cell, kept in step with ``requests`` by triggers — as totals per res-9 cell
  (:func:`cell9_totals`; the service keeps them per data version and filter). Interval ends inside a
  day are counted on ``requests`` (:func:`gridgis.heatmap.periods.plan_range`).
- **bbox** (:func:`bbox_matched`): res-9 cells whose every fine cell matches add their totals; only the
  band of fine cells along the box's edge is counted on ``requests`` (cell index). The cells are those
  the page listed (:mod:`gridgis.ogcapi.box_cells`). A request matches by
  its *published* point: its fine cell's centre when points are snapped, else the exact point.
- **Other property filters** (request_type, status, grid_code, geocode_level, source) are not in the
  counts table: a count capped at about two pages of rows (:func:`count_cap`, :func:`capped_count`);
  above it numberMatched is left out and clients follow the ``next`` links. When the page itself shows
  the total is far above the cap (its rows took a small share of the query's time:
  :func:`clearly_over`), numberMatched is left out without counting.
- A page shorter than ``limit`` tells the count for free (the service uses it before any of these).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sqlalchemy import and_, func, literal_column, or_, select

from gridgis.heatmap import periods
from gridgis.ogcapi import box_cells
from gridgis.storage.schema import demand_counts, meta
from gridgis.storage.schema import requests as req_t
from gridgis.storage.store import Store

COUNT_CAP = 10_000
"""Largest count read row by row for filters the counts table does not hold (above it: omitted)."""
MIN_CAP = 1_000
COUNTED_FILTERS = frozenset({"category"})
"""Property filters ``demand_counts`` can answer."""
OFFSET_KEY = "demand_counts_utc_offset"  # as migration 0002: the counts table's local day = UTC + offset
DEFAULT_OFFSET = 28_800
_IN_CHUNK = 10_000  # bound parameters per IN list


@dataclass(frozen=True)
class CellTotals:
    """Matching requests per res-9 cell (sorted, positive counts only) and those without a cell."""

    cells: np.ndarray
    counts: np.ndarray
    no_cell: int

    @property
    def total(self) -> int:
        return int(self.counts.sum()) + self.no_cell


def countable(filters: tuple[tuple[str, object], ...], fine: int) -> bool:
    """Whether numberMatched of these property filters comes from the counts table (res-9 cells exist)."""
    return fine >= 10 and len(filters) <= 1 and all(name in COUNTED_FILTERS for name, _ in filters)


def _category(filters) -> str | None:
    return next((str(v) for name, v in filters if name == "category"), None)


def cell9_totals(store: Store, time: tuple[int | None, int | None] | None, filters,
                 span: tuple[int, int] | None) -> CellTotals:
    """Requests per res-9 cell over ``time`` ([lo, hi) epoch seconds, open ends allowed) with the category
    filter, from ``demand_counts`` plus the partial days at the ends from ``requests``. ``span`` is the
    (first, last) created_at of the data (open ends stop there)."""
    d, r = demand_counts, req_t.c
    category = _category(filters)
    raw_conds: list | None = []
    if time is not None:
        lo, hi = time
        lo = span[0] if lo is None and span else lo
        hi = span[1] + 1 if hi is None and span else hi
        raw_conds = [r.created_at >= lo, r.created_at < hi] if lo is not None and hi is not None else None
    cells, counts = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    no_cell = 0
    with store.read() as conn:  # one snapshot
        pieces = []  # (sign, query, on requests)
        if time is None:
            pieces.append((1, select(d.c.cell_9, func.sum(d.c.requests)).where(d.c.level == "Y"), False))
        elif raw_conds is not None and lo < hi:
            value = conn.execute(select(meta.c.value).where(meta.c.key == OFFSET_KEY)).scalar()
            offset = int(value) if value is not None else DEFAULT_OFFSET
            for sign, p in periods.plan_range(int(lo), int(hi), offset, ("D", "M", "Y")):
                if p.level == "raw":  # less than a day at an end: from requests
                    pieces.append((sign, select(r.cell_9, func.count()).where(
                        r.created_at >= p.lo, r.created_at < p.hi, r.cell_9.is_not(None)), True))
                else:
                    period = d.c.period == p.lo if p.hi == p.lo + 1 else and_(d.c.period >= p.lo, d.c.period < p.hi)
                    pieces.append((sign, select(d.c.cell_9, func.sum(d.c.requests)).where(
                        d.c.level == p.level, period), False))
        for sign, q, on_requests in pieces:
            if category is not None:
                q = q.where((r.category if on_requests else d.c.category) == category)
            rows = conn.execute(q.group_by(r.cell_9 if on_requests else d.c.cell_9)).all()
            if rows:
                c, n = zip(*rows, strict=True)  # numpy would probe each Row for the array protocol
                cells.append(np.array(c, dtype=np.int64))
                counts.append(sign * np.array(n, dtype=np.int64))
        if raw_conds is not None:
            # Grouped rather than filtered by category: the planner then reads the (cell_9, created_at)
            # index, where the rows without a cell are few, not the category's rows of the whole period.
            q = select(r.category, func.count()).where(r.cell_9.is_(None), *raw_conds).group_by(r.category)
            no_cell = sum(int(n) for c, n in conn.execute(q).all() if category is None or c == category)
    allc, alln = np.concatenate(cells), np.concatenate(counts)
    uniq, inv = np.unique(allc, return_inverse=True)
    sums = np.bincount(inv, weights=alln, minlength=uniq.size).astype(np.int64) if uniq.size else alln
    keep = sums > 0
    return CellTotals(uniq[keep].astype(np.uint64), sums[keep], no_cell)


def bbox_matched(store: Store, totals: CellTotals, boxes: list[tuple[float, float, float, float]], fine: int,
                 snapped: bool, base, cells: box_cells.BoxCells | None = None) -> int:
    """Requests matching ``base`` (the time/category condition ``totals`` were counted with) whose
    published point lies in one of ``boxes`` (CRS84, already cut to the data's extent); ``cells`` their
    :func:`gridgis.ogcapi.box_cells.box_cells` when already listed."""
    if not boxes:
        return 0
    cells = box_cells.box_cells(boxes, fine, snapped) if cells is None else cells
    n = int(totals.counts[np.isin(totals.cells, cells.covered)].sum())
    if not cells.band.size:
        return n
    r = req_t.c
    exact = or_(*[and_(r.lng.between(x0, x1), r.lat.between(y0, y1)) for x0, y0, x1, y1 in boxes]) \
        if cells.exact else None
    ids = cells.band.astype(np.int64).tolist()
    with store.read() as conn:
        for i in range(0, len(ids), _IN_CHUNK):
            conds = [c for c in (base, exact, r.cell.in_(ids[i:i + _IN_CHUNK])) if c is not None]
            n += int(conn.execute(select(func.count()).select_from(req_t).where(*conds)).scalar())
    return n


def count_cap(limit: int) -> int:
    """How many matching rows a capped count may read for a page of ``limit``: about two pages' worth
    (at least :data:`MIN_CAP`, at most :data:`COUNT_CAP`). Without an index for the filter, finding N
    matching rows costs about N ÷ (the filter's share of the rows) row reads: the count then costs
    about what the page itself did, however rare the matches."""
    return min(COUNT_CAP, max(MIN_CAP, 2 * (int(limit) + 1)))


def clearly_over(found: int, share: float, cap: int) -> bool:
    """Whether ``found`` matching rows in a ``share`` (0–1] of the time the query spans put the total clearly
    above ``cap``: even the low end of ``found`` (3 standard deviations of a Poisson count below it), at the
    same rate over all of that time, exceeds it. A capped count would then read cap + 1 rows only to learn
    that — about twice what the page read, and without an index for the filter each costs a table read —
    so numberMatched is left out at once. (Matches crowded into the start of the query's time could be
    left uncounted where the capped count would have reached them; OGC allows leaving it out.)"""
    if found <= 0 or share <= 0:
        return False
    return (found - 3 * math.sqrt(found)) / share > cap


def capped_count(store: Store, where, cap: int | None = None) -> int | None:
    """COUNT of the rows matching ``where`` if at most ``cap`` (default :data:`COUNT_CAP`), else None
    (reads at most cap + 1 rows)."""
    cap = COUNT_CAP if cap is None else cap
    inner = select(literal_column("1")).select_from(req_t).limit(cap + 1)
    if where is not None:
        inner = inner.where(where)
    with store.read() as conn:
        n = int(conn.execute(select(func.count()).select_from(inner.subquery())).scalar())
    return n if n <= cap else None
