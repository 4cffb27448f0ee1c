"""GeoJSON (RFC 7946) writer: WGS84 lng/lat, counter-clockwise exterior rings, ≤ 7 decimals, no ``crs`` member."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from gridgis.errors import InvalidInputError
from gridgis.export.prepare import attributes, to_geodataframe

MAX_DECIMALS = 7  # RFC 7946 §11.2: about 1 cm, more is noise


def write_geojson(frame: pd.DataFrame, path: Path, *, precision: int = MAX_DECIMALS) -> None:
    """Write features in lng/lat with counter-clockwise exterior rings, ``precision`` decimals and no ``crs``
    member. We reproject and orient the rings ourselves and write without a CRS (so GDAL adds no ``crs``
    member): GDAL's RFC 7946 mode gives the same file 25 % slower. Only geometries crossing the
    antimeridian, which that mode splits, are written through it."""
    import pyogrio

    if not isinstance(precision, int) or not 0 <= precision <= MAX_DECIMALS:
        raise InvalidInputError(f"precision 须为 0–{MAX_DECIMALS} 的整数 / precision must be an integer "
                                f"0–{MAX_DECIMALS}, got {precision!r}", field="precision")
    gdf = to_geodataframe(frame, "GeoJSON")
    if not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    gdf = attributes(gdf)
    geoms = shapely.orient_polygons(gdf.geometry.to_numpy(), exterior_cw=False)
    bounds = shapely.bounds(geoms)
    crosses = bool(len(gdf)) and bool(np.nanmax(bounds[:, 2] - bounds[:, 0], initial=0) > 180)
    options = {"COORDINATE_PRECISION": str(precision), **({"RFC7946": "YES"} if crosses else {})}
    gdf = gdf.set_geometry(geoms, crs="EPSG:4326")
    if not crosses:
        gdf = gdf.set_crs(None, allow_override=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'crs' was not provided", category=UserWarning)
        pyogrio.write_dataframe(gdf, path, driver="GeoJSON", geometry_type=None if len(gdf) else "Unknown",
                                layer_options=options)
