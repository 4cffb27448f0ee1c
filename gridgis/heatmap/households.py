"""Households per H3 cell, the denominator of demand rates: from the gazetteer or a population raster.

Both loaders sum households into the store's fine cells (``cell_households``, with the parents
stored for coarser levels) and by default replace what was there, so the table always holds one
consistent source.

- **Gazetteer** (CSV/XLSX/GeoJSON with name, level, lng, lat, households — the geocoder's file):
  building rows are used; an estate (小区) row only when none of its buildings carries households,
  because an estate's figure is the sum of its buildings' (counting both would double it). Door,
  community and street rows are ignored (a community total at its centroid would pile all its
  households into one cell).
- **Population raster** (people per pixel, e.g. WorldPop ``ppp``, any CRS): people ÷ persons per
  household. Pixels larger than half a cell edge are split into equal sub-pixels first, so a
  100 m pixel is shared among the cells it overlaps instead of landing whole in one.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import delete, insert

from gridgis import grid
from gridgis.crs import to_wgs84
from gridgis.errors import InvalidInputError
from gridgis.storage.epochs import now_ts
from gridgis.storage.schema import cell_households

if TYPE_CHECKING:
    from gridgis.storage.store import Store

log = logging.getLogger(__name__)

PER_HOUSEHOLD = 2.62
"""Persons per household: China's 2020 census average (第七次全国人口普查)."""
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LNG_EQ = 111_320.0
_MAX_SPLIT = 16


def _fine_resolution(store: Store) -> int:
    return int(store.get_meta("h3_resolution", "10"))


def write_households(store: Store, cells: np.ndarray, households: np.ndarray, source: str, *,
                     replace: bool = True) -> int:
    """Store households summed per fine cell; returns the number of cells written."""
    cells = np.asarray(cells, dtype=np.uint64)
    households = np.asarray(households, dtype=np.float64)
    ok = (cells != 0) & np.isfinite(households) & (households > 0)
    uniq, inv = np.unique(cells[ok], return_inverse=True)
    sums = np.bincount(inv, weights=households[ok], minlength=uniq.size)
    fine = int(grid.cell_resolution(uniq[:1])[0]) if uniq.size else _fine_resolution(store)
    frame = pd.DataFrame({"cell": uniq.astype(np.int64)})
    for r in (9, 8, 7):
        frame[f"cell_{r}"] = grid.cells_to_parent(uniq, r).astype(np.int64) if r < fine else None
    frame["households"] = sums
    frame["source"] = source
    frame["updated_at"] = now_ts()
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    with store.write() as conn:
        if replace:
            conn.execute(delete(cell_households))
        else:
            ids = frame["cell"].tolist()
            for i in range(0, len(ids), 5_000):
                conn.execute(delete(cell_households).where(cell_households.c.cell.in_(ids[i : i + 5_000])))
        if records:
            conn.execute(insert(cell_households), records)
    log.info("households: %d cells, %.0f households from %s", uniq.size, sums.sum(), source)
    return int(uniq.size)


def _column(frame: pd.DataFrame, names: tuple[str, ...]) -> pd.Series | None:
    lower = {str(c).strip().lower(): c for c in frame.columns}
    for n in names:
        if n in lower:
            return frame[lower[n]]
    return None


def load_households_from_gazetteer(store: Store, path: str | Path, crs: str = "wgs84", *, replace: bool = True) -> dict:
    """Households of the gazetteer's buildings (or estates without building figures) per fine cell.

    ``crs`` is the CRS of the file's coordinates (wgs84, gcj02, bd09 or an EPSG code). Returns
    ``{"cells", "households", "rows_used", "rows_skipped"}``.
    """
    from gridgis.ingest.readers import read_table

    table = read_table(path)
    df = table.frame
    level = _column(df, ("level", "级别", "层级"))
    hh = _column(df, ("households", "户数"))
    if level is None or hh is None:
        raise InvalidInputError(
            f"地名库 {path} 缺少列 level（级别）或 households（户数）/ gazetteer {path} needs the columns "
            "level and households",
            field="households",
        )
    lng, lat = _column(df, ("lng", "经度")), _column(df, ("lat", "纬度"))
    if lng is None or lat is None:
        if table.geometry_lng is None:
            raise InvalidInputError(f"地名库 {path} 缺少列 lng/lat（经度/纬度）/ gazetteer {path} needs lng and lat",
                                    field="lng")
        x, y = table.geometry_lng, table.geometry_lat
    else:
        x, y = pd.to_numeric(lng, errors="coerce").to_numpy(float), pd.to_numeric(lat, errors="coerce").to_numpy(float)
    level = level.astype("str").str.strip().str.lower()
    households = pd.to_numeric(hh, errors="coerce").to_numpy(float)
    name = _column(df, ("name", "名称"))
    name = (name if name is not None else pd.Series([""] * len(df))).astype("str").fillna("").str.strip()
    estate = _column(df, ("estate", "小区"))
    estate = estate.astype("str").fillna("").str.strip() if estate is not None else None
    community = _column(df, ("community", "社区"))
    community = community.astype("str").fillna("").str.strip() if community is not None else None

    has = np.isfinite(households) & (households > 0)
    building = (level == "building").to_numpy() & has
    est = (level == "estate").to_numpy() & has
    if estate is not None:
        # Same-named estates in different communities (two 金色家园) are different places.
        key = estate if community is None else community + "|" + estate
        own = estate.where(estate != "", name)
        est_key = own if community is None else community + "|" + own
        covered = est_key.isin(set(key[building])).to_numpy()
    else:
        # No estate column: an estate is covered when some building's name starts with its name
        # (锦城花园 ← 锦城花园1栋). Collect every prefix of the building names, one length at a time.
        names = name[building]
        prefixes: set[str] = set()
        for k in range(1, int(names.str.len().max() if len(names) else 0) + 1):
            prefixes.update(names.str[:k].tolist())
        covered = name.isin(prefixes).to_numpy()
    use = building | (est & ~covered)
    lng_w, lat_w = to_wgs84(x, y, crs)
    cells = grid.latlng_to_cells(lat_w, lng_w, _fine_resolution(store))
    placed = use & (cells != 0)
    skipped = int((use & (cells == 0)).sum())
    if skipped:
        log.warning("households: %d gazetteer rows without usable coordinates skipped", skipped)
    n = write_households(store, cells[placed], households[placed], "gazetteer", replace=replace)
    return {"cells": n, "households": float(households[placed].sum()), "rows_used": int(placed.sum()),
            "rows_skipped": skipped}


def load_households_from_raster(store: Store, path: str | Path, band: int = 1, per_household: float = PER_HOUSEHOLD,
                                *, bbox: tuple[float, float, float, float] | None = None,
                                replace: bool = True) -> dict:
    """Households from a population raster (people per pixel) read with rasterio.

    ``bbox`` (min_lng, min_lat, max_lng, max_lat) limits reading to the service area. Returns
    ``{"cells", "households", "pixels"}``.
    """
    import rasterio
    from affine import Affine
    from pyproj import Transformer
    from rasterio.windows import from_bounds

    try:
        per = float(per_household)
    except (TypeError, ValueError):
        per = math.nan
    if not math.isfinite(per) or per <= 0:
        raise InvalidInputError(
            f"per_household 须为正数（每户人数，如 {PER_HOUSEHOLD}）/ per_household must be a positive number "
            f"of persons per household, e.g. {PER_HOUSEHOLD}; got {per_household!r}",
            field="per_household",
        )
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"找不到人口栅格文件 {p} / population raster not found: {p}", field="path")
    with rasterio.open(p) as src:
        if not 1 <= int(band) <= src.count:
            raise InvalidInputError(
                f"波段 {band} 不存在，可用 1–{src.count} / band {band} does not exist; use 1–{src.count}",
                field="band",
            )
        if src.crs is None:
            raise InvalidInputError(f"人口栅格 {p} 没有坐标系 / population raster {p} has no CRS", field="path")
        window = None
        if bbox is not None:
            from rasterio.warp import transform_bounds

            bounds = transform_bounds("EPSG:4326", src.crs, *bbox)
            window = from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()
        data = src.read(int(band), window=window, masked=True, boundless=False)
        transform = src.transform
        if window is not None:  # the window's own origin (rasterio's window_transform warns under affine 3)
            x, y = _apply(transform, window.col_off, window.row_off)
            transform = Affine(transform.a, transform.b, x, transform.d, transform.e, y)
        crs = src.crs
    values = np.ma.filled(data.astype(np.float64), 0.0)
    values[~np.isfinite(values) | (values < 0)] = 0.0
    rows, cols = np.nonzero(values)
    if rows.size == 0:
        return {"cells": write_households(store, np.empty(0, np.uint64), np.empty(0), "raster", replace=replace),
                "households": 0.0, "pixels": 0}
    to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    fine = _fine_resolution(store)
    k = _split_factor(transform, crs, to_wgs, rows, cols, fine)
    sub = (np.arange(k) + 0.5) / k
    dx, dy = np.meshgrid(sub, sub)
    cc = (cols[:, None] + dx.ravel()[None, :]).ravel()
    rr = (rows[:, None] + dy.ravel()[None, :]).ravel()
    x, y = _apply(transform, cc, rr)
    lng, lat = to_wgs.transform(np.asarray(x), np.asarray(y))
    cells = grid.latlng_to_cells(np.asarray(lat), np.asarray(lng), fine)
    people = np.repeat(values[rows, cols] / (k * k), k * k)
    n = write_households(store, cells, people / per, "raster", replace=replace)
    return {"cells": n, "households": float(people[cells != 0].sum() / per), "pixels": int(rows.size)}


def _apply(t, col, row):
    """Pixel (col, row) → CRS coordinates with an affine transform (elementwise, arrays allowed)."""
    return t.a * col + t.b * row + t.c, t.d * col + t.e * row + t.f


def _split_factor(transform, crs, to_wgs, rows, cols, fine: int) -> int:
    """Sub-pixels per side so that one is at most half a cell edge (ground metres)."""
    r0, c0 = int(np.median(rows)), int(np.median(cols))
    x0, y0 = _apply(transform, c0, r0)
    x1, y1 = _apply(transform, c0 + 1, r0 + 1)
    (lng0, lng1), (lat0, lat1) = to_wgs.transform([x0, x1], [y0, y1])
    coslat = math.cos(math.radians(lat0))
    pixel_m = max(abs(lng1 - lng0) * _M_PER_DEG_LNG_EQ * coslat, abs(lat1 - lat0) * _M_PER_DEG_LAT)
    ring = shapely.get_coordinates(grid.cells_to_polygons(grid.latlng_to_cells([lat0], [lng0], fine))[0])
    edge_m = math.hypot((ring[1, 0] - ring[0, 0]) * _M_PER_DEG_LNG_EQ * coslat,
                        (ring[1, 1] - ring[0, 1]) * _M_PER_DEG_LAT)
    return int(min(_MAX_SPLIT, max(1, math.ceil(pixel_m / (edge_m / 2)))))
