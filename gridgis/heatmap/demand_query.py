"""SQL that counts requests per cell × category × bucket, from ``demand_counts`` or from ``requests``.

One :class:`DemandQuery` per call of :func:`gridgis.heatmap.aggregate.aggregate`; its
:meth:`~DemandQuery.count` covers one time range. SQLAlchemy Core only (SQLite and PostgreSQL);
constants that appear in both SELECT and GROUP BY are inlined so both backends see the same text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import case, func, literal_column, or_, select, union_all

from gridgis.heatmap import periods
from gridgis.heatmap.filters import Filters
from gridgis.storage.demand_counts import COARSE_MAX_RES  # finest resolution a coarse geocode is counted at
from gridgis.storage.postgis import intersects_condition, is_postgresql
from gridgis.storage.schema import cell_households, demand_counts, requests

_SMALL_IN = 500  # fetch households for these cells only when the result is small
_FETCH_BLOCK = 1_024


def const(value):
    """An inline SQL constant (ints and our own level names only): identical text in SELECT and GROUP BY."""
    if isinstance(value, str):
        return literal_column("'" + value.replace("'", "''") + "'")
    return literal_column(f"({int(value)})")


def cell_expr(table, res: int, fine: int):
    """The cell at ``res`` of rows of ``requests`` or ``cell_households`` (stored column or bit parent)."""
    if res == fine:
        return table.c.cell
    if res < fine and res in (7, 8, 9):
        return table.c[f"cell_{res}"]
    # Parent by bit operations, as grid.cells_to_parent: clear the resolution and the finer digits.
    unused = (1 << (3 * (15 - res))) - 1
    keep = ~((0xF << 52) | unused)
    return table.c.cell.op("&")(const(keep)).op("|")(const((res << 52) | unused))


@dataclass
class DemandQuery:
    """How to count one aggregation: resolution, filters, keys and where the counts come from."""

    res: int
    fine: int
    f: Filters
    by_category: bool
    bucket: str | None
    tz: str
    offset: int | None  # the zone's fixed UTC offset over the whole span, or None
    use_counts: bool
    zone: tuple[dict[int, np.ndarray], np.ndarray] | None

    @property
    def keys(self) -> list[str]:
        return ["cell", *(["category"] if self.by_category else []), *(["tkey"] if self.bucket else [])]

    @property
    def n_col(self) -> str:
        return "f" if self.f.collapse_duplicates else "n"

    # -- requests
    def _conds(self, lo: int, hi: int) -> list:
        r, f = requests, self.f
        conds = [r.c.created_at >= lo, r.c.created_at < hi]
        for col, values in ((r.c.category, f.categories), (r.c.request_type, f.request_types),
                            (r.c.status, f.statuses), (r.c.grid_code, f.grids)):
            if values:
                conds.append(col.in_(values))
        return conds

    def _coarse(self) -> list:
        return [const(k) for k, v in COARSE_MAX_RES.items() if v < self.res]

    def _requests_tkey(self):
        """Time key of request rows over a whole range: the bucket itself, or a local day (fixed offset)
        or UTC quarter-hour (zones with daylight saving) that is mapped to the bucket afterwards."""
        if self.offset is None:
            return requests.c.created_at // const(periods.QUARTER_HOUR_S), "quarter"
        day = (requests.c.created_at + const(self.offset)) // const(periods.DAY_S)
        if self.bucket == "day":
            return day, None
        if self.bucket == "week":
            return (day + const(periods.WEEK_SHIFT)) // const(7), None
        return day, "day"

    def _select_requests(self, lo: int, hi: int, tkey=None, where=None, sign: int = 1, points: bool = False):
        r = requests
        cell = cell_expr(r, self.res, self.fine)
        groups = [cell, *([r.c.category] if self.by_category else []), *([tkey] if self.bucket else [])]
        cols = [g.label(k) for g, k in zip(groups, self.keys, strict=True)]
        first = case((r.c.duplicate_of.is_(None), 1), else_=0)
        conds = self._conds(lo, hi)
        coarse = self._coarse()
        if where is not None:
            conds.append(where)
        if points:  # zone boundary rows, one per request, tested in Python
            placed = case((r.c.geocode_level.in_(coarse), 0), else_=1) if coarse else const(1)
            return select(*cols, const(1).label("n"), first.label("f"), placed.label("placed"), r.c.lng,
                          r.c.lat).where(*conds)
        if coarse:
            conds.append(r.c.geocode_level.not_in(coarse))
        return select(*cols, (func.count() * const(sign)).label("n"), (func.sum(first) * const(sign)).label("f")
                      ).where(*conds).group_by(*[g for g in groups if not _is_literal(g)])

    def _unplaced_requests(self, lo: int, hi: int, sign: int = 1, where=None):
        coarse = self._coarse()
        if not coarse:
            return None
        r = requests
        first = case((r.c.duplicate_of.is_(None), 1), else_=0)
        conds = [*self._conds(lo, hi), r.c.geocode_level.in_(coarse), *([where] if where is not None else [])]
        return select((func.count() * const(sign)).label("n"), (func.sum(first) * const(sign)).label("f")).where(*conds)

    # -- demand_counts
    def _select_counts(self, p: periods.Piece, sign: int, unplaced: bool = False):
        d = demand_counts
        cell = d.c[f"cell_{self.res}"]
        conds = [d.c.level == p.level]
        # One period as an equality: SQLite then reads the rows in key order and groups without sorting.
        conds += [d.c.period == p.lo] if p.hi == p.lo + 1 else [d.c.period >= p.lo, d.c.period < p.hi]
        conds.append(d.c.max_res < self.res if unplaced else d.c.max_res >= self.res)
        if self.f.categories:
            conds.append(d.c.category.in_(self.f.categories))
        n, f = (func.sum(d.c.requests) * const(sign)).label("n"), (func.sum(d.c.firsts) * const(sign)).label("f")
        if unplaced:
            return select(n, f).where(*conds)
        if self.bucket is None:
            tkey = None
        elif p.level == "M" or (p.level == "D" and self.bucket == "day"):
            tkey = d.c.period
        elif self.bucket == "week":
            tkey = (d.c.period + const(periods.WEEK_SHIFT)) // const(7)
        else:  # a D piece lies in one month
            tkey = const(int(periods.month_of_day(p.lo)))
        groups = [cell, *([d.c.category] if self.by_category else []), *([tkey] if self.bucket else [])]
        cols = [g.label(k) for g, k in zip(groups, self.keys, strict=True)]
        if self.res == 9 and self.by_category and p.hi == p.lo + 1 and max(COARSE_MAX_RES.values()) < 9:
            # Rows of one period are unique per (cell_9, category, max_res) and only max_res 15 is placed
            # at res 9, so they need no grouping (the most common city-wide query; half the time).
            return select(*cols, (d.c.requests * const(sign)).label("n"), (d.c.firsts * const(sign)).label("f")
                          ).where(*conds)
        return select(*cols, n, f).where(*conds).group_by(*[g for g in groups if not _is_literal(g)])

    # -- one period
    def count(self, conn, lo: int, hi: int, unplaced: bool = True) -> tuple[pd.DataFrame, int]:
        """Rows (cell, [category], [tkey], requests, issues) with requests > 0 over [lo, hi), sorted,
        and (when asked) the number of requests left out as too coarsely placed."""
        keys = self.keys
        if self.use_counts:
            levels = {None: ("D", "M", "Y"), "month": ("D", "M")}.get(self.bucket, ("D",))
            plan = periods.plan_range(lo, hi, self.offset, levels, cut_months=self.bucket == "month")
            sels, lost = [], []
            for sign, p in plan:
                if p.level == "raw":
                    day = (p.lo + self.offset) // periods.DAY_S
                    key = None if self.bucket is None else const(int(periods.bucket_of_day(day, self.bucket)))
                    sels.append(self._select_requests(p.lo, p.hi, key, sign=sign))
                    lost.append(self._unplaced_requests(p.lo, p.hi, sign))
                else:
                    sels.append(self._select_counts(p, sign))
                    lost.append(self._select_counts(p, sign, unplaced=True))
            names = [*keys, "n", "f"]
            cols = fetch_columns(conn, self._combined(sels), names) if sels else _empty_columns(names)
            lost = [q for q in lost if q is not None] if unplaced else []
            return self._final(cols), _sum_unplaced(conn, lost, self.n_col)
        tkey, mapping = self._requests_tkey() if self.bucket else (None, None)
        where, frames, n_lost = None, [], 0
        if self.f.zone is not None and is_postgresql(conn):  # PostGIS: exact points through the GiST index
            where = intersects_condition(requests, self.f.zone)
        elif self.zone is not None:
            inner, crossed = self.zone
            where = or_(*[cell_expr(requests, r, self.fine).in_(c.astype(np.int64).tolist())
                          for r, c in inner.items()]) if inner else const(0) == const(1)
            if crossed.size:
                edge, n_lost = self._boundary(conn, lo, hi, tkey, crossed)
                frames.append(edge)
        sel = self._select_requests(lo, hi, tkey, where)
        if mapping is None and not frames:
            cols = fetch_columns(conn, self._combined([sel]), [*keys, "n", "f"])
        else:
            frames.append(pd.DataFrame(fetch_columns(conn, sel, [*keys, "n", "f"])))
            df = pd.concat([x for x in frames if len(x)] or [frames[-1]], ignore_index=True)
            if mapping is not None and len(df):
                df["tkey"] = self._map_tkey(df["tkey"].to_numpy(np.int64), mapping)
            df = df.groupby(keys, sort=True, as_index=False)[["n", "f"]].sum()
            cols = {c: df[c].to_numpy() for c in df.columns}
        lost = self._unplaced_requests(lo, hi, where=where) if unplaced else None
        n_lost += _sum_unplaced(conn, [lost] if lost is not None else [], self.n_col)
        return self._final(cols), n_lost

    def _combined(self, sels: list):
        """One statement: the pieces summed per key (positive totals only), in key order."""
        keys = self.keys
        if len(sels) == 1:
            q = sels[0]
            return q.order_by(*[q.selected_columns[k] for k in keys])
        u = union_all(*sels).subquery()
        n, f = func.sum(u.c.n).label("n"), func.sum(u.c.f).label("f")
        key_cols = [u.c[k] for k in keys]
        return select(*key_cols, n, f).group_by(*key_cols).having(
            func.sum(u.c[self.n_col]) > 0).order_by(*key_cols)

    def _final(self, cols: dict[str, np.ndarray]) -> pd.DataFrame:
        keep = cols[self.n_col] > 0
        out = {k: cols[k][keep] for k in self.keys}
        out["requests"], out["issues"] = cols[self.n_col][keep], cols["f"][keep]
        return pd.DataFrame(out)

    def _boundary(self, conn, lo, hi, tkey, crossed) -> tuple[pd.DataFrame, int]:
        """Requests in cells the zone's edge crosses, kept when their point is inside: (placed rows,
        number of coarse ones inside)."""
        cols = [*self.keys, "n", "f"]
        q = self._select_requests(lo, hi, tkey, requests.c.cell.in_(crossed.astype(np.int64).tolist()),
                                  points=True)
        rows = pd.DataFrame(fetch_columns(conn, q, [*cols, "placed", "lng", "lat"]))
        inside = shapely.intersects_xy(self.f.zone, rows["lng"].to_numpy(float), rows["lat"].to_numpy(float))
        placed = rows["placed"].to_numpy() == 1
        return rows.loc[inside & placed, cols], int(rows.loc[inside & ~placed, self.n_col].sum())

    def _map_tkey(self, key: np.ndarray, mapping: str) -> np.ndarray:
        day = periods.local_days_of_epochs(key * periods.QUARTER_HOUR_S, self.tz) if mapping == "quarter" else key
        return periods.bucket_of_day(day, self.bucket)

    def households(self, conn, cells: np.ndarray) -> pd.Series:
        h = cell_households
        col = cell_expr(h, self.res, self.fine)
        q = select(col.label("cell"), func.sum(h.c.households).label("households")).group_by(col)
        if cells.size <= _SMALL_IN:
            q = q.where(col.in_(cells.astype(np.int64).tolist()))
        cols = fetch_columns(conn, q, ["cell", "households"])
        return pd.Series(cols["households"], index=cols["cell"])


def _is_literal(expr) -> bool:
    return getattr(expr, "is_literal", False) is True


def _empty_columns(columns: list[str]) -> dict[str, np.ndarray]:
    return {c: np.empty(0, dtype=_DTYPES.get(c, np.int64)) for c in columns}


def fetch_columns(conn, query, columns: list[str]) -> dict[str, np.ndarray]:
    """Rows as typed numpy columns straight from the DB-API cursor, a block at a time.

    SQLAlchemy Row objects would cost more than the query; short-lived blocks of tuples keep the
    garbage collector from sweeping tens of thousands of surviving tuples over and over.
    """
    result = conn.execute(query)
    blocks: list[list[np.ndarray]] = []
    try:
        cursor = result.cursor
        while cursor is not None:
            rows = cursor.fetchmany(_FETCH_BLOCK)
            if not rows:
                break
            blocks.append([_typed(name, values)
                           for name, values in zip(columns, zip(*rows, strict=True), strict=True)])
    finally:
        result.close()
    if not blocks:
        return _empty_columns(columns)
    return {name: np.concatenate([b[i] for b in blocks]) for i, name in enumerate(columns)}


_DTYPES = {"category": object, "lng": np.float64, "lat": np.float64, "households": np.float64}


def _typed(name: str, values: tuple) -> np.ndarray:
    return np.array(values, dtype=_DTYPES.get(name, np.int64))


def _sum_unplaced(conn, queries: list, n_col: str) -> int:
    total = 0
    for q in queries:
        row = conn.execute(q).one()
        total += int(row._mapping[n_col] or 0)
    return total
