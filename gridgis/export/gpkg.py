"""GeoPackage writer for city GIS deliveries: EPSG:4326 by default, CGCS2000 (EPSG:4490) or a Gauss-Krüger zone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gridgis.errors import InvalidInputError
from gridgis.export.prepare import attributes, to_geodataframe


def target_crs(crs, gdf):
    """A pyproj CRS from ``crs``; ``"GK"`` picks the CGCS2000 3-degree zone of the data's centre."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if isinstance(crs, str) and crs.strip().upper() in ("GK", "CGCS2000-GK"):
        from gridgis.heatmap.raster import gk_zone_epsg

        lng = float(gdf.to_crs("EPSG:4326").geometry.union_all().centroid.x) if len(gdf) else 105.0
        return CRS.from_epsg(gk_zone_epsg(lng))
    try:
        return CRS.from_user_input(crs)
    except CRSError as exc:
        raise InvalidInputError(
            f"无法识别的坐标系 {crs!r}，可用 EPSG:4326、EPSG:4490（CGCS2000）或高斯-克吕格分带如 EPSG:4544 / "
            f"unknown CRS {crs!r}: use EPSG:4326, EPSG:4490 (CGCS2000) or a Gauss-Krüger zone such as EPSG:4544",
            field="crs",
        ) from exc


def write_gpkg(frame: pd.DataFrame, path: Path, *, crs="EPSG:4326", layer: str | None = None) -> None:
    """One layer (default: the file's stem) in ``crs``."""
    import pyogrio

    gdf = to_geodataframe(frame, "GeoPackage")
    gdf = gdf.to_crs(target_crs(crs, gdf))
    gdf = attributes(gdf)
    pyogrio.write_dataframe(gdf, path, layer=layer or path.stem, driver="GPKG",
                            geometry_type=None if len(gdf) else "Unknown")
