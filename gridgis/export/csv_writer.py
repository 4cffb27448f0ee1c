"""CSV writer: UTF-8 (with a BOM by default, so Excel opens Chinese text correctly), geometry as WKT."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import shapely

from gridgis.errors import InvalidInputError
from gridgis.export.prepare import attributes

GEOMETRY_MODES = ("wkt", "drop")


def write_csv(frame: pd.DataFrame, path: Path, *, bom: bool = True, geometry: str = "wkt") -> None:
    """Write the table; a GeoDataFrame's geometry becomes a ``wkt`` column (lng/lat, 7 decimals) or is dropped."""
    if geometry not in GEOMETRY_MODES:
        raise InvalidInputError(f"geometry 须为 wkt 或 drop / geometry must be wkt or drop, got {geometry!r}",
                                field="geometry")
    df = attributes(frame)
    geom = getattr(df, "_geometry_column_name", None)
    if geom is not None and geom in df.columns:
        g = df[geom]
        if geometry == "wkt":
            if g.crs is not None and not g.crs.equals("EPSG:4326"):
                g = g.to_crs("EPSG:4326")
            wkt = shapely.to_wkt(g.to_numpy(), rounding_precision=7, trim=True)
        df = pd.DataFrame(df.drop(columns=[geom]))
        if geometry == "wkt":
            df["wkt"] = pd.array(wkt, dtype="str")
    df.to_csv(path, index=False, encoding="utf-8-sig" if bom else "utf-8")
