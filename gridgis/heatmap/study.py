"""The study area of an analysis as H3 cells, and its space-time cube (study cells × local time buckets).

The study area is, in this order: the filter's zone, the service area from the settings, the union
of the stored grids, or — when none is configured — the k-disk around the cells with requests.
Cells with no requests inside it count as 0 for Gi*, which is what makes a hot spot stand out.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import func, select

from gridgis import grid
from gridgis.area import ServiceArea
from gridgis.config import Settings
from gridgis.heatmap import periods
from gridgis.heatmap.filters import Filters
from gridgis.heatmap.hotspots import study_area_cells
from gridgis.storage.epochs import to_epoch_seconds
from gridgis.storage.schema import requests

if TYPE_CHECKING:
    from gridgis.heatmap.sources import DemandSource
    from gridgis.storage.store import Store

log = logging.getLogger(__name__)


def study_polygon(store: Store | DemandSource, settings: Settings, filters: Filters):
    """The zone, else the service area, else the union of the grids (lng/lat), else None. ``store`` is
    anything with ``grids_frame()``: a Store or a :class:`~gridgis.heatmap.sources.DemandSource`."""
    if filters.zone is not None:
        return filters.zone
    area = ServiceArea.from_settings(settings).geometry
    if area is not None:
        return area
    g = store.grids_frame()
    if len(g):
        return shapely.union_all(shapely.from_geojson(g["geometry"].astype(str).to_numpy()))
    return None


def study_cells(store: Store | DemandSource, settings: Settings, filters: Filters, res: int, *, k: int = 1,
                data_cells: np.ndarray | None = None) -> np.ndarray:
    """Sorted uint64 cells of the study area at ``res``; ``data_cells`` (cells with requests) are only
    needed when no zone, service area or grid exists."""
    area = study_polygon(store, settings, filters)
    if area is not None:
        return study_area_cells(area, res)
    cells = np.unique(np.asarray(data_cells if data_cells is not None else [], dtype=np.uint64))
    log.info("no zone, service area or grids: the study area is the %d-disk around %d cells with requests",
             k, cells.size)
    if not cells.size:
        return cells
    return np.unique(grid.grid_disk_pairs(cells, k)[1])


def analysis_span(store: Store, filters: Filters) -> tuple[int, int] | None:
    """[lo, hi) epoch seconds of an analysis: the filter's ends, or the data's where open; None if empty."""
    f = filters
    lo = None if f.since is None else int(np.floor(pd.Timestamp(f.since).timestamp()))
    hi = None if f.until is None else int(np.ceil(pd.Timestamp(f.until).timestamp()))
    if lo is None or hi is None:
        with store.read() as conn:
            first, last = conn.execute(select(func.min(requests.c.created_at), func.max(requests.c.created_at))).one()
        lo = first if lo is None else lo
        hi = (None if last is None else int(last) + 1) if hi is None else hi
    if lo is None or hi is None or lo >= hi:
        return None
    return int(lo), int(hi)


def bucket_steps(span: tuple[int, int] | None, bucket: str, tz: str) -> tuple[int, int]:
    """(index of the first local bucket, number of buckets) covering the span; (0, 0) without one."""
    if span is None:
        return 0, 0
    first, last = periods.bucket_of_day(periods.local_days_of_epochs([span[0], span[1] - 1], tz), bucket)
    return int(first), int(last - first + 1)


def bucket_starts(span: tuple[int, int] | None, bucket: str, tz: str) -> pd.DatetimeIndex:
    """Local start of every bucket covering the span."""
    first, n = bucket_steps(span, bucket, tz)
    return periods.bucket_starts(np.arange(first, first + n), bucket, tz)


def space_time_cube(frame: pd.DataFrame, study: np.ndarray, span: tuple[int, int] | None, bucket: str, tz: str,
                    value: str = "requests") -> np.ndarray:
    """(study cells × buckets) sums of ``value`` from a bucketed aggregate() table (``cell``, ``bucket``);
    rows outside the study area or the span are dropped. At least one bucket wide."""
    first, n = bucket_steps(span, bucket, tz)
    out = np.zeros((study.size, max(n, 1)))
    cells = frame["cell"].to_numpy(np.uint64)
    if not cells.size or not study.size:
        return out
    days = periods.local_days_of_epochs(to_epoch_seconds(pd.Series(frame["bucket"])), tz)
    steps = np.asarray(periods.bucket_of_day(days, bucket), dtype=np.int64) - first
    pos = np.searchsorted(study, cells)
    pos[pos == study.size] = 0
    ok = (study[pos] == cells) & (steps >= 0) & (steps < out.shape[1])
    np.add.at(out, (pos[ok], steps[ok]), frame[value].to_numpy(float)[ok])
    return out
