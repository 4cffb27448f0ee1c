"""GeoTIFF demand surfaces: per-cell values or a kernel density, written with rasterio in a metric CRS.

The surface is drawn in EPSG:3857 (web maps) or a CGCS2000 Gauss-Krüger zone (EPSG:4534–4554 without
the zone prefix, 4513–4533 with it) that city GIS departments use; any projected CRS in metres
works. ``method="cells"`` burns each H3 cell polygon (projected by pyproj) with its value, pixels
outside every cell are nodata. ``method="kde"`` spreads each cell's value from its centre with a
Gaussian kernel of ``bandwidth_m`` ground metres and writes requests per km². Band 1 is the total;
``categories`` add one band per category, its code as the band description.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from gridgis import grid
from gridgis.errors import InvalidInputError
from gridgis.heatmap.hotspots import check_cells

log = logging.getLogger(__name__)

METHODS = ("cells", "kde")
COMPRESSIONS = ("deflate", "lzw", "zstd", "none")
MAX_PIXELS = 100_000_000
_GK_CM_FIRST = 4534  # EPSG of the CGCS2000 3-degree GK zone with central meridian 75°E (no prefix)


def gk_zone_epsg(lng: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (no zone prefix) for a longitude in China."""
    cm = int(round(lng / 3.0)) * 3
    if not 75 <= cm <= 135:
        raise InvalidInputError(f"经度 {lng} 不在中国的高斯-克吕格分带内 / longitude {lng} is outside China's GK "
                                "zones (75°E–135°E)", field="lng")
    return _GK_CM_FIRST + (cm - 75) // 3


def check_crs(crs, lng_range: tuple[float, float] | None = None):
    """A pyproj CRS that is projected in metres and (when known) valid over the data's longitudes."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        out = CRS.from_user_input(crs)
    except CRSError as exc:
        raise InvalidInputError(f"无法识别的坐标系 {crs!r} / unknown CRS {crs!r}: use e.g. EPSG:3857 or a CGCS2000 "
                                "Gauss-Krüger zone such as EPSG:4544", field="crs") from exc
    units = {a.unit_name for a in out.axis_info}
    if not out.is_projected or not units <= {"metre", "meter"}:
        raise InvalidInputError(
            f"栅格坐标系须为以米为单位的投影坐标系，{crs} 不是；可用 EPSG:3857 或 CGCS2000 高斯-克吕格分带"
            "（如 EPSG:4544）/ "
            f"the raster CRS must be projected in metres, {crs} is not: use EPSG:3857 or a CGCS2000 "
            "Gauss-Krüger zone such as EPSG:4544",
            field="crs",
        )
    aou = out.area_of_use
    if lng_range is not None and aou is not None and (lng_range[0] < aou.west - 1.5 or lng_range[1] > aou.east + 1.5):
        hint = ""
        if 73 <= lng_range[0] <= 136:
            hint = f"; EPSG:{gk_zone_epsg(sum(lng_range) / 2)} fits these data"
        raise InvalidInputError(
            f"坐标系 {crs} 的适用经度 {aou.west}–{aou.east} 不含数据范围 {lng_range[0]:.3f}–{lng_range[1]:.3f} / "
            f"CRS {crs} is meant for longitudes {aou.west}–{aou.east}, the data span "
            f"{lng_range[0]:.3f}–{lng_range[1]:.3f}{hint}",
            field="crs",
        )
    return out


def _check_values(values, n: int, name: str) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} 须为数值 / {name} must be numeric", field=name) from exc
    if v.shape != (n,):
        raise InvalidInputError(f"{name} 须与 cells 等长 / {name} must have one value per cell ({n}), got "
                                f"shape {v.shape}", field=name)
    if not np.isfinite(v).all():
        raise InvalidInputError(f"{name} 含空值或无穷大 / {name} contains NaN or infinite values", field=name)
    return v


def frame_bands(frame: pd.DataFrame, value: str = "requests") -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(cells, totals, {category: values}) from an :func:`gridgis.heatmap.aggregate.aggregate` table."""
    if value not in frame.columns:
        raise InvalidInputError(f"表中没有列 {value} / the table has no column {value!r}", field="value")
    if "category" not in frame.columns:
        return frame["cell"].to_numpy(np.uint64), frame[value].to_numpy(float), {}
    wide = frame.pivot_table(index="cell", columns="category", values=value, aggfunc="sum", fill_value=0)
    cells = wide.index.to_numpy(np.uint64)
    bands = {str(c): wide[c].to_numpy(float) for c in wide.columns}
    return cells, wide.to_numpy(float).sum(axis=1), bands


def _grid(xmin, ymin, xmax, ymax, pixel: float, bands: int):
    from affine import Affine

    x0, y0 = math.floor(xmin / pixel) * pixel, math.floor(ymin / pixel) * pixel
    x1, y1 = math.ceil(xmax / pixel) * pixel, math.ceil(ymax / pixel) * pixel
    width, height = max(1, round((x1 - x0) / pixel)), max(1, round((y1 - y0) / pixel))
    if width * height * bands > MAX_PIXELS:
        raise InvalidInputError(
            f"栅格过大（{width}×{height}×{bands}），请增大 pixel_size / the raster would be {width}×{height}×{bands} "
            f"pixels (limit {MAX_PIXELS:,}): use a larger pixel_size",
            field="pixel_size",
        )
    return Affine(pixel, 0.0, x0, 0.0, -pixel, y1), width, height


def _surface(cells, values, *, crs, pixel_size, method, bandwidth_m, categories, nodata, compress,
             res_tags: dict) -> tuple[dict, np.ndarray, dict]:
    from pyproj import Proj, Transformer
    from rasterio import features

    cells = check_cells(cells)
    if cells.size == 0:
        raise InvalidInputError("没有网格可写 / no cells to write", field="cells")
    if np.unique(cells).size != cells.size:
        raise InvalidInputError("cells 含重复网格，请先按网格汇总 / cells has duplicates: sum per cell first",
                                field="cells")
    if method not in METHODS:
        raise InvalidInputError(f"method 须为 {', '.join(METHODS)} / method must be one of {', '.join(METHODS)}",
                                field="method")
    comp = "none" if compress is None else str(compress).lower()
    if comp not in COMPRESSIONS:
        raise InvalidInputError(f"compress 须为 {', '.join(COMPRESSIONS)} / compress must be one of "
                                f"{', '.join(COMPRESSIONS)}", field="compress")
    n = cells.size
    cats = {str(k): _check_values(v, n, f"categories[{k}]") for k, v in (categories or {}).items()}
    if values is None:
        if not cats:
            raise InvalidInputError("values 与 categories 至少给一个 / give values or categories", field="values")
        total = np.sum(list(cats.values()), axis=0)
    else:
        total = _check_values(values, n, "values")
    bands = {"total": total, **cats}
    stack = np.vstack(list(bands.values()))
    try:
        nodata = float(nodata)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"nodata 须为数值 / nodata must be a number, got {nodata!r}", field="nodata") from exc
    if (stack == nodata).any():
        raise InvalidInputError(f"有网格的值等于 nodata（{nodata}），请换一个 nodata / a cell value equals nodata "
                                f"({nodata}); choose another nodata", field="nodata")

    lat, lng = grid.cell_centers(cells)
    dst_crs = check_crs(crs, (float(lng.min()), float(lng.max())))
    to_dst = Transformer.from_crs("EPSG:4326", dst_crs, always_xy=True)
    polys = shapely.transform(grid.cells_to_polygons(cells),
                              lambda xy: np.column_stack(to_dst.transform(xy[:, 0], xy[:, 1])))
    cx, cy = to_dst.transform(lng, lat)
    cx, cy = np.asarray(cx), np.asarray(cy)
    # Regular hexagon of area A has edge sqrt(2A / (3√3)); projected units, so web-mercator stretch is kept.
    edge = math.sqrt(2 * float(np.median(shapely.area(polys))) / (3 * math.sqrt(3)))
    pixel = edge / 2 if pixel_size is None else float(pixel_size)
    if not math.isfinite(pixel) or pixel <= 0:
        raise InvalidInputError(f"pixel_size 须为正数（米）/ pixel_size must be a positive number of metres, got "
                                f"{pixel_size!r}", field="pixel_size")
    mid_lng, mid_lat = float(np.mean(lng)), float(np.mean(lat))
    factors = Proj(dst_crs).get_factors(mid_lng, mid_lat)
    scale = (factors.meridional_scale + factors.parallel_scale) / 2  # projected units per ground metre
    tags = {**res_tags, "method": method, "crs": dst_crs.to_string(), "pixel_size": f"{pixel:.3f}"}

    if method == "cells":
        xmin, ymin, xmax, ymax = shapely.total_bounds(polys)
        transform, width, height = _grid(xmin, ymin, xmax, ymax, pixel, len(bands))
        # Burn each cell's index once, then look every band's values up by index.
        index = features.rasterize(zip(polys, np.arange(1, n + 1), strict=True), out_shape=(height, width),
                                   transform=transform, fill=0, dtype="int32")
        inside = index > 0
        data = np.full((len(bands), height, width), nodata, dtype=np.float32)
        data[:, inside] = stack[:, index[inside] - 1]
        tags.setdefault("units", "requests per cell")
    else:
        bw = 2 * edge / scale if bandwidth_m is None else float(bandwidth_m)
        if not math.isfinite(bw) or bw <= 0:
            raise InvalidInputError(f"bandwidth_m 须为正数（米）/ bandwidth_m must be a positive number of metres, "
                                    f"got {bandwidth_m!r}", field="bandwidth_m")
        from scipy.ndimage import gaussian_filter

        sigma = bw * scale / pixel
        pad = 3 * bw * scale + pixel
        transform, width, height = _grid(cx.min() - pad, cy.min() - pad, cx.max() + pad, cy.max() + pad, pixel,
                                         len(bands))
        col = np.clip(((cx - transform.c) / pixel).astype(int), 0, width - 1)
        row = np.clip(((transform.f - cy) / pixel).astype(int), 0, height - 1)
        pixel_km2 = (pixel / scale) ** 2 / 1e6
        data = np.zeros((len(bands), height, width), dtype=np.float64)
        for b in range(len(bands)):
            np.add.at(data[b], (row, col), stack[b])
            data[b] = gaussian_filter(data[b], sigma=sigma, mode="constant", truncate=3.0) / pixel_km2
        data = data.astype(np.float32)
        tags["bandwidth_m"] = f"{bw:.1f}"
        tags.setdefault("units", "requests per km²")
    profile = {
        "driver": "GTiff", "dtype": "float32", "count": len(bands), "width": width, "height": height,
        "crs": dst_crs.to_wkt(), "transform": transform, "nodata": nodata,
    }
    if comp != "none":
        profile.update(compress=comp, predictor=3)
    if width >= 256 and height >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    return profile, data, {"tags": tags, "names": list(bands)}


def write_surface(
    path: str | Path,
    cells,
    values=None,
    *,
    crs: str = "EPSG:3857",
    pixel_size: float | None = None,
    method: str = "cells",
    bandwidth_m: float | None = None,
    categories: dict | None = None,
    nodata: float = -9999.0,
    compress: str | None = "deflate",
    tags: dict | None = None,
) -> dict:
    """Write the surface of ``values`` on H3 ``cells`` to a GeoTIFF; returns its size, transform and bands.

    ``pixel_size`` is in CRS units (default half the mean cell edge); ``bandwidth_m`` in ground
    metres (default two cell edges). ``tags`` are stored as GeoTIFF metadata (e.g. since/until,
    res, filters).
    """
    import rasterio

    res_tags = {str(k): str(v) for k, v in (tags or {}).items()}
    profile, data, meta = _surface(cells, values, crs=crs, pixel_size=pixel_size, method=method,
                                   bandwidth_m=bandwidth_m, categories=categories, nodata=nodata,
                                   compress=compress, res_tags=res_tags)
    p = Path(path)
    if p.parent and not p.parent.exists():
        raise InvalidInputError(f"目录不存在 {p.parent} / folder does not exist: {p.parent}", field="path")
    with rasterio.open(p, "w", **profile) as dst:
        dst.write(data)
        dst.update_tags(**meta["tags"])
        for i, name in enumerate(meta["names"], start=1):
            dst.set_band_description(i, name)
    log.info("surface %s: %d×%d, %d bands", p, profile["width"], profile["height"], profile["count"])
    return {"path": str(p), "width": profile["width"], "height": profile["height"], "count": profile["count"],
            "transform": profile["transform"], "crs": crs, "bands": meta["names"]}


def surface_bytes(cells, values=None, **kwargs) -> bytes:
    """The same GeoTIFF as :func:`write_surface`, in memory (for downloads)."""
    from rasterio.io import MemoryFile

    res_tags = {str(k): str(v) for k, v in (kwargs.pop("tags", None) or {}).items()}
    profile, data, meta = _surface(cells, values, res_tags=res_tags, **{
        "crs": "EPSG:3857", "pixel_size": None, "method": "cells", "bandwidth_m": None, "categories": None,
        "nodata": -9999.0, "compress": "deflate", **kwargs})
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data)
            dst.update_tags(**meta["tags"])
            for i, name in enumerate(meta["names"], start=1):
                dst.set_band_description(i, name)
        return mem.read()
