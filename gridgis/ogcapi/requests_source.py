"""Pages of requests for the OGC API straight from SQL, privacy applied; conditions shared with the count.

- **Never every row.** The page is a ``LIMIT`` query ordered by (created_at, id) so pages never overlap
  or skip. ``next`` links carry the keyset position of the page's last row (``after``), so walking them
  costs the same on every page; an explicit deep ``offset`` finds the page's first ``created_at`` on
  the created_at index alone instead of reading every skipped row (``_page_start``). numberMatched is
  :mod:`gridgis.ogcapi.requests_count`'s job.
- **bbox.** A box is weighed by the requests per res-9 cell of all the data (the counts table's totals,
  kept per data version by the service). One holding less than :data:`WALK_SHARE` of them is listed as
  H3 cells (:mod:`gridgis.ogcapi.box_cells`: res-9 cells wholly inside by ``cell_9``, the fine band along
  its edge by ``cell``) and its pages are read in **time windows** (:func:`_windowed`): each window is
  sized from the expected rate of matching rows, so the database sorts about one page of rows found on
  the cell indexes instead of every match in the box, and never walks the whole time order testing rows
  it does not need. A box holding more walks the created_at order on lng/lat ranges (a page of ``limit``
  rows then reads about limit ÷ share rows). Without totals the choice is by area. Every path gives the
  same rows (tests compare them with the stored points, on both backends).
- **Snapped points** (``export_snap_points``): a request matches a bbox when its *published* point,
  the centre of its cell, does — filtering on the exact point would let a client locate it by
  shrinking boxes.
- **Privacy**: :func:`gridgis.privacy.public_requests` — no names or phones, texts scrubbed (and
  hidden for sensitive categories), addresses truncated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import and_, false, func, or_, select

from gridgis import grid
from gridgis.export import prepare
from gridgis.heatmap.demand_query import cell_expr
from gridgis.heatmap.filters import zone_cells
from gridgis.ogcapi import box_cells
from gridgis.ogcapi.crs import bbox_boxes
from gridgis.ogcapi.query import ItemQuery
from gridgis.privacy import public_requests
from gridgis.storage.frames import result_frame
from gridgis.storage.schema import requests as req_t
from gridgis.storage.store import Store, from_epoch_seconds

READ_COLUMNS = ["id", "created_at", "text", "address", "category", "request_type", "status", "lng", "lat",
                "grid_code", "cell", "geocode_level", "duplicate_of", "source", "reporter_name"]
# reporter_name is read only to mask it where the reporter wrote it into the text; it is dropped after.
ORDER = [req_t.c.created_at, req_t.c.id]
SMALL_AREA = 0.10  # without per-cell totals: share of the data's extent below which a bbox goes by cells
WALK_SHARE = 0.3  # share of the requests in a bbox from which its pages walk created_at order instead
MAX_LISTED = 150_000  # fine cells of a bbox above which they are not listed (pages walk created_at order)
EXTENT_PAD = 0.02  # degrees (~2 km, more than a res-7 cell) around the data: snapped centres stay inside
_DEEP_OFFSET = 2_000
_WINDOW = 1_000
_SLACK = 1.5  # a time window is sized for this many times the rows still missing
_MAX_WINDOWS = 12  # the last one is open-ended


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


def _cells_condition(area: shapely.Geometry, ranges, fine: int, snapped: bool):
    """Rows whose published point lies in ``area`` through the cell columns: cells wholly inside by id
    (compacted to parents), cells on its edge tested exactly (their centre, or the point's ``ranges``)."""
    r = req_t.c
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


@dataclass(frozen=True)
class Where:
    """The conditions of one items query: ``base`` (time and property filters) and ``page`` (with the
    bbox), read in created_at order; ``boxes`` the bbox cut to the data's extent (None: no bbox, or one
    holding all the data). None conditions mean none.

    ``cells`` (a bbox listed as H3 cells) come with ``rate``, the expected matching rows per second, and
    pages are then read in time windows (:func:`fetch`); ``span`` is [lo, hi) of the times matching
    rows can have (the data's first to last request, cut to the query's interval)."""

    base: Any = None
    page: Any = None
    by_cells: bool = False  # the page condition goes through the cell indexes (which also hold created_at)
    boxes: tuple[tuple[float, float, float, float], ...] | None = None
    cells: box_cells.BoxCells | None = None
    span: tuple[int, int] | None = None
    rate: float | None = None


def _and(*conds):
    conds = [c for c in conds if c is not None]
    return and_(*conds) if conds else None


def clip_boxes(bbox: tuple[float, float, float, float], extent: tuple[float, float, float, float] | None
               ) -> tuple[tuple[float, float, float, float], ...] | None:
    """The CRS84 bbox (split at the antimeridian) cut to the data's padded extent: () when it holds no
    data, None when it holds all of it."""
    if extent is None:
        return ()
    x0, y0, x1, y1 = extent
    data = (x0 - EXTENT_PAD, y0 - EXTENT_PAD, x1 + EXTENT_PAD, y1 + EXTENT_PAD)
    out = []
    for b in bbox_boxes(bbox):
        cut = (max(b[0], data[0]), max(b[1], data[1]), min(b[2], data[2]), min(b[3], data[3]))
        if cut[0] < cut[2] and cut[1] < cut[3]:
            if cut == data:
                return None
            out.append(cut)
    return tuple(out)


def _ranges(bbox):
    r = req_t.c
    return or_(*[and_(r.lng.between(b[0], b[2]), r.lat.between(b[1], b[3])) for b in bbox_boxes(bbox)])


def _listed_condition(cells: box_cells.BoxCells, bbox):
    """Rows in the listed cells: res-9 cells by ``cell_9``, the band by ``cell`` (and lng/lat for exact points)."""
    r = req_t.c
    conds = [r.cell_9.in_(_ids(cells.covered))] if cells.covered.size else []
    if cells.band.size:
        band = r.cell.in_(_ids(cells.band))
        conds.append(and_(band, _ranges(bbox)) if cells.exact else band)
    return or_(*conds) if conds else false()


def _walk_condition(bbox, area: shapely.Geometry, fine: int, snapped: bool):
    """Rows whose published point is in the bbox by lng/lat ranges (pages walk created_at order)."""
    r = req_t.c
    if not snapped:
        return _ranges(bbox)
    # Points in the box whose cell centre is outside go; points outside whose centre is inside come in.
    edge = _boundary_cells(area, fine)
    inside = _centres_inside(area, edge)
    page = _ranges(bbox) if inside.all() else and_(_ranges(bbox), r.cell.not_in(_ids(edge[~inside])))
    return or_(page, r.cell.in_(_ids(edge[inside]))) if inside.any() else page


def bbox_conditions(bbox: tuple[float, float, float, float], extent: tuple[float, float, float, float] | None,
                    fine: int, snapped: bool) -> tuple[Any, bool]:
    """(page condition, page by cells) for requests whose published point is in a CRS84 bbox, chosen by the
    bbox's share of the data's extent (without per-cell totals)."""
    boxes = clip_boxes(bbox, extent)
    if boxes is None:
        return None, False
    if not boxes:
        return false(), False
    x0, y0, x1, y1 = extent
    data = shapely.box(x0 - EXTENT_PAD, y0 - EXTENT_PAD, x1 + EXTENT_PAD, y1 + EXTENT_PAD)
    area = shapely.union_all([shapely.box(*b) for b in boxes])
    if area.area / data.area < SMALL_AREA:
        return _cells_condition(area, _ranges(bbox), fine, snapped), True
    return _walk_condition(bbox, area, fine, snapped), False


def _time_span(time, span: tuple[int, int] | None) -> tuple[int, int] | None:
    if span is None:
        return None
    lo, hi = span[0], span[1] + 1
    if time is not None:
        lo = lo if time[0] is None else max(lo, int(time[0]))
        hi = hi if time[1] is None else min(hi, int(time[1]))
    return lo, hi


def where_clause(query: ItemQuery, extent, fine: int, snapped: bool, span: tuple[int, int] | None = None,
                 density=None) -> Where:
    """All conditions of an items query on ``requests``. ``span``: (first, last) created_at of the data;
    ``density``: requests per res-9 cell of all the data
    (:class:`gridgis.ogcapi.requests_count.CellTotals`). With both, a bbox holding less than
    :data:`WALK_SHARE` of the requests is listed as cells and paged in time windows; without them, a
    bbox is chosen by area (:func:`bbox_conditions`)."""
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
    window = _time_span(query.time, span)
    if query.bbox is None:
        return Where(base, base, span=window)
    boxes = clip_boxes(query.bbox, extent)
    if boxes and window is not None and density is not None and density.total and box_cells.usable(fine) \
            and box_cells.fine_cells_in(boxes, fine) <= MAX_LISTED:
        cells = box_cells.box_cells(boxes, fine, snapped)
        expected = cells.estimate(density.cells, density.counts, fine)
        if expected < WALK_SHARE * density.total:
            rate = expected / max(1, span[1] + 1 - span[0])  # requests spread evenly over the data's time
            page = _listed_condition(cells, query.bbox)
            return Where(base, _and(base, page), True, boxes, cells, window, rate)
        area = shapely.union_all([shapely.box(*b) for b in boxes])
        page, by_cells = _walk_condition(query.bbox, area, fine, snapped), False
    else:
        page, by_cells = bbox_conditions(query.bbox, extent, fine, snapped)
    return Where(base, _and(base, page), by_cells, boxes, span=window)


def _page_start(store: Store, where, offset: int):
    """(extra condition, offset from there, its time) that reach row ``offset`` through the created_at index
    only: the ``created_at`` at that position, and how many rows with the same time precede it."""
    q = select(req_t.c.created_at).order_by(req_t.c.created_at).limit(_WINDOW + 1).offset(offset - _WINDOW)
    if where is not None:
        q = q.where(where)
    with store.read() as conn:
        times = [t for (t,) in conn.execute(q).all()]
        if len(times) <= _WINDOW:
            return false(), 0, None  # past the last row
        t0 = times[-1]
        ties = len(times) - next(i for i in range(len(times)) if times[i] == t0)
        if ties <= _WINDOW:
            return req_t.c.created_at >= t0, ties - 1, t0
        q = select(func.count()).select_from(req_t).where(req_t.c.created_at < t0)
        before = int(conn.execute(q.where(where) if where is not None else q).scalar())
    return req_t.c.created_at >= t0, offset - before, t0


def _page_end(store: Store, where, position: int):
    """``created_at <= t`` with t the time of row ``position``: read on an index that holds created_at
    (cell indexes do), it keeps the page query from reading every matching row before sorting them."""
    q = select(req_t.c.created_at).order_by(req_t.c.created_at).limit(1).offset(position)
    with store.read() as conn:
        t = conn.execute(q.where(where) if where is not None else q).scalar()
    return None if t is None else req_t.c.created_at <= t


def _windowed(store: Store, cond, where: Where, start: int | None, limit: int, offset: int) -> pd.DataFrame:
    """The page read in time windows from ``start``, each sized by the expected rate for the rows still
    missing (then by the rate the last window showed): the cell indexes give each window's rows in any
    order, so the database sorts one window's rows, not every matching row. The last window is open-ended;
    all run in one read transaction."""
    lo, end = where.span
    lo = lo if start is None else max(lo, int(start))
    need, rate, slack = offset + limit, float(where.rate), _SLACK
    r = req_t.c
    # Ordered by an expression, not the column: ordered by created_at itself, the planner walks the whole
    # window on its index (ix_requests_created, one table read per row in the window) to spare the sort.
    q0 = select(*[r[c] for c in READ_COLUMNS]).where(cond).order_by(r.created_at + 0, r.id)
    parts, got = [], 0
    with store.read() as conn:
        for i in range(_MAX_WINDOWS):
            hi = lo + math.ceil(slack * (need - got) / rate) if rate > 0 else end
            last = hi >= end or i == _MAX_WINDOWS - 1
            q = q0.where(r.created_at >= lo) if last else q0.where(r.created_at >= lo, r.created_at < hi)
            part = result_frame(conn.execute(q.limit(need - got)), READ_COLUMNS)
            parts.append(part)
            got += len(part)
            if got >= need or last:
                break
            # The next window from the rate this one showed, with one standard deviation (Poisson) to spare:
            # a window too short costs one more small window, one too long reads rows in vain.
            rate = len(part) / (hi - lo) if len(part) else rate / 8
            slack = 1 + 1 / math.sqrt(max(1, len(part)))
            lo = hi
    full = [p for p in parts if len(p)]
    rows = pd.concat(full, ignore_index=True) if len(full) > 1 else (full or parts)[0]
    rows = rows.iloc[offset: offset + limit].reset_index(drop=True)
    rows["created_at"] = from_epoch_seconds(rows["created_at"].to_numpy(dtype="int64"))
    return rows


def fetch(store: Store, where: Where, limit: int, offset: int, after: tuple[int, str] | None = None
          ) -> pd.DataFrame:
    """The page of stored rows (READ_COLUMNS), in (created_at, id) order: after the keyset position
    ``after`` (created_at, id) when given, else from ``offset``."""
    cond, start = where.page, None
    if after is not None:
        t, fid = after
        r = req_t.c
        first = and_(r.created_at >= t, or_(r.created_at > t, r.id > fid))  # one index range, then the tie
        cond, offset, start = _and(cond, first), 0, t
    elif offset > _DEEP_OFFSET:
        first, offset, start = _page_start(store, cond, offset)
        cond = _and(cond, first)
    if where.rate is not None and limit:
        return _windowed(store, cond, where, start, limit, offset)
    if where.by_cells and limit:
        cond = _and(cond, _page_end(store, cond, offset + limit - 1))
    return store.requests_frame(READ_COLUMNS, where=cond, limit=limit, offset=offset, order_by=ORDER)


def scanned(where: Where, rows: pd.DataFrame, offset: int, after) -> tuple[int, float] | None:
    """(matching rows up to a page's last row, the share of the query's time span they took: from its
    start, or the keyset position, to that row's time); None when not known."""
    if where.span is None or rows.empty or where.span[1] <= where.span[0]:
        return None
    lo, hi = where.span
    start = max(lo, int(after[0])) if after is not None else lo
    last = int(rows["created_at"].iloc[-1].timestamp())
    return len(rows) + (0 if after is not None else offset), min(1.0, (last + 1 - start) / (hi - lo))


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
        "category_name": [names.get(c, c) for c in pub["category"].tolist()],
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
    """tz-aware times → "2026-03-05T19:42:00+08:00" in ``tz`` (:func:`gridgis.export.prepare.iso_times`)."""
    return prepare.iso_times(times, tz)
