"""What every export does to a table first: PII columns out, H3 cells as hex ids, times as ISO 8601."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from gridgis import grid
from gridgis.errors import InvalidInputError

PII_COLUMNS = ("reporter_name", "reporter_phone")
"""Personal data that never leaves the store through an export (PIPL minimisation)."""


def _is_cell_column(name: str, col: pd.Series) -> bool:
    return col.dtype == np.uint64 or (col.dtype.kind == "i" and (name == "cell" or name.startswith("cell_")))


def _iso(col: pd.Series) -> pd.Series:
    """tz-aware times → "2026-03-05T19:42:00+08:00" (naive stay naive, without offset)."""
    text = col.dt.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"([+-]\d{2})(\d{2})$", r"\1:\2", regex=True)
    return text.astype("str")


def attributes(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of the attribute columns ready for any file format (geometry left untouched)."""
    df = frame.copy()
    df = df.drop(columns=[c for c in PII_COLUMNS if c in df.columns])
    geom = getattr(df, "_geometry_column_name", None)
    for name in list(df.columns):
        if name == geom:
            continue
        col = df[name]
        if _is_cell_column(str(name), col):
            hexes = grid.cells_to_str(col.to_numpy().astype(np.uint64))
            if name == "cell" and "cell_id" in df.columns:
                df = df.drop(columns=[name])  # the hex twin is already there
            else:
                df[name] = pd.array(hexes, dtype="str")
        elif isinstance(col.dtype, pd.DatetimeTZDtype) or col.dtype.kind == "M":
            df[name] = _iso(col)
        elif col.dtype == object and col.map(lambda v: isinstance(v, list | tuple | dict | set)).any():
            df[name] = col.map(lambda v: json.dumps(list(v) if isinstance(v, set | tuple) else v, ensure_ascii=False)
                               if isinstance(v, list | tuple | dict | set) else v)
    return df


def to_geodataframe(frame: pd.DataFrame, fmt: str):
    """The frame as a GeoDataFrame in EPSG:4326 unless it already has a CRS: its own geometry, else cell
    polygons from ``cell``/``cell_id``, else points from ``lng``/``lat``."""
    import geopandas as gpd

    if isinstance(frame, gpd.GeoDataFrame) and frame._geometry_column_name in frame.columns:
        gdf = frame
        return gdf if gdf.crs is not None else gdf.set_crs("EPSG:4326")
    if "cell" in frame.columns and frame["cell"].dtype.kind in "iu":
        geoms = grid.cells_to_polygons(frame["cell"].to_numpy().astype(np.uint64))
    elif "cell_id" in frame.columns:
        geoms = grid.cells_to_polygons(grid.str_to_cells(frame["cell_id"].astype(str), name="cell_id"))
    elif {"lng", "lat"} <= set(frame.columns):
        geoms = gpd.points_from_xy(frame["lng"].to_numpy(float), frame["lat"].to_numpy(float))
    else:
        raise InvalidInputError(
            f"{fmt} 需要几何：表中没有 geometry、cell/cell_id 或 lng/lat 列 / {fmt} needs geometry: the table has "
            "no geometry, cell/cell_id or lng/lat columns",
            field="output",
        )
    return gpd.GeoDataFrame(frame.copy(), geometry=gpd.GeoSeries(np.asarray(geoms, dtype=object)), crs="EPSG:4326")
