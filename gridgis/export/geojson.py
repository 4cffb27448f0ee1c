"""GeoJSON (RFC 7946) writer: WGS84 lng/lat, counter-clockwise exterior rings, ≤ 7 decimals, no ``crs`` member."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import shapely

from gridgis.errors import InvalidInputError
from gridgis.export.prepare import attributes, to_geodataframe

MAX_DECIMALS = 7  # RFC 7946 §11.2: about 1 cm, more is noise


def write_geojson(frame: pd.DataFrame, path: Path, *, precision: int = MAX_DECIMALS) -> None:
    """Write features with GDAL's RFC 7946 mode (it also drops any ``crs`` member)."""
    import pyogrio

    if not isinstance(precision, int) or not 0 <= precision <= MAX_DECIMALS:
        raise InvalidInputError(f"precision 须为 0–{MAX_DECIMALS} 的整数 / precision must be an integer "
                                f"0–{MAX_DECIMALS}, got {precision!r}", field="precision")
    gdf = to_geodataframe(frame, "GeoJSON")
    if not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    gdf = attributes(gdf)
    gdf = gdf.set_geometry(shapely.orient_polygons(gdf.geometry.to_numpy(), exterior_cw=False), crs="EPSG:4326")
    pyogrio.write_dataframe(
        gdf, path, driver="GeoJSON", geometry_type=None if len(gdf) else "Unknown",
        layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": str(precision)},
    )
