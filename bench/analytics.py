"""Benchmark demand aggregation on 1,000,000 stored requests; prints figures only (no assertions).

Data: 1,000,000 synthetic requests in 2025 (local time) over central Chengdu (lng 103.95–104.20,
lat 30.55–30.78): 75 % around 600 residential compounds of very different sizes, 25 % spread
evenly; skewed categories, 8 % repeat reports, 5 % coarse geocodes (on 60 community and 8 street-office
centroids, as the geocoder's fallback puts them); one grid code per res-9 cell;
households for 5,000 gazetteer buildings. Rows go straight into a temporary SQLite store through
``Store.upsert_requests`` (the demand_counts triggers run, as in a real import).

Timed (median of 9 runs after one warm-up):
- city-wide res 9 for the year 2025 by category with every metric (counts table + change vs 2024);
- the same over an unaligned 365-day window, totals per cell, monthly buckets at res 8;
- one grid's view (res 10, by category, change vs previous period) by grid code and by its polygon,
  for a typical (median) grid and for the busiest one;
- baselines in the same run: the same city query grouped over ``requests`` in SQL
  (``source="requests"``), and done naively by loading the year's rows into pandas.

Run: .venv/bin/python bench/analytics.py [--rows N] [--keep PATH]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gridgis import grid
from gridgis.config import load_settings
from gridgis.heatmap.aggregate import Filters, aggregate, cell_totals
from gridgis.heatmap.households import load_households_from_gazetteer
from gridgis.storage import init_db
from gridgis.storage.schema import requests as req_t

BBOX = (103.95, 30.55, 104.20, 30.78)
T0 = int(pd.Timestamp("2025-01-01", tz="Asia/Shanghai").timestamp())
T1 = int(pd.Timestamp("2026-01-01", tz="Asia/Shanghai").timestamp())
CATS = np.array(["SAFE", "FAC", "PROP", "PARK", "ENV", "ORDER", "CARE", "OTHER"])
CAT_P = np.array([0.06, 0.18, 0.24, 0.14, 0.18, 0.12, 0.05, 0.03])
TYPES = np.array(["投诉", "求助", "咨询", "建议", "举报", "表扬"])
TYPE_P = np.array([0.45, 0.2, 0.2, 0.08, 0.05, 0.02])
STATUSES = np.array(["new", "assigned", "in_progress", "resolved", "verified", "invalid", "duplicate"])
STATUS_P = np.array([0.05, 0.05, 0.1, 0.35, 0.35, 0.05, 0.05])
LEVELS = np.array(["source", "door", "building", "estate", "community", "street"])
LEVEL_P = np.array([0.55, 0.10, 0.15, 0.15, 0.04, 0.01])
CHUNK = 100_000


def points(rng: np.random.Generator, n: int, centres: np.ndarray, weights: np.ndarray) -> tuple:
    clustered = rng.random(n) < 0.75
    pick = rng.choice(len(centres), n, p=weights)
    sd = 300 / 111_000  # ~300 m around a compound
    lng = np.where(clustered, centres[pick, 0] + rng.normal(0, sd / 0.86, n), rng.uniform(BBOX[0], BBOX[2], n))
    lat = np.where(clustered, centres[pick, 1] + rng.normal(0, sd, n), rng.uniform(BBOX[1], BBOX[3], n))
    return np.clip(lng, BBOX[0], BBOX[2]), np.clip(lat, BBOX[1], BBOX[3])


def request_rows(rng, start: int, n: int, centres, weights, centroids) -> pd.DataFrame:
    lng, lat = points(rng, n, centres, weights)
    level = rng.choice(LEVELS, n, p=LEVEL_P)
    for name, spots in centroids.items():  # the geocoder's coarse fallbacks sit on a few centroids
        hit = level == name
        pick = rng.integers(0, len(spots), hit.sum())
        lng[hit], lat[hit] = spots[pick, 0], spots[pick, 1]
    cells = grid.latlng_to_cells(lat, lng, 10)
    c9 = grid.cells_to_parent(cells, 9)
    ids = np.char.add("b:", np.arange(start, start + n).astype(str)).astype(object)
    dup = rng.random(n) < 0.08
    dup_of = np.where(dup & (start + np.arange(n) > 0),
                      np.char.add("b:", rng.integers(0, max(start, 1), n).astype(str)).astype(object), None)
    return pd.DataFrame({
        "id": ids, "source": "b", "source_id": ids, "created_at": rng.integers(T0, T1, n),
        "text": "小区门口路灯不亮，晚上很黑，希望尽快维修", "address": "成都市武侯区芳华街12号",
        "category": rng.choice(CATS, n, p=CAT_P), "category_rule": "keyword:FAC:路灯", "source_category": None,
        "request_type": rng.choice(TYPES, n, p=TYPE_P), "status": rng.choice(STATUSES, n, p=STATUS_P),
        "lng": lng, "lat": lat, "source_crs": "wgs84", "orig_x": lng, "orig_y": lat,
        "geocode_level": level, "geocode_score": None,
        "grid_code": np.char.add("5101070010", (c9 % np.uint64(99_991)).astype(str)).astype(object),
        "cell": cells.astype(np.int64), "cell_9": c9.astype(np.int64),
        "cell_8": grid.cells_to_parent(cells, 8).astype(np.int64),
        "cell_7": grid.cells_to_parent(cells, 7).astype(np.int64), "duplicate_of": dup_of,
        "reporter_name": None, "reporter_phone": None, "extra": None, "content_hash": ids,
    })


def timed(fn, runs: int = 9) -> tuple[float, float, object]:
    fn()  # warm-up: page cache, prepared statements
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, max(times) * 1000, out


def naive_city(store, since: int, until: int) -> pd.DataFrame:
    """Baseline: every request of the year into pandas, then group there."""
    rows = store.requests_frame(["cell_9", "category", "duplicate_of", "geocode_level"],
                                where=(req_t.c.created_at >= since) & (req_t.c.created_at < until))
    rows = rows[~rows["geocode_level"].isin(["community", "street"])]
    rows["first"] = rows["duplicate_of"].isna()
    return rows.groupby(["cell_9", "category"]).agg(requests=("first", "size"), issues=("first", "sum"))


def naive_grid(store, since: int, until: int, grid_code: str) -> pd.DataFrame:
    rows = store.requests_frame(["cell", "category", "grid_code", "duplicate_of", "geocode_level"],
                                where=(req_t.c.created_at >= since) & (req_t.c.created_at < until))
    rows = rows[(rows["grid_code"] == grid_code) & ~rows["geocode_level"].isin(["community", "street"])]
    return rows.groupby(["cell", "category"]).size()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", help="reuse/keep the SQLite file at this path")
    args = ap.parse_args()
    path = Path(args.keep) if args.keep else Path(tempfile.mkdtemp()) / "bench.sqlite3"
    fresh = not path.exists()
    settings = load_settings(env={}, database_url=f"sqlite:///{path}")
    store = init_db(settings)
    rng = np.random.default_rng(2025)
    centres = np.column_stack([rng.uniform(BBOX[0] + 0.01, BBOX[2] - 0.01, 600),
                               rng.uniform(BBOX[1] + 0.01, BBOX[3] - 0.01, 600)])
    weights = rng.gamma(0.7, 1.0, 600)
    weights /= weights.sum()
    centroids = {"community": np.column_stack([rng.uniform(BBOX[0], BBOX[2], 60), rng.uniform(BBOX[1], BBOX[3], 60)]),
                 "street": np.column_stack([rng.uniform(BBOX[0], BBOX[2], 8), rng.uniform(BBOX[1], BBOX[3], 8)])}
    if fresh:
        t0 = time.perf_counter()
        batch = store.insert_batch("bench", None, "b", {}, status="committed")
        for start in range(0, args.rows, CHUNK):
            store.upsert_requests(batch, request_rows(rng, start, min(CHUNK, args.rows - start), centres, weights,
                                                                   centroids))
        load_s = time.perf_counter() - t0
        blng, blat = points(rng, 5_000, centres, weights)
        gaz = path.parent / "gazetteer.csv"
        pd.DataFrame({"name": [f"楼{i}" for i in range(5_000)], "level": "building", "lng": blng, "lat": blat,
                      "households": rng.integers(20, 200, 5_000)}).to_csv(gaz, index=False)
        load_households_from_gazetteer(store, gaz)
        print(f"stored {args.rows:,} requests in {load_s:.1f} s ({args.rows / load_s:,.0f} rows/s, "
              f"demand_counts triggers included)")
    with store.read() as conn:
        n_counts = conn.exec_driver_sql("SELECT level, COUNT(*) FROM demand_counts GROUP BY level").all()
        per_grid = conn.exec_driver_sql(
            "SELECT grid_code, COUNT(*) AS n, MIN(cell_9) FROM requests WHERE grid_code IS NOT NULL "
            "GROUP BY grid_code ORDER BY n").all()
    busiest, typical = per_grid[-1], per_grid[len(per_grid) // 2]
    print(f"requests: {store.count_requests():,}; demand_counts rows: {dict(n_counts)}; {len(per_grid):,} grids, "
          f"busiest {busiest[0]} ({busiest[1]:,} requests), typical {typical[0]} ({typical[1]:,})")

    year = Filters(since="2025-01-01", until="2026-01-01")
    window = Filters(since="2025-01-15 10:00", until="2026-01-01")

    def grid_filters(row) -> tuple[Filters, Filters]:
        # The grid's polygon: its res-9 cell widened by ~50 m, so the edge cuts through res-10 cells.
        zone = grid.cells_to_polygons(np.array([row[2]], dtype=np.uint64))[0].buffer(0.0005)
        return (Filters(since="2025-01-01", until="2026-01-01", grids=(row[0],)),
                Filters(since="2025-01-01", until="2026-01-01", zone=zone))

    (busy_code, busy_zone), (typ_code, typ_zone) = grid_filters(busiest), grid_filters(typical)
    cases = [
        ("city res 9, 2025, by category, all metrics", lambda: aggregate(store, 9, year), "city"),
        ("city res 9, unaligned 365 days", lambda: aggregate(store, 9, window), "city"),
        ("city res 9, totals per cell", lambda: cell_totals(store, 9, year), "city"),
        ("city res 8, monthly buckets", lambda: aggregate(store, 8, year, bucket="month"), "city"),
        ("city res 9 via SQL on requests (baseline)", lambda: aggregate(store, 9, year, source="requests"), "city"),
        ("city res 9 naive pandas (baseline)", lambda: naive_city(store, T0, T1), "city"),
        ("typical grid, res 10, by grid code", lambda: aggregate(store, 10, typ_code), "grid"),
        ("typical grid, res 10, by its polygon", lambda: aggregate(store, 10, typ_zone), "grid"),
        ("busiest grid, res 10, by grid code", lambda: aggregate(store, 10, busy_code), "grid"),
        ("busiest grid, res 10, by its polygon", lambda: aggregate(store, 10, busy_zone), "grid"),
        ("busiest grid naive pandas (baseline)", lambda: naive_grid(store, T0, T1, busiest[0]), "grid"),
    ]
    results = []
    for name, fn, group in cases:
        runs = 3 if "baseline" in name else 9
        med, worst, out = timed(fn, runs)
        results.append((name, group, med, worst, len(out)))
    base = {g: max(m for n, gg, m, *_ in results if gg == g and "naive" in n) for g in ("city", "grid")}
    print(f"\n{'query':<46}{'median ms':>11}{'max ms':>9}{'rows':>8}{'× faster than naive':>21}")
    for name, group, med, worst, rows in results:
        print(f"{name:<46}{med:>11.1f}{worst:>9.1f}{rows:>8}{base[group] / med:>21.1f}")
    print("\ntargets: city-wide res 9 one year < 100 ms; one grid's view < 20 ms")
    store.close()


if __name__ == "__main__":
    main()
