"""Pages of requests for the OGC API straight from SQL: one WHERE for COUNT and the page, privacy applied.

- **Never every row.** ``numberMatched`` is a ``COUNT(*)`` and the page a ``LIMIT/OFFSET`` query with
  the same conditions, ordered by (created_at, id) so pages never overlap or skip. A deep ``offset``
  would make the database walk and read every skipped row; instead the page's first ``created_at``
  is found on the created_at index alone and the page is read from there (``_page_start``).
- **bbox.** Small areas use the H3 cell columns and their indexes (cells wholly inside the box by id,
  compacted to coarser parents; cells on its edge tested exactly), large ones plain coordinate ranges
  on the time-ordered scan. Both give the same rows (a test checks).
- **Snapped points** (``export_snap_points``): a request matches a bbox when its *published* point,
  the centre of its cell, does — filtering on the exact point would let a client locate it by
  shrinking boxes.
- **Privacy**: :func:`gridgis.privacy.public_requests` — no names or phones, texts scrubbed (and
  hidden for sensitive categories), addresses truncated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import and_, false, func, or_, select

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
PROPERTIES = ["created_at", "category", "category_name", "request_type", "status", "text", "address",
              "grid_code", "cell", "geocode_level", "duplicate_of", "source"]
ORDER = [req_t.c.created_at, req_t.c.id]
SMALL_AREA = 0.10  # share of the data's extent below which a bbox goes through the cell indexes
EXTENT_PAD = 0.01  # degrees (~1 km, several res-10 cells) around the data: snapped centres stay inside
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


def bbox_condition(bbox: tuple[float, float, float, float], extent: tuple[float, float, float, float] | None,
                   fine: int, snapped: bool):
    """SQL condition for requests (their published point) inside a CRS84 bbox; None when every row is."""
    if extent is None:
        return false()
    x0, y0, x1, y1 = extent
    data = shapely.box(x0 - EXTENT_PAD, y0 - EXTENT_PAD, x1 + EXTENT_PAD, y1 + EXTENT_PAD)
    boxes = [shapely.box(*b) for b in bbox_boxes(bbox)]
    area = shapely.intersection(shapely.union_all(boxes), data)
    if area.is_empty or area.area == 0:
        return false()
    if area.equals(data):
        return None
    r = req_t.c
    ranges = or_(*[and_(r.lng.between(b[0], b[2]), r.lat.between(b[1], b[3])) for b in bbox_boxes(bbox)])
    if area.area / data.area < SMALL_AREA:
        inner, crossed = zone_cells(area, fine)
        conds = [cell_expr(req_t, res, fine).in_(_ids(c)) for res, c in inner.items()]
        if crossed.size:
            if snapped:
                keep = crossed[_centres_inside(area, crossed)]
                if keep.size:
                    conds.append(r.cell.in_(_ids(keep)))
            else:
                conds.append(and_(r.cell.in_(_ids(crossed)), ranges))
        return or_(*conds) if conds else false()
    if not snapped:
        return ranges
    # Points in the box whose cell centre is outside go; points outside whose centre is inside come in.
    edge = _boundary_cells(area, fine)
    inside = _centres_inside(area, edge)
    cond = ranges
    if (~inside).any():
        cond = and_(ranges, r.cell.not_in(_ids(edge[~inside])))
    return or_(cond, r.cell.in_(_ids(edge[inside]))) if inside.any() else cond


def where_clause(query: ItemQuery, extent, fine: int, snapped: bool):
    """All conditions of an items query on ``requests`` (None: no condition)."""
    r = req_t.c
    conds = []
    if query.time is not None:
        lo, hi = query.time
        if lo is not None:
            conds.append(r.created_at >= lo)
        if hi is not None:
            conds.append(r.created_at < hi)
    conds += [r[name] == value for name, value in query.filters]
    if query.bbox is not None:
        cond = bbox_condition(query.bbox, extent, fine, snapped)
        if cond is not None:
            conds.append(cond)
    return and_(*conds) if conds else None


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


def fetch(store: Store, where, limit: int, offset: int) -> pd.DataFrame:
    """The page of stored rows (READ_COLUMNS), in (created_at, id) order."""
    if offset > _DEEP_OFFSET:
        start, offset = _page_start(store, where, offset)
        where = start if where is None else and_(where, start)
    return store.requests_frame(READ_COLUMNS, where=where, limit=limit, offset=offset, order_by=ORDER)


def fetch_one(store: Store, request_id: str) -> pd.DataFrame:
    return store.requests_frame(READ_COLUMNS, where=req_t.c.id == request_id)


def publish(rows: pd.DataFrame, *, names: dict[str, str], snapped: bool, tz: str
            ) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Stored rows → (feature ids, public properties, CRS84 points)."""
    pub = public_requests(rows, category_names=names, snap_points=snapped)
    cells = pub["cell"].to_numpy().astype(np.int64).astype(np.uint64)
    props = pd.DataFrame({
        "created_at": _iso(pub["created_at"], tz),
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


def _iso(times: pd.Series, tz: str) -> np.ndarray:
    """tz-aware times → "2026-03-05T19:42:00+08:00"."""
    if times.empty:
        return np.empty(0, dtype=object)
    text = times.dt.tz_convert(tz).dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    return text.str.replace(r"([+-]\d{2})(\d{2})$", r"\1:\2", regex=True).to_numpy(dtype=object)
