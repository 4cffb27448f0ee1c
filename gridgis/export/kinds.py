"""What each export KIND contains: the frame built from the library's analytics, under the privacy policy.

KINDS — cells, hotspots, trends, projects, zones, grids, requests — are built only from library
functions (:func:`~gridgis.heatmap.aggregate.aggregate`, Gi*, emerging hot spots, project candidates,
the store's tables); :func:`export` writes one through :func:`gridgis.export.write` and records it in
the audit log. The privacy policy (DOMAIN.md §9), the same as the OGC API's:

- **requests**: :func:`gridgis.privacy.public_requests` — no names or phones, texts scrubbed and hidden
  for sensitive categories (CARE), addresses cut to 小区/栋, points at their cell's centre when
  ``export_snap_points`` (a bbox then matches the published point, not the exact one).
- **aggregates** (``export_min_count_k`` = k): cells and project candidates with fewer than k requests
  are left out; hot-spot and trend cells keep their class but a count below k is withheld (empty).
- **grids / zones**: the grid worker's name, free attributes and who drew a zone stay inside.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import and_

from gridgis import grid
from gridgis.config import Settings
from gridgis.errors import InvalidInputError, UnsupportedFormatError
from gridgis.heatmap.filters import Filters
from gridgis.privacy import suppress_small_counts
from gridgis.storage import Store

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("cells", "hotspots", "trends", "projects", "zones", "grids", "requests")
RASTER_KINDS: dict[str, str] = {"cells": "requests", "hotspots": "z"}
"""Kinds that also export as a GeoTIFF surface, and the value their band 1 carries."""
FORMATS: tuple[str, ...] = ("geojson", "csv", "gpkg", "tif")
EDGE_KM = {7: 1.406, 8: 0.531, 9: 0.201, 10: 0.0759}  # average H3 edge: cells "in" a bbox reach it
REQUEST_COLUMNS = ["id", "created_at", "text", "address", "category", "request_type", "status", "lng", "lat",
                   "grid_code", "cell", "geocode_level", "duplicate_of", "source", "reporter_name"]
# reporter_name is read only so public_requests can mask it where a reporter wrote it into the text.


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInputError(f"未知的导出类型 {kind!r}，可选：{', '.join(KINDS)} / unknown export kind "
                                f"{kind!r}; choose one of {', '.join(KINDS)}", field="kind")
    return kind


def check_format(kind: str, fmt: str) -> str:
    """The format (a suffix without dot) if ``kind`` can be written in it."""
    fmt = fmt.lower().lstrip(".")
    fmt = "tif" if fmt == "tiff" else fmt
    if fmt not in FORMATS:
        raise UnsupportedFormatError(f"不支持的导出格式 {fmt!r}，可选：{', '.join(FORMATS)} / unsupported export "
                                     f"format {fmt!r}; choose one of {', '.join(FORMATS)}", field="format")
    if fmt == "tif" and kind not in RASTER_KINDS:
        raise UnsupportedFormatError(f"GeoTIFF 只用于 {', '.join(RASTER_KINDS)}，{kind} 请用 geojson/csv/gpkg / "
                                     f"GeoTIFF surfaces exist for {', '.join(RASTER_KINDS)} only; export {kind} as "
                                     "geojson, csv or gpkg", field="format")
    return fmt


def _taxonomy(settings: Settings, taxonomy):
    from gridgis.taxonomy import Taxonomy

    return taxonomy if taxonomy is not None else Taxonomy.load(settings.taxonomy_file)


def _in_bbox(cells: np.ndarray, bbox, res: int) -> np.ndarray:
    """Cells whose centre lies within one edge of the bbox: every hexagon the box touches (as the map draws)."""
    if bbox is None or not cells.size:
        return np.ones(cells.size, dtype=bool)
    x0, y0, x1, y1 = bbox
    lat, lng = grid.cell_centers(cells)
    dy = EDGE_KM[res] / 110.574
    dx = EDGE_KM[res] / (111.320 * max(np.cos(np.radians((y0 + y1) / 2)), 0.01))
    return (lng >= x0 - dx) & (lng <= x1 + dx) & (lat >= y0 - dy) & (lat <= y1 + dy)


# -------------------------------------------------------------------------------------------- aggregates
def _cells(store, settings, f, *, res, bbox, k, tax, by_category: bool = False, **_):
    from gridgis.heatmap.aggregate import aggregate

    df = aggregate(store, res, f, by_category=by_category, tz=settings.timezone, taxonomy=tax)
    df = suppress_small_counts(df[_in_bbox(df["cell"].to_numpy(np.uint64), bbox, res)], k)
    cols = ["cell", "cell_id", *(["category"] if by_category else []), "requests", "issues", "households",
            "rate_per_100_households"]
    out = df[cols].sort_values(["requests", "cell_id"], ascending=[False, True], kind="stable")
    out.insert(2, "res", np.int64(res))
    return out.reset_index(drop=True), {"suppressed": df.attrs["suppressed"]}


def _gi_inputs(store, settings, f, res, tax, rings):
    from gridgis.heatmap.aggregate import cell_totals
    from gridgis.heatmap.hotspots import fill_values
    from gridgis.heatmap.study import study_cells

    totals = cell_totals(store, res, f, tz=settings.timezone, taxonomy=tax)
    study = study_cells(store, settings, f, res, k=rings, data_cells=totals["cell"].to_numpy(np.uint64))
    return study, fill_values(study, totals["cell"].to_numpy(np.uint64), totals["requests"].to_numpy(float))


def _hotspots(store, settings, f, *, res, bbox, k, tax, rings: int = 1, **_):
    from gridgis.heatmap.hotspots import gi_star

    study, y = _gi_inputs(store, settings, f, res, tax, rings)
    r = gi_star(study, y, rings)
    # The cells worth a row: with requests or significant (the rest of the study area is all zeros).
    keep = ((y > 0) | (r.bin != 0)) & _in_bbox(study, bbox, res)
    idx = np.flatnonzero(keep)
    labels = {3: ("热点 99%", "hot 99%"), 2: ("热点 95%", "hot 95%"), 1: ("热点 90%", "hot 90%"),
              0: ("不显著", "not significant"), -1: ("冷点 90%", "cold 90%"), -2: ("冷点 95%", "cold 95%"),
              -3: ("冷点 99%", "cold 99%")}
    bins = r.bin[idx].astype(np.int64)
    out = pd.DataFrame({
        "cell": study[idx], "cell_id": pd.array(grid.cells_to_str(study[idx]), dtype="str"),
        "res": np.full(idx.size, res, dtype=np.int64), "requests": y[idx].astype(np.int64),
        "z": r.z[idx], "p": r.p[idx], "bin": bins,
        "class_zh": pd.array([labels[b][0] for b in bins.tolist()], dtype="str"),
        "class_en": pd.array([labels[b][1] for b in bins.tolist()], dtype="str"),
    })
    out = suppress_small_counts(out, k, withhold=True)
    return out, {"suppressed": out.attrs["suppressed"], "significant": r.significant, "reason": r.reason}


def _trends(store, settings, f, *, res, bbox, k, tax, rings: int = 1, bucket: str = "week", **_):
    from gridgis.heatmap.aggregate import aggregate
    from gridgis.heatmap.emerging import NO_PATTERN, emerging_hot_spots
    from gridgis.heatmap.study import analysis_span, space_time_cube, study_cells

    tz = settings.timezone
    df = aggregate(store, res, f, by_category=False, bucket=bucket, tz=tz, taxonomy=tax)
    study = study_cells(store, settings, f, res, k=rings, data_cells=df["cell"].to_numpy(np.uint64))
    cube = space_time_cube(df, study, analysis_span(store, f), bucket, tz)
    t = emerging_hot_spots(study, cube, k=rings)
    n = cube.sum(axis=1)
    keep = ((n > 0) | (t["trend"].to_numpy(dtype=object) != NO_PATTERN)) & _in_bbox(study, bbox, res)
    t = t[keep].reset_index(drop=True)
    t.insert(1, "cell_id", pd.array(grid.cells_to_str(study[keep]), dtype="str"))
    t.insert(2, "res", np.int64(res))
    significant = t.attrs.get("significant")
    t.insert(3, "requests", n[keep].astype(np.int64))
    t = suppress_small_counts(t, k, withhold=True)
    return t, {"suppressed": t.attrs["suppressed"], "significant": significant, "steps": int(cube.shape[1])}


def _projects(store, settings, f, *, res, bbox, k, tax, rings: int = 1, **_):
    from gridgis.export.candidates import public_candidates
    from gridgis.heatmap.projects import find_candidates

    t = suppress_small_counts(find_candidates(store, settings, f, res=res, k=rings, taxonomy=tax).table, k)
    suppressed = t.attrs["suppressed"]
    if bbox is not None:
        t = t[shapely.intersects(t.geometry.to_numpy(), shapely.box(*bbox))]
    t = public_candidates(store, t, res).drop(columns=["cell_ids"]).reset_index(drop=True)
    return t, {"suppressed": suppressed}


# ------------------------------------------------------------------------------------------ small tables
def _iso(epochs, tz: str) -> pd.Series:
    return pd.to_datetime(pd.Series(epochs, dtype="int64"), unit="s", utc=True).dt.tz_convert(tz)


def _shapes(geojson: pd.Series) -> np.ndarray:
    return shapely.from_geojson(geojson.astype(str).to_numpy()) if len(geojson) else np.empty(0, dtype=object)


def _clip(gdf, bbox):
    return gdf if bbox is None else gdf[shapely.intersects(gdf.geometry.to_numpy(), shapely.box(*bbox))]


def _zones(store, settings, f, *, bbox, **_):
    import geopandas as gpd

    from gridgis.privacy import mask_known_names, scrub_text
    from gridgis.storage.schema import requests as r

    z = store.zones_frame()
    # Staff notes may quote a resident: numbers masked, and the names of reporters inside the zones.
    names: set[str] = set()
    for x0, y0, x1, y1 in z[["min_lng", "min_lat", "max_lng", "max_lat"]].to_numpy(float).tolist():
        got = store.requests_frame(["reporter_name"], where=and_(r.c.lng.between(x0, x1), r.c.lat.between(y0, y1)))
        names |= {n.strip() for n in got["reporter_name"].dropna().astype(str) if len(n.strip()) >= 2}
    notes = mask_known_names(scrub_text(z["notes"]), names)
    out = gpd.GeoDataFrame({
        "id": z["id"].to_numpy(np.int64), "name": z["name"].astype("str"), "category": z["category"].astype("str"),
        "priority": pd.array(z["priority"].to_numpy(), dtype="Int64"), "notes": notes.astype("str"),
        "created_at": _iso(z["created_at"], settings.timezone), "updated_at": _iso(z["updated_at"], settings.timezone),
        "version": pd.array(z["version"].to_numpy(), dtype="Int64"),
    }, geometry=_shapes(z["geometry"]), crs="EPSG:4326")
    return _clip(out, bbox).reset_index(drop=True), {}


def _grids(store, settings, f, *, bbox, **_):
    import geopandas as gpd

    g = store.grids_frame()
    out = gpd.GeoDataFrame({
        "grid_code": g["grid_code"].astype("str"), "name": g["name"].astype("str"),
        "community": g["community"].astype("str"), "subdistrict": g["subdistrict"].astype("str"),
        "households": pd.array(g["households"].to_numpy(), dtype="Int64"),
    }, geometry=_shapes(g["geometry"]), crs="EPSG:4326")
    return _clip(out, bbox).reset_index(drop=True), {}


# ------------------------------------------------------------------------------------------------ requests
def _request_where(f: Filters, bbox):
    from gridgis.storage.schema import requests as r

    conds = []
    if f.since is not None:
        conds.append(r.c.created_at >= int(np.floor(f.since.timestamp())))
    if f.until is not None:
        conds.append(r.c.created_at < int(np.ceil(f.until.timestamp())))
    for col, values in ((r.c.category, f.categories), (r.c.request_type, f.request_types),
                        (r.c.status, f.statuses), (r.c.grid_code, f.grids)):
        if values:
            conds.append(col.in_(values))
    if f.collapse_duplicates:
        conds.append(r.c.duplicate_of.is_(None))
    boxes = [b for b in (bbox, f.zone.bounds if f.zone is not None else None) if b is not None]
    for x0, y0, x1, y1 in boxes:
        # Padded by a fine cell: a snapped point may sit in the box while the exact one does not.
        pad = 0.002
        conds.append(and_(r.c.lng.between(x0 - pad, x1 + pad), r.c.lat.between(y0 - pad, y1 + pad)))
    return and_(*conds) if conds else None


def _requests(store, settings, f, *, bbox, tax, snap: bool, **_):
    import geopandas as gpd

    from gridgis.privacy import public_requests

    rows = store.requests_frame(REQUEST_COLUMNS, where=_request_where(f, bbox))
    if f.zone is not None and len(rows):  # the zone holds the exact point, as aggregate() counts it
        rows = rows[shapely.intersects_xy(f.zone, rows["lng"].to_numpy(float), rows["lat"].to_numpy(float))]
    names = {c.code: c.name_zh for c in tax.categories}
    pub = public_requests(rows, category_names=names, snap_points=snap)
    lng, lat = pub["lng"].to_numpy(float), pub["lat"].to_numpy(float)
    if bbox is not None:  # on the published point: shrinking boxes must not locate the exact one
        inside = (lng >= bbox[0]) & (lng <= bbox[2]) & (lat >= bbox[1]) & (lat <= bbox[3])
        pub, lng, lat = pub[inside], lng[inside], lat[inside]
    out = pd.DataFrame({
        "id": pub["id"].astype("str"), "created_at": pub["created_at"].dt.tz_convert(settings.timezone),
        "category": pub["category"].astype("str"),
        "category_name": pub["category"].map(names).fillna(pub["category"]).astype("str"),
        "request_type": pub["request_type"].astype("str"), "status": pub["status"].astype("str"),
        "text": pub["text"].astype("str"), "address": pub["address"].astype("str"),
        "grid_code": pub["grid_code"].astype("str"),
        "cell_id": pd.array(grid.cells_to_str(pub["cell"].to_numpy(np.int64).astype(np.uint64)), dtype="str"),
        "geocode_level": pub["geocode_level"].astype("str"), "duplicate_of": pub["duplicate_of"].astype("str"),
        "source": pub["source"].astype("str"), "lng": lng.round(7), "lat": lat.round(7),
    })
    out = out.reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(lng, lat), crs="EPSG:4326"), {"snapped": snap}


_BUILDERS = {"cells": _cells, "hotspots": _hotspots, "trends": _trends, "projects": _projects,
             "zones": _zones, "grids": _grids, "requests": _requests}


def export_frame(store: Store, settings: Settings, kind: str, filters: Filters | None = None, *,
                 res: int = 10, bbox: tuple[float, float, float, float] | None = None, snap: bool | None = None,
                 taxonomy=None, **opts: Any) -> tuple[pd.DataFrame, dict]:
    """The frame of one export KIND under the privacy policy, and its meta (kind, rows, k, suppressed …).

    ``filters`` are the analytics filters (checked here); ``res`` the H3 resolution of cells, hot
    spots, trends and projects; ``bbox`` (lng/lat) keeps what touches it; ``snap`` overrides
    ``export_snap_points``. ``opts``: ``by_category`` (cells), ``rings`` (Gi* neighbourhood),
    ``bucket`` (trends: week or month).
    """
    from gridgis.heatmap.aggregate import RESOLUTIONS
    from gridgis.heatmap.filters import check_filters

    check_kind(kind)
    unknown = set(opts) - {"by_category", "rings", "bucket"}
    if unknown:
        raise InvalidInputError(f"未知的导出参数 / unknown export option: {sorted(unknown)[0]}",
                                field=sorted(unknown)[0])
    res = grid.check_resolution(res, RESOLUTIONS, name="res")
    fine = int(store.get_meta("h3_resolution", str(settings.h3_resolution)))
    if res > fine:
        raise InvalidInputError(f"分辨率 {res} 细于存储的 {fine} 级 / res {res} is finer than the stored {fine}",
                                field="res")
    if bbox is not None:
        x0, y0, x1, y1 = (float(v) for v in bbox)
        if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
            raise InvalidInputError("bbox 须为 min_lng,min_lat,max_lng,max_lat / bbox must be "
                                    "min_lng,min_lat,max_lng,max_lat in WGS84", field="bbox")
        bbox = (x0, y0, x1, y1)
    tax = _taxonomy(settings, taxonomy)
    codes = store.categories_frame()["code"].tolist() or None
    f = check_filters(filters or Filters(), tz=settings.timezone, categories=codes, taxonomy=tax)
    k = int(settings.export_min_count_k)
    snap = bool(settings.export_snap_points if snap is None else snap)
    frame, extra = _BUILDERS[kind](store, settings, f, res=res, bbox=bbox, k=k, tax=tax, snap=snap, **opts)
    meta = {"kind": kind, "rows": len(frame), "k": k, "res": res if kind not in ("zones", "grids", "requests")
            else None, **extra}
    return frame, meta


def audit_filters(filters: Filters | None, **more: Any) -> dict:
    """The filters as a flat JSON-ready dict for the audit log (empty ones left out)."""
    out: dict = {}
    if filters is not None:
        for fld in dataclasses.fields(filters):
            v = getattr(filters, fld.name)
            if v is None or v == () or v is False:
                continue
            if fld.name == "zone":
                v = [round(b, 6) for b in v.bounds]
            out[fld.name] = list(v) if isinstance(v, tuple) else str(v) if isinstance(v, pd.Timestamp) else v
    out.update({k: v for k, v in more.items() if v is not None})
    return out


def export(store: Store, settings: Settings, kind: str, path: str | Path, filters: Filters | None = None, *,
           who: str | None, crs: str | None = None, bom: bool = True, audit_extra: Mapping | None = None,
           **opts: Any) -> dict:
    """Build KIND, write it to ``path`` (format by suffix; ``crs`` for .gpkg/.tif, ``bom`` for .csv) and
    record it in the audit log as ``export.<kind>`` by ``who``. Returns the meta (with ``path``)."""
    from gridgis import audit
    from gridgis.export import check_path, write

    check_kind(kind)
    p = check_path(path)
    fmt = check_format(kind, p.suffix)
    if crs and fmt not in ("gpkg", "tif"):
        raise InvalidInputError("crs 只用于 .gpkg 和 .tif；GeoJSON 与 CSV 总是 WGS84 经纬度 / crs applies to .gpkg "
                                "and .tif only: GeoJSON (RFC 7946) and CSV are always WGS84 lng/lat", field="crs")
    frame, meta = export_frame(store, settings, kind, filters, **opts)
    options: dict = {}
    if fmt == "gpkg":
        options["crs"] = crs or "EPSG:4326"
        options["layer"] = kind
    elif fmt == "csv":
        options["bom"] = bool(bom)
    elif fmt == "tif":
        options.update(value=RASTER_KINDS[kind], by_category=False)
        if crs:
            options["crs"] = crs
    write(frame, p, **options)
    meta.update(path=str(p), format=fmt, crs=options.get("crs", "EPSG:4326" if fmt != "tif" else "EPSG:3857"))
    audit.record(store, who, f"export.{kind}", {**audit_filters(filters, res=meta["res"], bbox=opts.get("bbox"),
                                                                 format=fmt, crs=meta["crs"]),
                                                **dict(audit_extra or {})}, meta["rows"])
    log.info("export.%s by %s: %d rows to %s", kind, who, meta["rows"], p)
    return meta
