"""Web map benchmark on 1,000,000 generated requests: page size/render time, /api/cells latency, first hexes.

Prints figures (no assertions):
- the cost of the data-version check behind every ETag;
- the folium page shell: HTML bytes and render time, against ``GeoDataFrame.explore()`` of the same
  res-10 cells (with their counts) in the same run (needs mapclassify; skipped without it);
- ``/api/cells`` p50/p95 over 200 sequential requests over HTTP to waitress: the whole area (res 8)
  and a zoomed phone view (res 10), each request a slightly different bbox as when a user pans (what
  the app remembers per data version is used, as in real use); then zoomed views at random places
  with the app's memory switched off (``GRIDGIS_MEMO = False``: every view counted afresh);
- throughput with 16 concurrent clients (bounded: 400 requests each), panning and uncached;
- time from navigation to the first hex layer drawn in headless Chromium (if /usr/bin/chromium exists).

The store (SQLite, rows inserted directly, ~10 x 10 official grids with households) is cached in
bench/out/ and rebuilt with --rebuild.

    .venv/bin/python bench/web.py [--rows 1000000] [--rebuild] [--no-explore]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gridgis import grid  # noqa: E402
from gridgis.config import load_settings  # noqa: E402
from gridgis.demo import sync_categories  # noqa: E402
from gridgis.storage import init_db, open_store  # noqa: E402

AREA = (103.95, 30.55, 104.20, 30.75)  # lng/lat box, ~24 km x 22 km of Chengdu
ZOOM_VIEW = (104.060, 30.640, 104.085, 30.655)  # ~2.4 km x 1.7 km, what a phone shows at zoom 15
CATS = np.array(["SAFE", "FAC", "PROP", "PARK", "ENV", "ORDER", "CARE", "OTHER"])
CAT_P = [0.06, 0.2, 0.2, 0.16, 0.14, 0.14, 0.06, 0.04]
TYPES = np.array(["咨询", "投诉", "求助", "建议", "举报"])
STATUSES = np.array(["new", "assigned", "in_progress", "resolved", "verified"])
CHROMIUM = "/usr/bin/chromium"


def settings_for(db: Path):
    # public_aggregates: the map and /api/cells open to anonymous callers (an intranet wall screen), so the
    # figures need no login; cells below export_min_count_k are then left out (remembered like the rest).
    return load_settings(env={}, database_url=f"sqlite:///{db}", service_area_bbox=AREA, base_map="blank",
                         public_aggregates=True)


def grid_frame(n: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    xs = np.linspace(AREA[0], AREA[2], n + 1)
    ys = np.linspace(AREA[1], AREA[3], n + 1)
    rows = []
    for i in range(n):
        for j in range(n):
            box = shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1])
            rows.append({"grid_code": f"5101070010{i:02d}{j:02d}", "name": f"网格{i:02d}{j:02d}", "community": None,
                         "subdistrict": None, "grid_worker": None, "households": int(rng.integers(300, 3000)),
                         "min_lng": xs[i], "min_lat": ys[j], "max_lng": xs[i + 1], "max_lat": ys[j + 1],
                         "geometry": shapely.to_geojson(box), "attributes": None, "imported_at": 1_767_225_600})
    return pd.DataFrame(rows)


def generate_rows(n: int, seed: int, start: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # 70 % uniform, 30 % in 40 hot clusters (~200 m), like real demand
    n_hot = int(n * 0.3)
    centres = np.c_[rng.uniform(AREA[0], AREA[2], 40), rng.uniform(AREA[1], AREA[3], 40)]
    which = rng.integers(0, 40, n_hot)
    lng = np.r_[rng.uniform(AREA[0], AREA[2], n - n_hot), centres[which, 0] + rng.normal(0, 0.002, n_hot)]
    lat = np.r_[rng.uniform(AREA[1], AREA[3], n - n_hot), centres[which, 1] + rng.normal(0, 0.002, n_hot)]
    lng, lat = np.clip(lng, AREA[0], AREA[2] - 1e-9), np.clip(lat, AREA[1], AREA[3] - 1e-9)
    cells = grid.latlng_to_cells(lat, lng, 10)
    gi = np.floor((lng - AREA[0]) / (AREA[2] - AREA[0]) * 10).astype(int)
    gj = np.floor((lat - AREA[1]) / (AREA[3] - AREA[1]) * 10).astype(int)
    ids = np.char.add("b:", np.arange(start, start + n).astype(str))
    return pd.DataFrame({
        "id": ids, "source": "b", "source_id": np.arange(start, start + n).astype(str),
        "created_at": 1_764_518_400 + rng.integers(0, 365 * 86400, n),
        "text": "楼下烧烤油烟太大，晚上噪音扰民", "address": None,
        "category": rng.choice(CATS, n, p=CAT_P), "category_rule": "bench", "source_category": None,
        "request_type": rng.choice(TYPES, n), "status": rng.choice(STATUSES, n), "lng": lng, "lat": lat,
        "source_crs": "wgs84", "orig_x": lng, "orig_y": lat, "geocode_level": "source", "geocode_score": None,
        "grid_code": np.char.add(np.char.add("5101070010", np.char.zfill(gi.astype(str), 2)),
                                 np.char.zfill(gj.astype(str), 2)),
        "cell": cells.astype(np.int64), "cell_9": grid.cells_to_parent(cells, 9).astype(np.int64),
        "cell_8": grid.cells_to_parent(cells, 8).astype(np.int64),
        "cell_7": grid.cells_to_parent(cells, 7).astype(np.int64), "duplicate_of": None,
        "reporter_name": None, "reporter_phone": None, "extra": None,
        "content_hash": np.char.add("h", np.arange(start, start + n).astype(str)),
    })


def build_store(db: Path, rows: int) -> None:
    for p in db.parent.glob(db.name + "*"):
        p.unlink()
    settings = settings_for(db)
    store = init_db(settings)
    sync_categories(store, settings)
    store.replace_grids(grid_frame())
    batch = store.insert_batch("bench", None, "b", {})
    t0 = time.perf_counter()
    chunk = 100_000
    for start in range(0, rows, chunk):
        store.upsert_requests(batch, generate_rows(min(chunk, rows - start), seed=start, start=start))
    store.finish_batch(batch, {"read": rows, "stored": rows})
    store.close()
    print(f"built store: {rows:,} rows in {time.perf_counter() - t0:.1f} s ({db.stat().st_size / 1e6:.0f} MB)")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def page_vs_explore(app, db: Path, do_explore: bool) -> None:
    from webmap.mapshell import render_map

    settings = app.extensions["gridgis.settings"]
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        html = render_map(settings, bounds=AREA)
        times.append(time.perf_counter() - t0)
    with app.test_client() as c:
        served = len(c.get("/").data)
    print(f"page shell (folium)        : {served:,} bytes served, render median "
          f"{statistics.median(times) * 1e3:.1f} ms ({len(html.encode()):,} bytes from build_map)")
    if not do_explore:
        return
    import geopandas as gpd

    try:
        import mapclassify  # noqa: F401  (explore() needs it to classify a column)
    except ImportError:
        print("GeoDataFrame.explore()     : skipped (pip install mapclassify)")
        return

    store = open_store(settings)
    with store.read() as conn:
        cells = np.asarray([r[0] for r in conn.exec_driver_sql("SELECT cell FROM requests")], dtype=np.uint64)
    store.close()
    uniq, n = np.unique(cells, return_counts=True)
    t0 = time.perf_counter()
    gdf = gpd.GeoDataFrame({"h3": grid.cells_to_str(uniq), "n": n}, geometry=grid.cells_to_polygons(uniq),
                           crs="EPSG:4326")
    m = gdf.explore(column="n", tiles=None)
    explore_html = m.get_root().render()
    dt = time.perf_counter() - t0
    print(f"GeoDataFrame.explore()     : {len(explore_html.encode()):,} bytes, {dt:.1f} s for {uniq.size:,} "
          f"res-10 cells (same data)")


def serve(app):
    import logging

    from waitress.server import create_server

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" notes under load
    srv = create_server(app, host="127.0.0.1", port=0, threads=16, channel_timeout=60)
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    return srv, f"http://127.0.0.1:{srv.effective_port}"


def fetch(url: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        body = r.read()
        status = r.status
    if status != 200:
        raise SystemExit(f"{url}: HTTP {status}")
    return time.perf_counter() - t0, len(body)


def pan_urls(base: str, box: tuple, res: int, n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    w, h = box[2] - box[0], box[3] - box[1]
    out = []
    for dx, dy in rng.uniform(-0.1, 0.1, (n, 2)):
        b = (box[0] + dx * w, box[1] + dy * h, box[2] + dx * w, box[3] + dy * h)
        out.append(f"{base}/api/cells?res={res}&bbox=" + ",".join(f"{v:.4f}" for v in b))
    return out


def scattered_urls(base: str, n: int, seed: int) -> list[str]:
    """Zoomed views at random places over the whole area: nothing counted before (cold tiles)."""
    rng = np.random.default_rng(seed)
    w, h = ZOOM_VIEW[2] - ZOOM_VIEW[0], ZOOM_VIEW[3] - ZOOM_VIEW[1]
    xs = rng.uniform(AREA[0], AREA[2] - w, n)
    ys = rng.uniform(AREA[1], AREA[3] - h, n)
    return [f"{base}/api/cells?res=10&bbox={x:.4f},{y:.4f},{x + w:.4f},{y + h:.4f}"
            for x, y in zip(xs, ys, strict=True)]


def api_latency(app, base: str) -> None:
    # the whole area as a zoom-11 screen shows it (with a margin), and a phone's zoom-15 view
    whole = (AREA[0] - 0.05, AREA[1] - 0.04, AREA[2] + 0.05, AREA[3] + 0.04)
    for label, box, res in (("whole area, res 8", whole, 8), ("zoomed view, res 10", ZOOM_VIEW, 10)):
        urls = pan_urls(base, box, res, 200, seed=res)
        fetch(urls[0])  # warm-up
        times, sizes = [], []
        for u in urls:
            dt, size = fetch(u)
            times.append(dt)
            sizes.append(size)
        print(f"/api/cells {label:20s}: p50 {percentile(times, 50) * 1e3:6.1f} ms, "
              f"p95 {percentile(times, 95) * 1e3:6.1f} ms over 200 sequential requests, "
              f"~{statistics.median(sizes) / 1e3:.1f} KB each")
    app.config["GRIDGIS_MEMO"] = False  # nothing remembered: every view counted afresh
    times = [fetch(u)[0] for u in scattered_urls(base, 200, seed=5)]
    print(f"/api/cells {'zoomed, uncached':20s}: p50 {percentile(times, 50) * 1e3:6.1f} ms, "
          f"p95 {percentile(times, 95) * 1e3:6.1f} ms over 200 sequential requests at random places")
    for label, urls, cached in (("panning", pan_urls(base, ZOOM_VIEW, 10, 400, seed=99), True),
                                ("uncached", scattered_urls(base, 400, seed=7), False)):
        app.config["GRIDGIS_MEMO"] = cached
        t0 = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            lat = list(pool.map(lambda u: fetch(u)[0], urls))
        dt = time.perf_counter() - t0
        print(f"/api/cells 16 clients, {label:8s}: {len(urls) / dt:6.1f} req/s ({len(urls)} zoomed views, "
              f"p95 {percentile(lat, 95) * 1e3:.0f} ms)")
    app.config["GRIDGIS_MEMO"] = True


def first_draw(base: str) -> None:
    if not Path(CHROMIUM).exists():
        print("first hex layer in Chromium : skipped (no /usr/bin/chromium)")
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for label, hash_ in (("whole area", ""), ("zoomed view", "#v=15/30.6475/104.0725")):
            times, hexes = [], []
            for _ in range(3):
                ctx = b.new_context(viewport={"width": 1280, "height": 800})
                pg = ctx.new_page()
                pg.goto(f"{base}/{hash_}")
                pg.wait_for_function("GridGIS.firstDrawMs !== null", timeout=60_000)
                times.append(pg.evaluate("GridGIS.firstDrawMs"))
                hexes.append(pg.evaluate("GridGIS.counts().hexes"))
                ctx.close()
            print(f"first hex layer ({label:11s}): median {statistics.median(times):.0f} ms after navigation "
                  f"({hexes[0]:,} hexagons)")
        b.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--no-explore", action="store_true", help="skip the GeoDataFrame.explore() baseline")
    a = ap.parse_args()
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    db = out / f"web-{a.rows}.sqlite3"
    if a.rebuild or not db.exists():
        build_store(db, a.rows)
    from webmap import create_app

    settings = settings_for(db)
    store = open_store(settings)
    app = create_app(settings, store)
    t0 = time.perf_counter()
    for _ in range(20):
        store.data_version()
    print(f"data version check (ETag)  : {(time.perf_counter() - t0) / 20 * 1e3:.1f} ms per request")
    page_vs_explore(app, db, not a.no_explore)
    srv, base = serve(app)
    try:
        api_latency(app, base)
        first_draw(base)
    finally:
        srv.close()
        store.close()


if __name__ == "__main__":
    main()
