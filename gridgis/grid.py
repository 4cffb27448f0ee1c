"""H3 cells for whole arrays: the only module that imports h3 (h3-py and the vectorized h3ronpy).

Cells are ``uint64`` numpy arrays inside gridgis and lowercase hex strings at the edges (API,
exports, UI). ``0`` marks "no cell" (missing or invalid coordinates) in arrays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import h3
import h3ronpy
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from h3ronpy import vector as h3v

from gridgis.errors import InvalidInputError

NO_CELL = np.uint64(0)
_RES_SHIFT = np.uint64(52)
_RES_MASK = np.uint64(0xF) << _RES_SHIFT
_HEX_CELL = re.compile(r"[0-9a-f]{1,16}")


def _np_u64(arr) -> np.ndarray:
    """An arro3/pyarrow uint64 array (nulls → 0) as a numpy uint64 array."""
    a = pa.array(arr)
    if a.null_count:
        a = a.fill_null(0)
    return a.to_numpy(zero_copy_only=False).astype(np.uint64, copy=False)


def check_resolution(res: int, allowed: Iterable[int] = range(0, 16), name: str = "res") -> int:
    allowed = list(allowed)
    try:
        r = int(res)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"参数 {name} 须为整数 / {name} must be an integer, got {res!r}", field=name
        ) from exc
    if r not in allowed:
        raise InvalidInputError(
            f"参数 {name} 超出范围 / {name} must be one of {allowed[0]}–{allowed[-1]}, got {r}", field=name
        )
    return r


def latlng_to_cells(lat, lng, res: int) -> np.ndarray:
    """Vectorized point → cell. Rows with NaN or out-of-range coordinates get ``0``."""
    lat = np.asarray(lat, dtype=np.float64)
    lng = np.asarray(lng, dtype=np.float64)
    out = np.zeros(lat.shape, dtype=np.uint64)
    ok = np.isfinite(lat) & np.isfinite(lng) & (np.abs(lat) <= 90) & (np.abs(lng) <= 180)
    if ok.any():
        out[ok] = _np_u64(h3v.coordinates_to_cells(lat[ok], lng[ok], int(res)))
    return out


def cell_resolution(cells) -> np.ndarray:
    cells = np.asarray(cells, dtype=np.uint64)
    return ((cells & _RES_MASK) >> _RES_SHIFT).astype(np.int8)


def cells_to_parent(cells, res: int) -> np.ndarray:
    """Parent cells at ``res`` by bit operations (identical to ``h3.cell_to_parent``; 0 stays 0)."""
    cells = np.asarray(cells, dtype=np.uint64)
    r = np.uint64(res)
    unused = np.uint64((1 << (3 * (15 - int(res)))) - 1)
    out = (cells & ~_RES_MASK) | (r << _RES_SHIFT) | unused
    return np.where(cells == 0, NO_CELL, out)


def cells_to_str(cells) -> np.ndarray:
    """uint64 cells → lowercase hex strings (object array); 0 → ''."""
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.size == 0:
        return np.empty(0, dtype=object)
    out = np.full(cells.shape, "", dtype=object)
    ok = cells != 0
    if ok.any():
        text = pa.array(h3ronpy.cells_to_string(pa.array(cells[ok]))).to_numpy(zero_copy_only=False)
        out[ok] = np.where(pd.isna(text), "", text)
    return out


def str_to_cells(values: Iterable[str], name: str = "cell") -> np.ndarray:
    """Hex strings → uint64 cells; raises InvalidInputError naming the first invalid one."""
    vals = list(values)
    out = np.empty(len(vals), dtype=np.uint64)
    for i, v in enumerate(vals):
        text = str(v).strip().lower()
        # an H3 id is at most 16 hex digits: longer text would overflow inside h3 (OverflowError, not ValueError)
        if not _HEX_CELL.fullmatch(text) or not h3.is_valid_cell(text):
            raise InvalidInputError(f"无效的 H3 编号 / invalid H3 cell id: {v!r}", field=name)
        out[i] = h3.str_to_int(text)
    return out


def cell_centers(cells) -> tuple[np.ndarray, np.ndarray]:
    """Cell centre (lat, lng) arrays."""
    cells = np.asarray(cells, dtype=np.uint64)
    rb = h3v.cells_to_coordinates(pa.array(cells))
    return (
        np.asarray(rb.column("lat").to_numpy(), dtype=np.float64),
        np.asarray(rb.column("lng").to_numpy(), dtype=np.float64),
    )


def cells_to_polygons(cells) -> np.ndarray:
    """Cell boundaries as a shapely Polygon array (lng/lat)."""
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.size == 0:
        return np.empty(0, dtype=object)
    wkb = pa.array(h3v.cells_to_wkb_polygons(pa.array(cells)))
    return shapely.from_wkb(wkb.to_numpy(zero_copy_only=False))


def grid_disk(cells, k: int = 1) -> list[np.ndarray]:
    """For each cell, its disk of radius k (the cell included)."""
    cells = np.asarray(cells, dtype=np.uint64)
    lists = pa.array(h3ronpy.grid_disk(pa.array(cells), int(k)))
    return [np.asarray(x, dtype=np.uint64) for x in lists.to_pylist()]


def grid_disk_pairs(cells, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Flattened (origin index, neighbour cell) pairs of every cell's k-disk, the cell included."""
    cells = np.asarray(cells, dtype=np.uint64)
    lists = pa.array(h3ronpy.grid_disk(pa.array(cells), int(k)))
    lengths = np.diff(lists.offsets.to_numpy())
    origin = np.repeat(np.arange(len(cells)), lengths)
    neigh = lists.flatten().to_numpy(zero_copy_only=False).astype(np.uint64)
    return origin, neigh


def polygon_to_cells(geom, res: int) -> np.ndarray:
    """Cells whose centres fall inside a (multi)polygon in lng/lat."""
    if geom is None or geom.is_empty:
        return np.empty(0, dtype=np.uint64)
    out = h3v.geometry_to_cells(geom, int(res), containment_mode=h3ronpy.ContainmentMode.ContainsCentroid)
    return np.unique(_np_u64(out))
