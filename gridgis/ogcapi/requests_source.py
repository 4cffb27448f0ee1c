"""Pages of requests for the OGC API straight from SQL: one WHERE for COUNT and the page, privacy applied.

- **Never every row.** ``numberMatched`` is a ``COUNT(*)`` and the page a ``LIMIT`` query with the
  same conditions, ordered by (created_at, id) so pages never overlap or skip. ``next`` links carry
  the keyset position of the page's last row (``after``), so walking them costs the same on every
  page; an explicit deep ``offset`` finds the page's first ``created_at`` on the created_at index
  alone instead of reading every skipped row (``_page_start``).
- **bbox.** Counted through the H3 cell columns and their indexes (cells wholly inside the box by id,
  compacted to coarser parents; cells on its edge tested exactly) — a box covering most of the data
  through its complement, which has fewer cells. Pages of small boxes are read the same way, pages
  of large ones by coordinate ranges on the time-ordered scan (most rows match). All give the same
  rows and counts (tests compare them with the stored points).
- **Snapped points** (``export_snap_points``): a request matches a bbox when its *published* point,
  the centre of its cell, does — filtering on the exact point would let a client locate it by
  shrinking boxes.
- **Privacy**: :func:`gridgis.privacy.public_requests` — no names or phones, texts scrubbed (and
  hidden for sensitive categories), addresses truncated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import and_, false, func, not_, or_, select

from gridgis import grid
from gridgis.heatmap.demand_query import cell_expr
from gridgis.heatmap.filters import zone_cells
from gridgis.ogcapi.crs import bbox_boxes
from gridgis.ogcapi.query import ItemQuery
from gridgis.privacy import public_requests
from gridgis.storage.schema import requests as req_t
from gridgis.storage.store import Store

READ_COLUMNS = ["id", "created_at", "text", "address", "category", "request_type", "status", "lng", "lat",
                "grid_code", "cell", "geocode_level", "duplicate_of", "source", "reporter_name"]
# reporter_name is read only to mask it where the reporter wrote it into the text; it is dropped after.
ORDER = [req_t.c.created_at, req_t.c.id]
SMALL_AREA = 0.10  # share of the data's extent below which a bbox page is read through the cell indexes
BIG_AREA = 0.50  # above this share a bbox is counted through its complement (fewer cells to count)
EXTENT_PAD = 0.02  # degrees (~2 km, more than a res-7 cell) around the data: snapped centres stay inside
_DEEP_OFFSET = 2_000
_WINDOW = 1_000


def data_extent(store: Store) -> tuple[tuple[float, float, float, float] | None, tuple[int, int] | None]:
    """(lng/lat bbox, (first, last) created_at epoch seconds) of all requests; Nones when there are none."""
    r = req_t.c
    with store.read() as conn:
        # Separate MIN/MAX statements: each is one index probe, together they would be a scan.
        first = conn.execute(select(func.min(r.created_at))).scalar()
        last = conn.execute(select(func.max(r.created_at))).scalar()
        box = conn.execute(select(func.min(r.lng), func.min(r.lat), func.max(r.lng), func.max(r.lat))).one()
    if first is None:
        return None, None
    return tuple(float(v) for v in box), (int(first), int(last))


def _boundary_cells(area: shapely.Geometry, fine: int) -> np.ndarray:
    """Fine cells the area's boundary crosses (the interior is never enumerated)."""
    probe = grid.cells_to_polygons(grid.latlng_to_cells([area.centroid.y], [area.centroid.x], fine))[0]
    xy = shapely.get_coordinates(probe)
    edge = float(np.hypot(*(xy[1] - xy[0])))
    pts = shapely.get_coordinates(shapely.segmentize(area.boundary, edge / 2))
    seeds = np.unique(grid.latlng_to_cells(pts[:, 1], pts[:, 0], fine))
    cand = np.unique(grid.grid_disk_pairs(seeds[seeds != 0], 1)[1])
    return cand[shapely.intersects(area.boundary, grid.cells_to_polygons(cand))]


def _centres_inside(area: shapely.Geometry, cells: np.ndarray) -> np.ndarray:
    lat, lng = grid.cell_centers(cells) if cells.size else (np.empty(0), np.empty(0))
    return shapely.intersects_xy(area, lng, lat)


def _ids(cells: np.ndarray) -> list[int]:
    return cells.astype(np.int64).tolist()


def _cells_condition(region: shapely.Geometry, area: shapely.Geometry, ranges, fine: int, snapped: bool,
                     inside: bool = True):
    """Rows whose published point lies in ``region`` through the cell columns: cells wholly inside by id
    (compacted to parents), cells on its edge tested exactly. ``region`` is the bbox's ``area`` itself
    (``inside``) or its complement, whose edge cells keep the rows *outside* the area."""
    r = req_t.c
    inner, crossed = zone_cells(region, fine)
    conds = [cell_expr(req_t, res, fine).in_(_ids(c)) for res, c in inner.items()]
    if crossed.size:
        if snapped:
            hit = _centres_inside(area, crossed)
            keep = crossed[hit if inside else ~hit]
            if keep.size:
                conds.append(r.cell.in_(_ids(keep)))
        else:
            conds.append(and_(r.cell.in_(_ids(crossed)), ranges if inside else not_(ranges)))
    return or_(*conds) if conds else false()


@dataclass(frozen=True)
class Where:
    """The conditions of one items query. ``page`` selects the rows (read in created_at order);
    numberMatched is COUNT(``count``), or with ``subtract`` COUNT(``base``) − COUNT(``count``): a large
    bbox is counted through its smaller complement. None means no condition."""

    base: Any = None
    page: Any = None
    count: Any = None
    subtract: bool = False
    by_cells: bool = False  # the page condition goes through the cell indexes (which also hold created_at)


def _and(*conds):
    conds = [c for c in conds if c is not None]
    return and_(*conds) if conds else None


def bbox_conditions(bbox: tuple[float, float, float, float], extent: tuple[float, float, float, float] | None,
                    fine: int, snapped: bool) -> tuple[Any, Any, bool, bool]:
    """(page condition, count condition, subtract, page by cells) for requests whose published point is in
    a CRS84 bbox."""
    if extent is None:
        return false(), false(), False, False
    x0, y0, x1, y1 = extent
    data = shapely.box(x0 - EXTENT_PAD, y0 - EXTENT_PAD, x1 + EXTENT_PAD, y1 + EXTENT_PAD)
    area = shapely.intersection(shapely.union_all([shapely.box(*b) for b in bbox_boxes(bbox)]), data)
    if area.is_empty or area.area == 0:
        return false(), false(), False, False
    if area.equals(data):
        return None, None, False, False
    r = req_t.c
    ranges = or_(*[and_(r.lng.between(b[0], b[2]), r.lat.between(b[1], b[3])) for b in bbox_boxes(bbox)])
    share = area.area / data.area
    by_cells = _cells_condition(area, area, ranges, fine, snapped) if share <= BIG_AREA else None
    if share < SMALL_AREA:
        page = by_cells
    elif not snapped:
        page = ranges
    else:
        # Points in the box whose cell centre is outside go; points outside whose centre is inside come in.
        edge = _boundary_cells(area, fine)
        inside = _centres_inside(area, edge)
        page = ranges if inside.all() else and_(ranges, r.cell.not_in(_ids(edge[~inside])))
        page = or_(page, r.cell.in_(_ids(edge[inside]))) if inside.any() else page
    small = share < SMALL_AREA
    if by_cells is not None:
        return page, by_cells, False, small
    outside = shapely.difference(data, area)
    return page, _cells_condition(outside, area, ranges, fine, snapped, inside=False), True, small


def where_clause(query: ItemQuery, extent, fine: int, snapped: bool) -> Where:
    """All conditions of an items query on ``requests``."""
    r = req_t.c
    conds = []
    if query.time is not None:
        lo, hi = query.time
        if lo is not None:
            conds.append(r.created_at >= lo)
        if hi is not None:
            conds.append(r.created_at < hi)
    conds += [r[name] == value for name, value in query.filters]
    base = _and(*conds)
    if query.bbox is None:
        return Where(base, base, base)
    page, counted, subtract, by_cells = bbox_conditions(query.bbox, extent, fine, snapped)
    return Where(base, _and(base, page), _and(base, counted), subtract, by_cells)


def matched(store: Store, where: Where) -> int:
    """numberMatched of the query (exact)."""
    n = count(store, where.count)
    return count(store, where.base) - n if where.subtract else n


def count(store: Store, where) -> int:
    q = select(func.count()).select_from(req_t)
    if where is not None:
        q = q.where(where)
    with store.read() as conn:
        return int(conn.execute(q).scalar())


def _page_start(store: Store, where, offset: int):
    """(extra condition, offset from there) that reach row ``offset`` through the created_at index only:
    the ``created_at`` at that position, and how many rows with the same time precede it."""
    q = select(req_t.c.created_at).order_by(req_t.c.created_at).limit(_WINDOW + 1).offset(offset - _WINDOW)
    if where is not None:
        q = q.where(where)
    with store.read() as conn:
        times = [t for (t,) in conn.execute(q).all()]
        if len(times) <= _WINDOW:
            return false(), 0  # past the last row
        t0 = times[-1]
        ties = len(times) - next(i for i in range(len(times)) if times[i] == t0)
        if ties <= _WINDOW:
            return req_t.c.created_at >= t0, ties - 1
        q = select(func.count()).select_from(req_t).where(req_t.c.created_at < t0)
        before = int(conn.execute(q.where(where) if where is not None else q).scalar())
    return req_t.c.created_at >= t0, offset - before


def _page_end(store: Store, where, position: int):
    """``created_at <= t`` with t the time of row ``position``: read on an index that holds created_at
    (cell indexes do), it keeps the page query from reading every matching row before sorting them."""
    q = select(req_t.c.created_at).order_by(req_t.c.created_at).limit(1).offset(position)
    with store.read() as conn:
        t = conn.execute(q.where(where) if where is not None else q).scalar()
    return None if t is None else req_t.c.created_at <= t


def fetch(store: Store, where: Where, limit: int, offset: int, after: tuple[int, str] | None = None
          ) -> pd.DataFrame:
    """The page of stored rows (READ_COLUMNS), in (created_at, id) order: after the keyset position
    ``after`` (created_at, id) when given, else from ``offset``."""
    cond = where.page
    if after is not None:
        t, fid = after
        r = req_t.c
        start = and_(r.created_at >= t, or_(r.created_at > t, r.id > fid))  # one index range, then the tie
        cond, offset = _and(cond, start), 0
    elif offset > _DEEP_OFFSET:
        start, offset = _page_start(store, cond, offset)
        cond = _and(cond, start)
    if where.by_cells and limit:
        cond = _and(cond, _page_end(store, cond, offset + limit - 1))
    return store.requests_frame(READ_COLUMNS, where=cond, limit=limit, offset=offset, order_by=ORDER)


def fetch_one(store: Store, request_id: str) -> pd.DataFrame:
    return store.requests_frame(READ_COLUMNS, where=req_t.c.id == request_id)


def cursor_after(rows: pd.DataFrame) -> str | None:
    """The keyset position after the last row (``after`` of the next page), None for no rows."""
    if rows.empty:
        return None
    last = rows.iloc[-1]
    return f"{int(last['created_at'].timestamp())}:{last['id']}"


def publish(rows: pd.DataFrame, *, names: dict[str, str], snapped: bool, tz: str
            ) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Stored rows → (feature ids, public properties, CRS84 points)."""
    pub = public_requests(rows, category_names=names, snap_points=snapped)
    cells = pub["cell"].to_numpy().astype(np.int64).astype(np.uint64)
    props = pd.DataFrame({
        "created_at": iso_times(pub["created_at"], tz),
        "category": pub["category"].astype(object),
        "category_name": pub["category"].map(names).fillna(pub["category"]).astype(object),
        "request_type": pub["request_type"].astype(object),
        "status": pub["status"].astype(object),
        "text": pub["text"].astype(object),
        "address": pub["address"].astype(object),
        "grid_code": pub["grid_code"].astype(object),
        "cell": grid.cells_to_str(cells),
        "geocode_level": pub["geocode_level"].astype(object),
        "duplicate_of": pub["duplicate_of"].astype(object),
        "source": pub["source"].astype(object),
    })
    points = shapely.points(pub["lng"].to_numpy(float), pub["lat"].to_numpy(float))
    return pub["id"].to_numpy(dtype=object), props, points


def iso_times(times: pd.Series, tz: str) -> np.ndarray:
    """tz-aware times → "2026-03-05T19:42:00+08:00" in ``tz``, formatted by numpy (pandas' strftime is
    a Python loop)."""
    if times.empty:
        return np.empty(0, dtype=object)
    utc = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    wall = times.dt.tz_convert(tz).dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    offsets, which = np.unique((wall - utc).astype(np.int64), return_inverse=True)
    suffix = np.array([f"{'+' if o >= 0 else '-'}{abs(o) // 3600:02d}:{abs(o) % 3600 // 60:02d}" for o in offsets],
                      dtype=object)[which]
    return np.datetime_as_string(wall, unit="s").astype(object) + suffix
