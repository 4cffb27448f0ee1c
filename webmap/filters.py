"""The map's filter parameters (time, category, type, status, grid, zone, cell, bbox), parsed once for every route.

Each bad value is a 400 naming the parameter and listing what is allowed. The same parsed filters
drive the aggregate endpoints (through :mod:`gridgis.heatmap.aggregate`) and the request lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gridgis import grid
from gridgis.errors import InvalidInputError, NotFoundError
from gridgis.storage.postgis import bbox_condition, intersects_condition, is_postgresql
from gridgis.storage.schema import requests as req_t
from gridgis.workflow import STATUSES
from webmap import context, params


@dataclass(frozen=True)
class QueryFilters:
    since: pd.Timestamp | None = None
    until: pd.Timestamp | None = None
    categories: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    grids: tuple[str, ...] = ()
    zone: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    cell: int | None = None
    cell_res: int | None = None


def _check_known(name: str, values: list[str], known: set[str] | list[str], what: str) -> tuple[str, ...]:
    bad = [v for v in values if v not in known]
    if bad:
        allowed = ", ".join(sorted(known)) if known else "—"
        raise InvalidInputError(
            f"未知{what} {bad[0]!r}，可用：{allowed} / unknown {name} {bad[0]!r}; allowed: {allowed}", field=name
        )
    return tuple(dict.fromkeys(values))


def fine_resolution() -> int:
    return int(context.store().get_meta("h3_resolution", str(context.settings().h3_resolution)))


def cell_column(res: int):
    """The requests column holding cells at ``res`` (the fine cell or one of its stored parents)."""
    fine = fine_resolution()
    if res == fine:
        return req_t.c.cell
    if res in (7, 8, 9) and res < fine:
        return req_t.c[f"cell_{res}"]
    raise InvalidInputError(
        f"网格分辨率 {res} 未存储，可用 7–9 和 {fine} / cells of resolution {res} are not stored; use 7, 8, 9 "
        f"or {fine}",
        field="cell",
    )


def hex_to_cell(value: str, name: str = "cell") -> int:
    """A hex H3 id → int; an invalid id is a 400 naming the parameter."""
    return int(grid.str_to_cells([value], name=name)[0])


def parse_cell(value: str, name: str = "cell") -> tuple[int, int]:
    """A hex H3 id → (int, resolution); must be a resolution the store keeps."""
    cell = hex_to_cell(value, name)
    res = int(grid.cell_resolution([cell])[0])
    try:
        cell_column(res)
    except InvalidInputError as exc:
        raise InvalidInputError(exc.public_message, field=name) from None
    return cell, res


def parse_filters(*, allow_bbox: bool = True, allow_cell: bool = False) -> QueryFilters:
    st = context.store()
    tz = context.settings().timezone
    since, until = params.get_time("since", tz), params.get_time("until", tz)
    if since is not None and until is not None and since >= until:
        raise InvalidInputError("since 须早于 until / since must be before until", field="since")
    cats = params.get_list("category")
    if cats:
        cats = _check_known("category", cats, set(st.categories_frame()["code"]), "类别")
    types = params.get_list("type")
    if types:
        labels = [t.label for t in context.taxonomy().request_types]
        types = _check_known("type", types, labels, "诉求类型")
    statuses = params.get_list("status")
    if statuses:
        statuses = _check_known("status", statuses, list(STATUSES), "状态")
    grids = params.get_list("grid")
    if grids:
        grids = _check_known("grid", grids, set(st.grids_frame()["grid_code"]), "网格")
    zone = params.get_int("zone", 0, 1, 2**31 - 1) or None  # an INTEGER id (32 bits on PostgreSQL)
    if zone is not None:
        try:
            st.get_zone(zone)
        except NotFoundError as exc:
            raise InvalidInputError(f"找不到区域 / zone not found: {zone}", field="zone") from exc
    bbox = params.get_bbox() if allow_bbox else None
    cell = cell_res = None
    if allow_cell and request_arg("cell"):
        cell, cell_res = parse_cell(request_arg("cell"))
    return QueryFilters(since, until, tuple(cats), tuple(types), tuple(statuses), tuple(grids), zone, bbox,
                        cell, cell_res)


def request_arg(name: str) -> str | None:
    from flask import request

    v = request.args.get(name)
    return v.strip() if v and v.strip() else None


def zone_geometry(zone_id: int):
    return shapely.from_geojson(context.store().get_zone(zone_id)["geometry"])


def sql_conditions(f: QueryFilters) -> list:
    """SQLAlchemy conditions on ``requests`` for listing rows (zones are applied by :func:`in_zone`)."""
    conds = []
    if f.categories:
        conds.append(req_t.c.category.in_(f.categories))
    if f.types:
        conds.append(req_t.c.request_type.in_(f.types))
    if f.statuses:
        conds.append(req_t.c.status.in_(f.statuses))
    if f.grids:
        conds.append(req_t.c.grid_code.in_(f.grids))
    if f.since is not None:
        conds.append(req_t.c.created_at >= int(f.since.timestamp()))
    if f.until is not None:
        conds.append(req_t.c.created_at < int(f.until.timestamp()))
    bbox = f.bbox
    engine = context.store().engine
    if f.zone is not None:
        zone = zone_geometry(f.zone)
        zb = zone.bounds
        bbox = zb if bbox is None else (max(bbox[0], zb[0]), max(bbox[1], zb[1]), min(bbox[2], zb[2]),
                                        min(bbox[3], zb[3]))
        if is_postgresql(engine):  # the exact polygon in SQL (GiST index); in_zone() is then a no-op check
            conds.append(intersects_condition(req_t, zone))
    if bbox is not None:
        conds.append(bbox_condition(req_t, bbox, engine))  # geom && envelope on PostGIS, lng/lat range on SQLite
        cover = None if is_postgresql(engine) else covering_cells(bbox)
        if cover is not None:  # lets the database use its (cell_9, created_at) index instead of a full scan
            conds.append(req_t.c.cell_9.in_(cover.astype(np.int64).tolist()))
    if f.cell is not None:
        conds.append(cell_column(f.cell_res) == f.cell)
    return conds


COVER_EDGE_DEG = 0.0025  # > one res-9 edge (≈ 200 m): no point is farther than that from its cell centre
MAX_COVER_CELLS = 2_000


def covering_cells(bbox: tuple[float, float, float, float]) -> np.ndarray | None:
    """Res-9 cells holding every point of a small bbox (None when the bbox is too big to list them)."""
    x0, y0, x1, y1 = bbox
    pad = COVER_EDGE_DEG / max(np.cos(np.radians((y0 + y1) / 2)), 0.05)
    if (x1 - x0 + 2 * pad) * (y1 - y0 + 2 * COVER_EDGE_DEG) > MAX_COVER_CELLS * 1e-5:  # res-9 cell ≈ 1e-5 deg²
        return None
    cells = grid.polygon_to_cells(shapely.box(x0 - pad, y0 - COVER_EDGE_DEG, x1 + pad, y1 + COVER_EDGE_DEG), 9)
    return cells if 0 < cells.size <= MAX_COVER_CELLS else None


def in_zone(zone_id: int, lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Points inside the zone polygon (its boundary counts as inside)."""
    geom = zone_geometry(zone_id)
    lng = np.asarray(lng, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    return shapely.intersects_xy(geom, lng, lat)
