"""Official community grids (网格): read polygon files, validate codes, assign points by point-in-polygon."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from gridgis.errors import InvalidInputError

GRID_CODE = re.compile(r"^\d{14,15}$")
_FIELD_ALIASES = {
    "grid_code": ("grid_code", "网格编码", "网格编号", "code", "gridcode"),
    "name": ("name", "网格名称", "名称", "grid_name"),
    "community": ("community", "社区", "所属社区"),
    "subdistrict": ("subdistrict", "街道", "所属街道", "street"),
    "grid_worker": ("grid_worker", "网格员", "worker"),
    "households": ("households", "户数", "住户数"),
}


def read_grids(path: str | Path, *, crs: str | None = None) -> pd.DataFrame:
    """Read grid polygons into rows of the ``grids`` table (geometry as GeoJSON text in WGS84).

    Grid codes are kept as strings of 14 (CJ/T 213) or 15 (Beijing local standard) digits; a code with
    another shape, a duplicate code or an invalid polygon is an error naming the feature.
    """
    import geopandas as gpd

    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"找不到网格文件 / grid file not found: {p}", field="file")
    try:
        gdf = gpd.read_file(p, columns=None)
    except Exception as exc:  # pyogrio DataSourceError etc.
        raise InvalidInputError(f"无法读取网格文件 / cannot read grid file {p}: {exc}", field="file") from exc
    if crs:
        gdf = gdf.set_crs(crs, allow_override=True)
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    lower = {str(c).strip().lower(): c for c in gdf.columns if c != "geometry"}
    cols = {}
    for field, aliases in _FIELD_ALIASES.items():
        for a in aliases:
            if a.lower() in lower:
                cols[field] = lower[a.lower()]
                break
    if "grid_code" not in cols:
        raise InvalidInputError(
            f"网格文件缺少网格编码列 / grid file {p.name} has no grid_code column "
            f"(tried {', '.join(_FIELD_ALIASES['grid_code'])})",
            field="grid_code",
        )
    codes = gdf[cols["grid_code"]].astype("string").str.strip().str.replace(r"\.0$", "", regex=True)
    problems = []
    for i, code in enumerate(codes.tolist(), start=1):
        if code is pd.NA or code is None or not GRID_CODE.match(str(code)):
            problems.append(
                f"要素 {i}: 网格编码应为14或15位数字 / feature {i}: grid_code must be 14 or 15 digits, got {code!r}")
    dup = codes[codes.duplicated(keep=False) & codes.notna()]
    if len(dup):
        problems.append(f"网格编码重复 / duplicate grid_code(s): {', '.join(sorted(set(dup.tolist())))}")
    geoms = gdf.geometry.to_numpy()
    for i, g in enumerate(geoms, start=1):
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(f"要素 {i}: 需要面要素 / feature {i}: geometry must be a polygon")
    if problems:
        raise InvalidInputError("；".join(problems[:20]),
                                field="grid_code" if "grid_code" in problems[0] else "geometry")
    geoms = shapely.make_valid(geoms)
    b = shapely.bounds(geoms)
    out = pd.DataFrame(
        {
            "grid_code": codes.astype(object).to_numpy(),
            "name": _text(gdf, cols.get("name")),
            "community": _text(gdf, cols.get("community")),
            "subdistrict": _text(gdf, cols.get("subdistrict")),
            "grid_worker": _text(gdf, cols.get("grid_worker")),
            "households": pd.to_numeric(gdf[cols["households"]], errors="coerce").astype("Int64")
            if "households" in cols else pd.array([pd.NA] * len(gdf), dtype="Int64"),
            "min_lng": b[:, 0], "min_lat": b[:, 1], "max_lng": b[:, 2], "max_lat": b[:, 3],
            "geometry": [shapely.to_geojson(g, indent=None) for g in geoms],
        }
    )
    used = set(cols.values()) | {"geometry"}
    extra = gdf[[c for c in gdf.columns if c not in used]]
    out["attributes"] = [json.dumps({k: v for k, v in r.items() if pd.notna(v)}, ensure_ascii=False, default=str)
                         for r in extra.to_dict("records")]
    out["imported_at"] = int(time.time())
    return out


def _text(gdf: pd.DataFrame, col: str | None) -> np.ndarray:
    if col is None:
        return np.full(len(gdf), None, dtype=object)
    s = gdf[col].astype("string").str.strip()
    return s.astype(object).where(s.notna(), None).to_numpy()


class GridIndex:
    """Point-in-polygon lookup over stored grids (shapely STRtree, vectorized)."""

    def __init__(self, grid_rows: pd.DataFrame) -> None:
        self.codes = grid_rows["grid_code"].to_numpy(dtype=object) if len(grid_rows) else np.empty(0, object)
        geoms = [shapely.from_geojson(g) for g in grid_rows["geometry"]] if len(grid_rows) else []
        self.geoms = np.array(geoms, dtype=object)
        self.tree = shapely.STRtree(self.geoms) if len(self.geoms) else None

    def __len__(self) -> int:
        return len(self.codes)

    def assign(self, lng, lat) -> np.ndarray:
        """Grid code per point, None where no grid contains it (first grid wins on shared edges)."""
        lng = np.asarray(lng, dtype=np.float64)
        out = np.full(lng.shape, None, dtype=object)
        if self.tree is None or lng.size == 0:
            return out
        pts = shapely.points(lng, np.asarray(lat, dtype=np.float64))
        pt_idx, grid_idx = self.tree.query(pts, predicate="intersects")
        if pt_idx.size:
            order = np.lexsort((grid_idx, pt_idx))
            pt_idx, grid_idx = pt_idx[order], grid_idx[order]
            first = np.r_[True, pt_idx[1:] != pt_idx[:-1]]
            out[pt_idx[first]] = self.codes[grid_idx[first]]
        return out


def reassign_requests(store) -> dict:
    """Re-assign every stored request to the stored grids (after a grid import). One transaction."""
    from sqlalchemy import bindparam, select, update

    from gridgis.storage.schema import requests

    index = GridIndex(store.grids_frame())
    assigned = outside = 0
    with store.write() as conn:
        pts = pd.DataFrame(conn.execute(select(requests.c.id, requests.c.lng, requests.c.lat)).all(),
                           columns=["id", "lng", "lat"])
        if len(pts):
            codes = index.assign(pts["lng"].to_numpy(), pts["lat"].to_numpy())
            stmt = update(requests).where(requests.c.id == bindparam("rid")).values(grid_code=bindparam("gc"))
            conn.execute(stmt, [{"rid": i, "gc": g} for i, g in zip(pts["id"], codes, strict=True)])
            outside = int(pd.isna(pd.Series(codes, dtype=object)).sum())
            assigned = len(pts) - outside
    return {"assigned": assigned, "outside": outside}
