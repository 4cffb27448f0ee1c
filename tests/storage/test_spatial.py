"""bbox and zone queries select the same rows on every backend (PostGIS on PostgreSQL, lng/lat and H3
cells on SQLite): checked against a brute-force answer on points planted on and just off the edges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from gridgis import grid
from gridgis.heatmap.aggregate import aggregate
from gridgis.heatmap.filters import Filters
from gridgis.storage.demand_counts import COARSE_MAX_RES
from tests.storage.test_store import _rows

BBOX = (104.05, 30.63, 104.06, 30.64)
# A concave zone (an L) whose edges cut through many res-10 cells
ZONE = shapely.Polygon([(104.045, 30.625), (104.066, 30.625), (104.066, 30.633), (104.055, 30.633),
                        (104.055, 30.646), (104.045, 30.646)])


def _with_points(rows: pd.DataFrame, lng, lat) -> pd.DataFrame:
    rows = rows.copy()
    n = len(lng)
    rows.loc[: n - 1, "lng"] = lng
    rows.loc[: n - 1, "lat"] = lat
    cells = grid.latlng_to_cells(rows["lat"].to_numpy(), rows["lng"].to_numpy(), 10)
    rows["cell"] = cells.astype(np.int64)
    for r in (9, 8, 7):
        rows[f"cell_{r}"] = grid.cells_to_parent(cells, r).astype(np.int64)
    return rows


def _store_rows(store, rows: pd.DataFrame) -> None:
    batch = store.insert_batch("a.csv", None, "t", {})
    assert store.upsert_requests(batch, rows)[0] == len(rows)


def test_bbox_keeps_points_on_its_edges_and_drops_those_just_outside(store):
    x0, y0, x1, y1 = BBOX
    # corners and edges (inside), and points 1e-9° to 1e-7° outside: within PostGIS's float4 box rounding
    lng = [x0, x1, x0, x1, (x0 + x1) / 2, x1 + 1e-9, x0 - 1e-7, (x0 + x1) / 2, (x0 + x1) / 2]
    lat = [y0, y1, y1, y0, y1, (y0 + y1) / 2, (y0 + y1) / 2, y1 + 1e-8, y0 - 1e-9]
    rows = _with_points(_rows(500, seed=3), lng, lat)
    _store_rows(store, rows)
    got = store.dedupe_rows(bbox=BBOX)
    inside = rows["lng"].between(x0, x1) & rows["lat"].between(y0, y1)
    assert set(got["id"]) == set(rows.loc[inside, "id"])
    assert {"t:0", "t:1", "t:2", "t:3", "t:4"} <= set(got["id"])
    assert not {"t:5", "t:6", "t:7", "t:8"} & set(got["id"])


@pytest.mark.parametrize("res", [10, 9])
def test_zone_counts_equal_the_points_inside_it(store, res):
    xy = shapely.get_coordinates(ZONE.exterior)[:-1]
    # every vertex, each edge's midpoint, and points a hair outside two edges
    edge_mid = (xy + np.roll(xy, -1, axis=0)) / 2
    lng = np.r_[xy[:, 0], edge_mid[:, 0], 104.066 + 1e-9, 104.050]
    lat = np.r_[xy[:, 1], edge_mid[:, 1], 30.628, 30.625 - 1e-9]
    rows = _with_points(_rows(1500, seed=11), lng, lat)
    rows["lng"] = np.where(np.arange(len(rows)) >= len(lng), rows["lng"] - 0.004, rows["lng"])  # spread over the L
    rows = _with_points(rows, rows["lng"].to_numpy(), rows["lat"].to_numpy())
    rows.loc[::9, "geocode_level"] = "community"  # placed only down to res 8: counted as unplaced
    rows.loc[::13, "duplicate_of"] = "t:1"
    _store_rows(store, rows)

    out = aggregate(store, res, Filters(zone=ZONE), by_category=False)
    inside = shapely.intersects_xy(ZONE, rows["lng"].to_numpy(), rows["lat"].to_numpy())
    placed = rows["geocode_level"].map(COARSE_MAX_RES).fillna(15).to_numpy() >= res
    keep = rows[inside & placed]
    want = keep.groupby(grid.cells_to_parent(keep["cell"].to_numpy(np.uint64), res)).agg(
        requests=("id", "size"), issues=("duplicate_of", lambda s: int(s.isna().sum())))
    got = out.set_index("cell")[["requests", "issues"]].sort_index()
    assert got.index.tolist() == want.index.tolist()
    assert got["requests"].tolist() == want["requests"].tolist()
    assert got["issues"].tolist() == want["issues"].tolist()
    assert out.attrs["unplaced_requests"] == int((inside & ~placed).sum())
    assert inside[: len(xy) * 2].all() and not inside[len(xy) * 2 : len(lng)].any()
