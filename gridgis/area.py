"""The service area: which WGS84 points a deployment accepts (bbox or polygon file)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gridgis.config import Settings
from gridgis.errors import ConfigError


@dataclass(frozen=True)
class ServiceArea:
    """A WGS84 polygon; ``None`` geometry means "anywhere on Earth" (no area configured)."""

    geometry: BaseGeometry | None

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceArea:
        if settings.service_area_file:
            return cls(read_polygon_file(settings.service_area_file, "service_area_file"))
        if settings.service_area_bbox:
            return cls(shapely.box(*settings.service_area_bbox))
        return cls(None)

    def contains(self, lng, lat) -> np.ndarray:
        lng = np.asarray(lng, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        finite = np.isfinite(lng) & np.isfinite(lat)
        if self.geometry is None:
            return finite & (np.abs(lat) <= 90) & (np.abs(lng) <= 180)
        inside = np.zeros(lng.shape, dtype=bool)
        inside[finite] = shapely.contains_xy(self.geometry, lng[finite], lat[finite])
        # points exactly on the boundary count as inside
        edge = finite & ~inside
        if edge.any():
            inside[edge] = shapely.intersects_xy(self.geometry, lng[edge], lat[edge])
        return inside

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        return None if self.geometry is None else tuple(self.geometry.bounds)


def read_polygon_file(path: str | Path, setting: str) -> BaseGeometry:
    """Union of all (multi)polygons in a vector file, in WGS84."""
    import geopandas as gpd

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"找不到文件 / file not found: {p}", field=setting)
    try:
        gdf = gpd.read_file(p)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise ConfigError(f"无法读取多边形文件 / cannot read polygon file {p}: {exc}", field=setting) from exc
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    geoms = gdf.geometry[~gdf.geometry.isna() & ~gdf.geometry.is_empty]
    geoms = geoms[geoms.geom_type.isin(["Polygon", "MultiPolygon"])]
    if geoms.empty:
        raise ConfigError(f"文件中没有多边形 / no polygons in {p}", field=setting)
    return shapely.make_valid(shapely.union_all(geoms.to_numpy()))
