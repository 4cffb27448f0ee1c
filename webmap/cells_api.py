"""/api cells, cell detail, hot spots and stats: thin adapters over gridgis.heatmap (aggregate, Gi*, trends).

Counting is :mod:`gridgis.heatmap.aggregate`'s job; this module only picks the area, turns the result
into compact JSON and remembers it per data version (see :func:`cell_frame`). Areas handed to
aggregate are padded by a few cell edges, so every hexagon sent is counted whole.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import shapely
from flask import Blueprint, jsonify, request

from gridgis import grid
from gridgis.errors import InvalidInputError
from gridgis.heatmap import aggregate as agg
from gridgis.heatmap.emerging import emerging_hot_spots
from gridgis.heatmap.hotspots import gi_star, study_area_cells
from gridgis.zones import households_in
from webmap import context, filters, params, scoping
from webmap.access import current_principal, rule
from webmap.caching import conditional, memo, memo_many

bp = Blueprint("cells", __name__, url_prefix="/api")

RESOLUTIONS = (7, 8, 9, 10)
EDGE_KM = {7: 1.406, 8: 0.531, 9: 0.201, 10: 0.0759}  # average hexagon edge (h3)
MAX_STUDY_CELLS = 400_000
TILE_DEG = 0.005  # res-10 counting tiles, ~500 m: a pan recounts only the tiles it newly reveals
N_CLASSES = 5


def _tz() -> str:
    return context.settings().timezone


def _res(default: int = 9) -> int:
    return params.get_int("res", default, RESOLUTIONS[0], RESOLUTIONS[-1])


def _agg_filters(f: filters.QueryFilters, area: shapely.Geometry | None = None) -> agg.Filters:
    """aggregate.Filters for the parsed query; ``area`` (a padded view or a cell) narrows the user's zone."""
    zone = filters.zone_geometry(f.zone) if f.zone is not None else None
    if area is not None:
        zone = area if zone is None else shapely.intersection(zone, area)
    return agg.Filters(since=f.since, until=f.until, categories=f.categories, request_types=f.types,
                       statuses=f.statuses, grids=f.grids, zone=zone)


def _empty_zone(af: agg.Filters) -> bool:
    return af.zone is not None and (af.zone.is_empty or af.zone.area == 0)


def _nothing(by_category: bool = False, bucket: bool = False) -> pd.DataFrame:
    """An empty aggregate result (a zone that does not meet the view) without asking the database."""
    cols = {"cell": np.empty(0, np.uint64), "cell_id": pd.array([], dtype="str")}
    if by_category:
        cols["category"] = pd.array([], dtype="str")
    if bucket:
        cols["bucket"] = pd.DatetimeIndex([], tz=_tz())
    cols.update({"requests": np.empty(0, np.int64), "households": np.empty(0),
                 "rate_per_100_households": np.empty(0)})
    return pd.DataFrame(cols)


def _pad(bbox: tuple[float, float, float, float], km: float) -> tuple[float, float, float, float]:
    lat = (bbox[1] + bbox[3]) / 2
    dy = km / 110.574
    dx = km / (111.320 * max(math.cos(math.radians(lat)), 0.01))
    return (max(bbox[0] - dx, -180.0), max(bbox[1] - dy, -90.0), min(bbox[2] + dx, 180.0), min(bbox[3] + dy, 90.0))


def in_view(cells: np.ndarray, bbox, res: int) -> np.ndarray:
    """Cells whose centre is within one edge of the bbox, i.e. every hexagon the bbox touches."""
    if bbox is None or cells.size == 0:
        return np.ones(cells.size, dtype=bool)
    x0, y0, x1, y1 = _pad(bbox, EDGE_KM[res])
    lat, lng = grid.cell_centers(cells)
    return (lng >= x0) & (lng <= x1) & (lat >= y0) & (lat <= y1)


def class_breaks(values: np.ndarray, k: int = N_CLASSES) -> list[float]:
    """Upper bounds of up to ``k`` classes (ascending, last = max) for the colours and the legend.

    Quantiles while they give k distinct classes; request counts are usually so skewed (most cells
    hold 1–2) that they do not, and then the classes grow geometrically from the smallest value.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return []
    qs = np.unique(np.round(np.quantile(v, np.linspace(0, 1, k + 1)[1:], method="higher"), 3))
    lo, hi = float(v.min()), float(v.max())
    if qs.size < k and lo > 0 and hi / lo > k:
        geo = np.geomspace(lo, hi, k)
        qs = np.unique(np.ceil(geo) if np.all(v == np.round(v)) else np.round(geo, 3))
    return [float(x) for x in qs]


def _key(f: filters.QueryFilters, *extra) -> tuple:
    return (*dataclasses.astuple(f), *extra)


# ------------------------------------------------------------------------------------------------ cells
def cell_frame(res: int, f: filters.QueryFilters) -> pd.DataFrame:
    """Per-cell totals covering the view (the caller keeps the cells in view).

    At res 7–9 (views of a street office or more) the whole area is counted once per filter set and
    remembered: aggregate answers that from its pre-counted table, and every later pan is a lookup.
    At res 10 the view is counted in fixed tiles, each remembered, so panning recounts only the
    tiles it newly reveals (all of them in one aggregate call).
    """
    store, tax = context.store(), context.taxonomy()
    whole = dataclasses.replace(f, bbox=None)
    if res <= 9 and f.zone is None:
        return memo("cell-frame", _key(whole, res),
                    lambda: agg.cell_totals(store, res, _agg_filters(whole), tz=_tz(), taxonomy=tax))
    if f.bbox is None:
        return agg.cell_totals(store, res, _agg_filters(whole), tz=_tz(), taxonomy=tax)
    x0, y0, x1, y1 = _pad(f.bbox, EDGE_KM[res])
    tiles = [(res, i, j) for i in range(math.floor(x0 / TILE_DEG), math.floor(x1 / TILE_DEG) + 1)
             for j in range(math.floor(y0 / TILE_DEG), math.floor(y1 / TILE_DEG) + 1)]
    base = _key(whole)

    def count(missing: list[tuple]) -> dict:
        boxes = [_tile_box(i, j) for _r, i, j in missing]
        # Each tile padded by 3 cell edges: a cell whose centre is in a tile is counted whole.
        area = shapely.union_all([shapely.box(*_pad(b, 3 * EDGE_KM[res])) for b in boxes])
        af = _agg_filters(whole, area)
        df = _nothing() if _empty_zone(af) else agg.cell_totals(store, res, af, tz=_tz(), taxonomy=tax)
        lat, lng = grid.cell_centers(df["cell"].to_numpy()) if len(df) else (np.empty(0), np.empty(0))
        ti, tj = np.floor(lng / TILE_DEG).astype(np.int64), np.floor(lat / TILE_DEG).astype(np.int64)
        return {t: df[(ti == t[1]) & (tj == t[2])] for t in missing}

    parts = memo_many("cell-tiles", [(base, t) for t in tiles],
                      lambda keys: {(base, t): v for t, v in count([k[1] for k in keys]).items()})
    frames = [p for p in parts.values() if len(p)]
    return pd.concat(frames, ignore_index=True) if frames else next(iter(parts.values())).iloc[:0]


def _tile_box(i: int, j: int) -> tuple[float, float, float, float]:
    return (i * TILE_DEG, j * TILE_DEG, (i + 1) * TILE_DEG, (j + 1) * TILE_DEG)


@bp.get("/cells")
@rule("aggregates:read")
@conditional
def cells():
    res = _res()
    f = filters.parse_filters()

    def build() -> dict:
        df = cell_frame(res, f)
        unplaced = int(df.attrs.get("unplaced_requests", 0))
        df = df[in_view(df["cell"].to_numpy(), f.bbox, res)]
        n = df["requests"].to_numpy(np.int64)
        rate = df["rate_per_100_households"].to_numpy(float)
        rows = [{"h3": h, "n": int(c)} for h, c in zip(df["cell_id"].tolist(), n.tolist(), strict=True)]
        for row, r in zip(rows, rate.tolist(), strict=True):
            if math.isfinite(r):
                row["rate"] = round(r, 3)
        return {"ok": True, "res": res, "count": len(rows), "total": int(n.sum()), "cells": rows,
                "breaks": class_breaks(n), "rate_breaks": class_breaks(rate), "unplaced": unplaced}

    body = memo("cells", _key(f, res), build)
    if current_principal().suppress_small_counts:  # remembered too: a wall screen pans as often as anyone
        body = memo("cells-k", _key(f, res), lambda: _scoped_cells(body))
    return jsonify(body)


def _scoped_cells(body: dict) -> dict:
    """The cells of a view under the k rule for low-privilege callers (webmap.scoping)."""
    cells_ = scoping.suppress_cells(body["cells"])
    if cells_ is body["cells"]:
        return body
    n = np.array([c["n"] for c in cells_], dtype=float)
    rate = np.array([c["rate"] for c in cells_ if "rate" in c], dtype=float)
    return {**body, "cells": cells_, "count": len(cells_), "suppressed": len(body["cells"]) - len(cells_),
            "total": None if scoping.suppress_summary({"n": body["total"]})["n"] is None else body["total"],
            "breaks": class_breaks(n), "rate_breaks": class_breaks(rate)}


def _months(frame: pd.DataFrame, f: filters.QueryFilters) -> list[dict]:
    """Monthly totals with empty months filled in (for the sparkline)."""
    if frame.empty:
        return []
    s = frame.groupby("bucket")["requests"].sum()
    tz = _tz()
    first = s.index.min() if f.since is None else f.since.tz_convert(tz)
    last = s.index.max() if f.until is None else (f.until - pd.Timedelta(seconds=1)).tz_convert(tz)
    months = pd.period_range(first.tz_localize(None).to_period("M"), last.tz_localize(None).to_period("M"), freq="M")
    by_month = {k.tz_localize(None).to_period("M"): int(v) for k, v in s.items()}
    return [{"month": str(m), "n": by_month.get(m, 0)} for m in months]


def _by_category(frame: pd.DataFrame) -> list[dict]:
    if frame.empty:
        return []
    order = {c: i for i, c in enumerate(context.store().categories_frame()["code"])}
    s = frame.groupby("category")["requests"].sum()
    return [{"code": c, "n": int(s[c])} for c in sorted(s.index, key=lambda c: order.get(c, 99))]


@bp.get("/cells/<h3>")
@rule("aggregates:read")
@conditional
def cell_detail(h3: str):
    cell = filters.hex_to_cell(h3, "h3")
    res = int(grid.cell_resolution([cell])[0])
    if res not in RESOLUTIONS:
        raise InvalidInputError(f"h3 的分辨率须为 7–10 / h3 must be a cell of resolution 7–10, got {res}", field="h3")
    f = filters.parse_filters(allow_bbox=False)

    def build() -> dict:
        hexagon = grid.cells_to_polygons(np.array([cell], dtype=np.uint64))[0]
        area = shapely.box(*_pad(hexagon.bounds, 2 * EDGE_KM[res]))
        af = _agg_filters(f, area)
        frame = _nothing(True, True) if _empty_zone(af) else agg.aggregate(
            context.store(), res, af, by_category=True, bucket="month", tz=_tz(), taxonomy=context.taxonomy())
        frame = frame[frame["cell"].to_numpy(np.uint64) == np.uint64(cell)]
        n = int(frame["requests"].sum())
        hh = frame["households"].dropna()
        households = float(hh.iloc[0]) if len(hh) else None
        lat, lng = grid.cell_centers(np.array([cell], dtype=np.uint64))
        return {"ok": True, "h3": format(cell, "x"), "res": res, "center": [float(lat[0]), float(lng[0])], "n": n,
                "households": households, "rate": None if not households else round(n / households * 100, 3),
                "by_category": _by_category(frame), "monthly": _months(frame, f)}

    return jsonify(scoping.suppress_summary(memo("cell", _key(f, cell), build)))


# --------------------------------------------------------------------------------------------- hot spots
def study_polygon() -> shapely.Geometry:
    """The study area of hot spots: service area, else the official grids, else the data's bbox."""
    geom = context.service_area().geometry
    if geom is not None:
        return geom
    grids_ = context.store().grids_frame()
    if len(grids_):
        return shapely.union_all(shapely.from_geojson(grids_["geometry"].to_numpy(dtype=object)))
    s = context.store().summary()
    if not s["requests"]:
        raise InvalidInputError("还没有诉求数据 / no requests loaded yet", field="res")
    df = context.store().requests_frame(["lng", "lat"])
    return shapely.box(df["lng"].min(), df["lat"].min(), df["lng"].max(), df["lat"].max()).buffer(0.001)


def _study(res: int, f: filters.QueryFilters) -> np.ndarray:
    area = study_polygon()
    if f.zone is not None:
        area = shapely.intersection(area, filters.zone_geometry(f.zone))
        if area.is_empty or area.area == 0:
            raise InvalidInputError("区域在研究范围之外 / the zone lies outside the study area", field="zone")
    cells_ = study_area_cells(area, res)
    if cells_.size > MAX_STUDY_CELLS:
        raise InvalidInputError(
            f"研究区域在 {res} 级有 {cells_.size} 个网格，太多，请用更粗的分辨率 / the study area has {cells_.size} "
            f"cells at res {res}; use a coarser res",
            field="res",
        )
    return cells_


def _align(study: np.ndarray, cells_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``cells_`` in the sorted ``study`` and a mask of those found."""
    pos = np.searchsorted(study, cells_)
    pos[pos == study.size] = 0
    return pos, study[pos] == cells_ if study.size else np.zeros(cells_.size, dtype=bool)


def _gi(res: int, f: filters.QueryFilters, k: int) -> dict:
    study = _study(res, f)
    totals = agg.cell_totals(context.store(), res, _agg_filters(f), tz=_tz(), taxonomy=context.taxonomy())
    pos, found = _align(study, totals["cell"].to_numpy())
    y = np.zeros(study.size)
    np.add.at(y, pos[found], totals["requests"].to_numpy(float)[found])
    result = gi_star(study, y, k)
    return {"cells": study, "n": y, "bin": result.bin, "z": result.z, "significant": result.significant,
            "reason": result.reason}


def _trend(res: int, f: filters.QueryFilters, k: int) -> dict:
    study = _study(res, f)
    frame = agg.aggregate(context.store(), res, _agg_filters(f), by_category=False, bucket="month", tz=_tz(),
                          taxonomy=context.taxonomy())
    if frame.empty:
        steps = np.zeros((study.size, 1))
    else:
        months = np.sort(frame["bucket"].unique())
        col = np.searchsorted(months, frame["bucket"].to_numpy())
        steps = np.zeros((study.size, months.size))
        pos, found = _align(study, frame["cell"].to_numpy())
        np.add.at(steps, (pos[found], col[found]), frame["requests"].to_numpy(float)[found])
    df = emerging_hot_spots(study, steps, k)
    zh = context_lang_is_zh()
    return {"cells": study, "n": steps.sum(axis=1), "trend": df["trend"].to_numpy(dtype=object),
            "label": (df["label_zh"] if zh else df["label_en"]).to_numpy(dtype=object),
            "significant": bool(df.attrs["significant"]), "reason": df.attrs["reason"], "steps": int(steps.shape[1])}


def context_lang_is_zh() -> bool:
    """Trend labels in the page's language (``lang=en`` for English)."""
    return not (request.args.get("lang") or "zh").lower().startswith("en")


@bp.get("/hotspots")
@rule("aggregates:read")
@conditional
def hotspots():
    res = _res()
    method = request.args.get("method", "gi")
    if method not in ("gi", "trend"):
        raise InvalidInputError(f"method 须为 gi 或 trend / method must be gi or trend, got {method!r}",
                                field="method")
    k = params.get_int("k", 1, 1, 3)
    f = filters.parse_filters()
    whole = dataclasses.replace(f, bbox=None)
    if method == "gi":
        out = memo("gi", _key(whole, res, k), lambda: _gi(res, whole, k))
    else:
        out = memo("trend", _key(whole, res, k, context_lang_is_zh()), lambda: _trend(res, whole, k))
    keep = in_view(out["cells"], f.bbox, res)
    # Only cells worth drawing: with requests, or significant, or with a trend class.
    if method == "gi":
        keep &= (out["n"] > 0) | (out["bin"] != 0)
    else:
        keep &= (out["n"] > 0) | (out["trend"] != "no_pattern")
    idx = np.flatnonzero(keep)
    ids = grid.cells_to_str(out["cells"][idx])
    if method == "gi":
        z = out["z"][idx]
        rows = [{"h3": h, "n": int(n), "bin": int(b), "z": None if not math.isfinite(zz) else round(zz, 3)}
                for h, n, b, zz in zip(ids, out["n"][idx].tolist(), out["bin"][idx].tolist(), z.tolist(),
                                       strict=True)]
    else:
        rows = [{"h3": h, "n": int(n), "trend": t, "label": lab}
                for h, n, t, lab in zip(ids, out["n"][idx].tolist(), out["trend"][idx].tolist(),
                                        out["label"][idx].tolist(), strict=True)]
    rows = scoping.suppress_cells(rows, withhold=True)  # low-privilege callers: small counts emptied
    body = {"ok": True, "res": res, "method": method, "k": k, "significant": out["significant"],
            "reason": out["reason"], "study_cells": int(out["cells"].size), "cells": rows}
    if method == "trend":
        body["steps"] = out["steps"]
    return jsonify(body)


# ------------------------------------------------------------------------------------------------- stats
def summary_for(f: filters.QueryFilters, area: shapely.Geometry | None = None) -> dict:
    """Totals by category and month for the filters (and an area), with the change vs the previous period."""
    af = _agg_filters(f, area)
    store, tax = context.store(), context.taxonomy()
    if _empty_zone(af):
        return {"n": 0, "by_category": [], "monthly": [], "change": None}
    frame = agg.aggregate(store, 7, af, by_category=True, bucket="month", tz=_tz(), taxonomy=tax)
    n = int(frame["requests"].sum())
    change = None
    if f.since is not None and f.until is not None:
        span = f.until - f.since
        prev_f = dataclasses.replace(af, since=f.since - span, until=f.since)
        prev = int(agg.cell_totals(store, 7, prev_f, tz=_tz(), taxonomy=tax)["requests"].sum())
        change = {"current": n, "previous": prev, "pct": None if prev == 0 else round((n - prev) / prev * 100, 1)}
    else:
        monthly = _months(frame, f)
        if len(monthly) >= 2:
            cur, prev = monthly[-1]["n"], monthly[-2]["n"]
            change = {"current": cur, "previous": prev, "period": "month",
                      "pct": None if prev == 0 else round((cur - prev) / prev * 100, 1)}
    return {"n": n, "by_category": _by_category(frame), "monthly": _months(frame, f), "change": change,
            "unplaced": int(frame.attrs.get("unplaced_requests", 0))}


@bp.get("/stats")
@rule("aggregates:read")
@conditional
def stats():
    f = filters.parse_filters()
    area = shapely.box(*f.bbox) if f.bbox is not None else None
    return jsonify({"ok": True, **scoping.suppress_summary(memo("stats", _key(f), lambda: summary_for(f, area)))})


@bp.get("/zones/<int:zone_id>/stats")
@rule("zones:read")
@conditional
def zone_stats(zone_id: int):
    st = context.store()
    zone = shapely.from_geojson(st.get_zone(zone_id)["geometry"])
    f = dataclasses.replace(filters.parse_filters(allow_bbox=False), zone=zone_id)

    def build() -> dict:
        out = summary_for(f)
        households = households_in(zone, st.grids_frame())
        out["households"] = round(households, 1) if households else None
        out["per_100"] = None if not households else round(out["n"] / households * 100, 3)
        return out

    return jsonify({"ok": True, "zone_id": zone_id, **scoping.suppress_summary(memo("zone_stats", _key(f), build))})
