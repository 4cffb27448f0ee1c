"""Aggregate and small-table collections as in-memory feature frames, with the items filters applied.

Cells, hot spots and project candidates are computed by the heatmap library for the requested
period and small enough to filter in memory (one row per cell or candidate); zones and grids are
small tables. The service keeps each frame per data version, so paging re-filters, never
recomputes. Aggregates follow the k rule (``export_min_count_k``): cells and candidates with fewer
than k requests are left out, and hot-spot request counts below k are withheld.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gridgis import grid
from gridgis.config import Settings
from gridgis.heatmap.filters import Filters
from gridgis.ogcapi.crs import bbox_boxes
from gridgis.ogcapi.query import ItemQuery
from gridgis.ogcapi.requests_source import iso_times
from gridgis.privacy import suppress_small_counts
from gridgis.storage.store import Store

CONFIDENCE = {3: ("hot-99", "热点 99% 置信 / hot spot, 99 % confidence"),
              2: ("hot-95", "热点 95% 置信 / hot spot, 95 % confidence"),
              1: ("hot-90", "热点 90% 置信 / hot spot, 90 % confidence"),
              -1: ("cold-90", "冷点 90% 置信 / cold spot, 90 % confidence"),
              -2: ("cold-95", "冷点 95% 置信 / cold spot, 95 % confidence"),
              -3: ("cold-99", "冷点 99% 置信 / cold spot, 99 % confidence")}


@dataclass
class FeatureFrame:
    """Features of one collection: ids, JSON-ready properties and CRS84 geometries, in paging order."""

    ids: np.ndarray
    props: pd.DataFrame
    geoms: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def mask(self, query: ItemQuery) -> np.ndarray:
        """Features matching the query's bbox (intersecting it) and property filters."""
        keep = np.ones(len(self), dtype=bool)
        if query.bbox is not None and len(self):
            hit = np.zeros(len(self), dtype=bool)
            for b in bbox_boxes(query.bbox):
                hit |= shapely.intersects(self.geoms, shapely.box(*b))
            keep &= hit
        for name, value in query.filters:
            col = self.props[name]
            keep &= (col == value).fillna(False).to_numpy(dtype=bool)
        return keep

    def take(self, idx: np.ndarray) -> FeatureFrame:
        return FeatureFrame(self.ids[idx], self.props.iloc[idx].reset_index(drop=True), self.geoms[idx])

    def find(self, fid: str) -> FeatureFrame:
        """The feature(s) whose id reads ``fid`` (ids compared as text: URLs carry text)."""
        return self.take(np.flatnonzero(self.ids.astype(str) == str(fid)))


def _period(time: tuple[int | None, int | None] | None, tz: str) -> Filters:
    if time is None:
        return Filters()
    lo, hi = time

    def ts(v):
        return None if v is None else pd.Timestamp(v, unit="s", tz="UTC").tz_convert(tz)

    return Filters(since=ts(lo), until=ts(hi))


def _iso(values, tz: str) -> np.ndarray:
    """UTC epoch seconds → ISO 8601 local times with offset."""
    return iso_times(pd.to_datetime(pd.Series(values, dtype="int64"), unit="s", utc=True), tz)


def cells_frame(store: Store, settings: Settings, res: int, time) -> FeatureFrame:
    """Requests and issues per cell at ``res`` over the period; cells below k left out; busiest first."""
    from gridgis.heatmap.aggregate import cell_totals

    tz = settings.timezone
    df = cell_totals(store, res, _period(time, tz), tz=tz)
    df = suppress_small_counts(df, settings.export_min_count_k)
    df = df.sort_values(["requests", "cell_id"], ascending=[False, True], kind="stable")
    props = pd.DataFrame({
        "cell_id": df["cell_id"].to_numpy(dtype=object), "res": np.full(len(df), res, dtype=np.int64),
        "requests": df["requests"].to_numpy(np.int64), "issues": df["issues"].to_numpy(np.int64),
        "households": df["households"].to_numpy(float).round(1),
        "rate_per_100_households": df["rate_per_100_households"].to_numpy(float).round(3),
    })
    geoms = grid.cells_to_polygons(df["cell"].to_numpy(np.uint64))
    return FeatureFrame(props["cell_id"].to_numpy(dtype=object), props, geoms)


def hotspots_frame(store: Store, settings: Settings, res: int, time) -> FeatureFrame:
    """Significant Gi* cells (FDR) of the study area at ``res``, strongest z first."""
    from gridgis.heatmap.aggregate import cell_totals
    from gridgis.heatmap.hotspots import fill_values, gi_star
    from gridgis.heatmap.study import study_cells

    tz = settings.timezone
    f = _period(time, tz)
    totals = cell_totals(store, res, f, tz=tz)
    study = study_cells(store, settings, f, res, data_cells=totals["cell"].to_numpy(np.uint64))
    y = fill_values(study, totals["cell"].to_numpy(np.uint64), totals["requests"].to_numpy(float))
    gi = gi_star(study, y, 1)
    sig = np.flatnonzero(gi.bin != 0)
    sig = sig[np.lexsort((study[sig], -np.abs(gi.z[sig])))]
    bins = gi.bin[sig].astype(np.int64)
    n = y[sig].astype(np.int64)
    props = pd.DataFrame({
        "cell_id": grid.cells_to_str(study[sig]), "res": np.full(sig.size, res, dtype=np.int64),
        "requests": n, "z": np.round(gi.z[sig], 3), "p": np.round(gi.p[sig], 5), "bin": bins,
        "confidence": np.array([CONFIDENCE[b][0] for b in bins.tolist()], dtype=object),
        "label": np.array([CONFIDENCE[b][1] for b in bins.tolist()], dtype=object),
    })
    props = suppress_small_counts(props, settings.export_min_count_k, withhold=True)
    return FeatureFrame(props["cell_id"].to_numpy(dtype=object), props, grid.cells_to_polygons(study[sig]))


def projects_frame(store: Store, settings: Settings, time) -> FeatureFrame:
    """Ranked project candidates with at least k requests; texts and keywords as the export publishes them
    (numbers and the candidates' reporters' names masked, sensitive texts replaced)."""
    from gridgis.export.candidates import TEXT_COLUMNS, public_candidates
    from gridgis.heatmap.projects import find_candidates

    res = 10  # find_candidates' default resolution: its cell_ids are at this resolution
    t = find_candidates(store, settings, _period(time, settings.timezone), res=res).table
    t = public_candidates(store, suppress_small_counts(t, settings.export_min_count_k), res)
    cols = ["rank", "candidate_id", "category", "category_zh", "category_en", "score", "requests", "issues",
            "households", "cells", "area_ha", "z_max", "trend", "trend_zh", "grid_names", "keywords",
            *TEXT_COLUMNS]
    props = pd.DataFrame({c: t[c].to_numpy(dtype=object if t[c].dtype.kind not in "if" else None) for c in cols})
    geoms = t.geometry.to_numpy()
    single = shapely.get_type_id(geoms) == 3
    geoms[single] = [shapely.MultiPolygon([g]) for g in geoms[single]]  # one geometry type per collection
    return FeatureFrame(props["candidate_id"].to_numpy(dtype=object), props, geoms)


def zones_frame(store: Store, settings: Settings) -> FeatureFrame:
    """Live zones, oldest first (who drew them stays inside)."""
    z = store.zones_frame()
    props = pd.DataFrame({
        "name": z["name"].astype(object), "category": z["category"].astype(object),
        "priority": pd.array(z["priority"].to_numpy(), dtype="Int64"), "notes": z["notes"].astype(object),
        "created_at": _iso(z["created_at"], settings.timezone), "updated_at": _iso(z["updated_at"], settings.timezone),
        "version": pd.array(z["version"].to_numpy(), dtype="Int64"),
    })
    geoms = shapely.from_geojson(z["geometry"].astype(str).to_numpy()) if len(z) else np.empty(0, dtype=object)
    return FeatureFrame(z["id"].to_numpy(dtype=np.int64), props, geoms)


def grids_frame(store: Store, settings: Settings) -> FeatureFrame:
    """Official grids by code; the grid worker's name and free attributes stay inside."""
    g = store.grids_frame()
    props = pd.DataFrame({
        "grid_code": g["grid_code"].astype(object), "name": g["name"].astype(object),
        "community": g["community"].astype(object), "subdistrict": g["subdistrict"].astype(object),
        "households": pd.array(g["households"].to_numpy(), dtype="Int64"),
    })
    geoms = shapely.from_geojson(g["geometry"].astype(str).to_numpy()) if len(g) else np.empty(0, dtype=object)
    return FeatureFrame(g["grid_code"].to_numpy(dtype=object), props, geoms)
