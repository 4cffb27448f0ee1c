"""GeoTIFF writer: a per-cell demand table (aggregate()'s) as a surface through heatmap.raster.write_surface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gridgis import grid
from gridgis.errors import InvalidInputError


def write_tif(frame: pd.DataFrame, path: Path, *, value: str = "requests", by_category: bool = True,
              **surface) -> None:
    """Band 1 the total of ``value`` per cell, one more band per category when the table has categories
    (``by_category``). ``surface`` options go to :func:`gridgis.heatmap.raster.write_surface`
    (crs, pixel_size, method, bandwidth_m, nodata, compress, tags)."""
    from gridgis.heatmap.raster import frame_bands, write_surface

    df = pd.DataFrame(frame)
    if "cell" not in df.columns or df["cell"].dtype.kind not in "iu":
        if "cell_id" not in df.columns:
            raise InvalidInputError("GeoTIFF 需要 cell 或 cell_id 列 / a GeoTIFF needs a cell or cell_id column",
                                    field="output")
        df = df.assign(cell=grid.str_to_cells(df["cell_id"].astype(str), name="cell_id"))
    if value not in df.columns:
        raise InvalidInputError(f"表中没有列 {value!r} / the table has no column {value!r}", field="value")
    if not len(df):
        raise InvalidInputError("没有网格可写，结果为空 / nothing to write: the result has no cells", field="output")
    df = df.assign(cell=df["cell"].to_numpy().astype(np.uint64))
    keys = ["cell", "category"] if by_category and "category" in df.columns else ["cell"]
    # Buckets or other keys: one value per cell (and category) for the surface.
    df = df.groupby(keys, as_index=False, sort=True)[value].sum()
    cells, totals, bands = frame_bands(df, value)
    write_surface(path, cells, totals, categories=bands or None, **surface)
