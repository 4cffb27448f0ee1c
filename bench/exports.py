"""Benchmark exports: 1,000,000 requests to GeoPackage and 100,000 cells to GeoJSON; prints figures only.

Data: the synthetic Chengdu requests of ``bench/analytics.py`` (same generator), with reporter names
and phones filled in so the privacy step does real work, in a temporary SQLite store. Its city (about
600 km², ~42,500 res-10 cells) is too small for 100,000 non-empty cells, so 60 % of the precisely
placed requests are moved to uniform points over a wider box (:data:`WIDE`, ~2,200 km² of central
Chengdu, ~146,000 res-10 cells): about 140,000 cells then hold requests, and the cells case
writes the busiest 100,000 of them.

Timed, each against a plain ``GeoDataFrame.to_file`` of the same frame in the same run (ratio =
plain ÷ ours; 1.0 = as fast, target ≥ 0.8):
- requests → .gpkg: building the frame (SQL read + privacy policy + snapping), writing it with
  ``gridgis.export.write``, and the whole ``export()`` (build + write + audit row);
- cells → .geojson: 100,000 res-10 cells of the store (k = 1) written with our RFC 7946 writer vs
  ``to_file(driver="GeoJSON")`` of the same polygons.

Run: .venv/bin/python bench/exports.py [--rows N] [--keep PATH]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analytics import BBOX, CHUNK, points, request_rows  # noqa: E402 (the shared generator)

from gridgis import grid  # noqa: E402
from gridgis.config import load_settings  # noqa: E402
from gridgis.export import write  # noqa: E402
from gridgis.export.kinds import export, export_frame  # noqa: E402
from gridgis.export.prepare import to_geodataframe  # noqa: E402
from gridgis.storage import init_db  # noqa: E402

NAMES = np.array(["张三丰", "李小明", "欧阳娜娜", "王芳", "陈伟"], dtype=object)
WIDE = (103.80, 30.42, 104.30, 30.85)  # central Chengdu, ~48 × 46 km
CELLS = 100_000


def spread(rng: np.random.Generator, rows):
    """60 % of the precisely placed rows moved to uniform points over WIDE, their cells recomputed."""
    move = (rng.random(len(rows)) < 0.6) & ~rows["geocode_level"].isin(["community", "street"]).to_numpy()
    lng, lat = rows["lng"].to_numpy(float).copy(), rows["lat"].to_numpy(float).copy()
    lng[move] = rng.uniform(WIDE[0], WIDE[2], move.sum())
    lat[move] = rng.uniform(WIDE[1], WIDE[3], move.sum())
    cells = grid.latlng_to_cells(lat, lng, 10)
    return rows.assign(lng=lng, lat=lat, orig_x=lng, orig_y=lat, cell=cells.astype(np.int64),
                       **{f"cell_{r}": grid.cells_to_parent(cells, r).astype(np.int64) for r in (9, 8, 7)})


def best(fn, runs: int = 3) -> tuple[float, object]:
    """Fastest of ``runs`` (writes are I/O bound: the minimum is the least noisy)."""
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", help="reuse/keep the SQLite file at this path")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    path = Path(args.keep) if args.keep else Path(tempfile.mkdtemp()) / "bench.sqlite3"
    out_dir = Path(tempfile.mkdtemp(prefix="gridgis-export-bench-"))
    fresh = not path.exists()
    settings = load_settings(env={}, database_url=f"sqlite:///{path}")
    store = init_db(settings)
    if fresh:
        from gridgis.demo import sync_categories

        sync_categories(store, settings)
        rng = np.random.default_rng(2025)
        centres = np.column_stack([rng.uniform(BBOX[0] + 0.01, BBOX[2] - 0.01, 600),
                                   rng.uniform(BBOX[1] + 0.01, BBOX[3] - 0.01, 600)])
        weights = rng.gamma(0.7, 1.0, 600)
        weights /= weights.sum()
        centroids = {"community": np.column_stack(points(rng, 60, centres, weights)),
                     "street": np.column_stack(points(rng, 8, centres, weights))}
        t0 = time.perf_counter()
        batch = store.insert_batch("bench", None, "b", {}, status="committed")
        for start in range(0, args.rows, CHUNK):
            rows = spread(rng, request_rows(rng, start, min(CHUNK, args.rows - start), centres, weights, centroids))
            rows["reporter_name"] = NAMES[np.arange(len(rows)) % NAMES.size]
            rows["reporter_phone"] = "13812345678"
            store.upsert_requests(batch, rows)
        print(f"stored {args.rows:,} requests in {time.perf_counter() - t0:.1f} s")
    n = store.count_requests()

    # -- requests → GeoPackage
    build_s, (frame, meta) = best(lambda: export_frame(store, settings, "requests"), 1)
    ours_s, _ = best(lambda: write(frame, out_dir / "ours.gpkg", crs="EPSG:4326", layer="requests"), args.runs)
    plain_s, _ = best(lambda: frame.to_file(out_dir / "plain.gpkg", driver="GPKG", layer="requests"), args.runs)
    full_s, _ = best(lambda: export(store, settings, "requests", out_dir / "full.gpkg", who="bench"), 1)
    print(f"requests → GPKG ({n:,} rows, snapped={meta['snapped']}):")
    print(f"  build frame (SQL + privacy): {build_s:6.2f} s  {n / build_s:12,.0f} rows/s")
    print(f"  gridgis write:               {ours_s:6.2f} s  {n / ours_s:12,.0f} rows/s")
    print(f"  plain GeoDataFrame.to_file:  {plain_s:6.2f} s  {n / plain_s:12,.0f} rows/s")
    print(f"  ratio plain/ours (write):    {plain_s / ours_s:6.2f}   (target ≥ 0.8)")
    print(f"  whole export() incl. audit:  {full_s:6.2f} s  {n / full_s:12,.0f} rows/s  "
          f"(ratio vs plain write {plain_s / full_s:.2f})")

    # -- cells → GeoJSON
    one = settings.with_overrides(export_min_count_k=1)
    cbuild_s, (cells, _) = best(lambda: export_frame(store, one, "cells", res=10), 1)
    non_empty = len(cells)
    gdf = to_geodataframe(cells.head(CELLS), "GeoJSON")  # the busiest 100,000; the same polygons for both
    m = len(gdf)
    ours_s, _ = best(lambda: write(gdf, out_dir / "ours.geojson"), args.runs)
    plain_s, _ = best(lambda: gdf.to_file(out_dir / "plain.geojson", driver="GeoJSON"), args.runs)
    print(f"cells → GeoJSON ({m:,} res-10 cells of {non_empty:,} non-empty):")
    print(f"  build frame (aggregate):     {cbuild_s:6.2f} s  {non_empty / cbuild_s:12,.0f} cells/s")
    print(f"  gridgis write (RFC 7946):    {ours_s:6.2f} s  {m / ours_s:12,.0f} rows/s  "
          f"{(out_dir / 'ours.geojson').stat().st_size / 1e6:.1f} MB")
    print(f"  plain GeoDataFrame.to_file:  {plain_s:6.2f} s  {m / plain_s:12,.0f} rows/s  "
          f"{(out_dir / 'plain.geojson').stat().st_size / 1e6:.1f} MB")
    print(f"  ratio plain/ours (write):    {plain_s / ours_s:6.2f}   (target ≥ 0.8)")
    store.close()


if __name__ == "__main__":
    main()
