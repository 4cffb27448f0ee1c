"""Benchmark OGC API – Features items pages on 1,000,000 stored requests; prints figures only (no assertions).

Data: the synthetic year of bench/analytics.py (1,000,000 requests over central Chengdu, clustered
around 600 compounds), with reporter names, phones and phone numbers inside some texts so the privacy
step does real work. Rows go straight into a temporary SQLite store through ``Store.upsert_requests``.

Timed through Flask's test client with an API token, as a client sees it (token check, SQL, privacy,
GeoJSON, audit row), p50/p95/max over N requests of 1,000 features each — once with Python's default
garbage collection and once after ``gc.freeze()`` of the start-up objects. Wall-clock times and, beside
them, the process's CPU time per request (``time.process_time``): on a shared, oversubscribed machine
the wall clock mostly measures waiting for a core, the CPU time what one idle core would take.
- the first page (numberMatched remembered per data version after the first call);
- pages at random offsets up to 999,000 (deep paging without walking the skipped rows);
- walking the ``next`` links from the start, as GDAL and QGIS do;
- a new small bbox every request (~1.5 km views), a new large one (half the city: its numberMatched
  from the demand-counts table's res-9 totals plus the box's edge band), and the next pages of one
  large bbox — both read through the box's H3 cells in time windows;
- a random month × category (datetime + property filter: counted from the counts table);
- a new large bbox × a status (not in the counts table: counted up to 2,002 rows, else left out — at
  once when the page's rows took a small share of the year);
- the res-9 demand cells (computed once per data version, then paged from memory).

Run: .venv/bin/python bench/ogc.py [--rows N] [--runs 60] [--keep PATH]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import analytics  # noqa: E402  (the same synthetic city as the aggregation benchmark)

from gridgis import tokens  # noqa: E402
from gridgis.config import load_settings  # noqa: E402
from gridgis.demo import sync_categories  # noqa: E402
from gridgis.storage import init_db  # noqa: E402
from webmap import create_app  # noqa: E402

SURNAMES = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"))


def personal(rng: np.random.Generator, rows: pd.DataFrame) -> pd.DataFrame:
    n = len(rows)
    names = np.char.add(rng.choice(SURNAMES, n), rng.choice(np.array(["先生", "女士", "阿姨", "叔"]), n))
    phones = np.char.add("13", rng.integers(100_000_000, 999_999_999, n).astype(str))
    text = np.where(rng.random(n) < 0.1, np.char.add(rows["text"].to_numpy(str), np.char.add("，联系电话", phones)),
                    rows["text"].to_numpy(str))
    return rows.assign(reporter_name=names.astype(object), reporter_phone=phones.astype(object),
                       text=text.astype(object), address="成都市武侯区锦城花园5栋3单元501室")


def build(path: Path, n: int):
    settings = load_settings(env={}, database_url=f"sqlite:///{path}", service_area_bbox=analytics.BBOX,
                             base_map="blank")
    fresh = not path.exists()
    store = init_db(settings)
    if fresh:
        sync_categories(store, settings)
        rng = np.random.default_rng(2025)
        centres = np.column_stack([rng.uniform(analytics.BBOX[0] + 0.01, analytics.BBOX[2] - 0.01, 600),
                                   rng.uniform(analytics.BBOX[1] + 0.01, analytics.BBOX[3] - 0.01, 600)])
        weights = rng.gamma(0.7, 1.0, 600)
        weights /= weights.sum()
        centroids = {k: np.column_stack([rng.uniform(analytics.BBOX[0], analytics.BBOX[2], m),
                                         rng.uniform(analytics.BBOX[1], analytics.BBOX[3], m)])
                     for k, m in (("community", 60), ("street", 8))}
        t0 = time.perf_counter()
        batch = store.insert_batch("bench", None, "b", {}, status="committed")
        for start in range(0, n, analytics.CHUNK):
            rows = analytics.request_rows(rng, start, min(analytics.CHUNK, n - start), centres, weights, centroids)
            store.upsert_requests(batch, personal(rng, rows))
        print(f"stored {n:,} requests in {time.perf_counter() - t0:.0f} s")
    return settings, store


def timed(client, headers, urls) -> tuple[list[float], list[float], int, int, int]:
    times, cpu, size, returned, counted = [], [], 0, 0, 0
    for url in urls:
        t0, c0 = time.perf_counter(), time.process_time()
        r = client.get(url, headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"{url}: {r.status_code} {r.get_data(as_text=True)[:300]}")
        size += len(r.data)
        returned += r.json["numberReturned"]
        counted += "numberMatched" in r.json
    n = max(len(urls), 1)
    return times, cpu, size // n, returned // n, round(100 * counted / n)


def show(name: str, result) -> None:
    times, cpu, size, returned, counted = result
    q, c = np.percentile(times, [50, 95]), np.percentile(cpu, [50, 95])
    print(f"{name:<44}{q[0]:>9.1f}{q[1]:>9.1f}{max(times):>9.1f}{c[0]:>9.1f}{c[1]:>9.1f}{returned:>9}"
          f"{size / 1024:>10.0f}{counted:>9}%")


def count_vs_exact(store, settings, box, runs: int) -> None:
    """numberMatched of new large bboxes: counts-table totals + edge band (listing the box's cells, as the
    page does, included) vs the exact COUNT(*) of the same rows (what it cost before), in this process;
    the two must agree."""
    import shapely
    from sqlalchemy import and_, func, or_, select

    from gridgis.ogcapi import requests_count as rc
    from gridgis.ogcapi import requests_source as rq
    from gridgis.ogcapi.query import ItemQuery
    from gridgis.storage.schema import requests as req_t

    fine, snapped = int(store.get_meta("h3_resolution", "10")), settings.export_snap_points
    extent, span = rq.data_extent(store)
    totals = rc.cell9_totals(store, None, (), span)  # kept per data version by the service
    ours, exact = [], []
    for _ in range(runs):
        b = tuple(float(v) for v in box().split(","))
        t0 = time.perf_counter()
        where = rq.where_clause(ItemQuery(bbox=b), extent, fine, snapped, span, totals)  # lists its cells
        n = rc.bbox_matched(store, totals, list(where.boxes), fine, snapped, where.base, where.cells)
        t1 = time.perf_counter()
        # Before: COUNT(*) through the cell indexes (cells wholly inside by id, edge cells tested exactly).
        area = shapely.union_all([shapely.box(*x) for x in where.boxes])
        r = req_t.c
        ranges = or_(*[and_(r.lng.between(x[0], x[2]), r.lat.between(x[1], x[3])) for x in where.boxes])
        with store.read() as conn:
            m = conn.execute(select(func.count()).select_from(req_t).where(
                rq._cells_condition(area, ranges, fine, snapped))).scalar()
        t2 = time.perf_counter()
        if n != m:
            raise SystemExit(f"numberMatched {n:,} != COUNT(*) {m:,} for bbox {b}")
        ours.append((t1 - t0) * 1000)
        exact.append((t2 - t1) * 1000)
    a, e = np.median(ours), np.median(exact)
    print(f"\nnumberMatched of a new large bbox ({runs} boxes, all equal to COUNT(*)): counts table + edge band "
          f"p50 {a:.1f} ms (p95 {np.percentile(ours, 95):.1f}), COUNT(*) via cell indexes p50 {e:.1f} ms "
          f"(p95 {np.percentile(exact, 95):.1f}); ratio {e / a:.1f}× faster")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--keep", help="reuse/keep the SQLite file at this path")
    ap.add_argument("--only", help="run only the cases whose name contains this text")
    args = ap.parse_args()
    path = Path(args.keep) if args.keep else Path(tempfile.mkdtemp()) / "ogc.sqlite3"
    settings, store = build(path, args.rows)
    secret, _ = tokens.create_token(store, f"bench-{time.time_ns()}", ["requests_masked"])
    client = create_app(settings, store).test_client()
    h = {"Authorization": f"Bearer {secret}"}
    rng = np.random.default_rng(7)
    n = store.count_requests()
    items = "/ogc/collections/requests/items?limit=1000"
    x0, y0, x1, y1 = analytics.BBOX

    def small_box() -> str:
        cx, cy = rng.uniform(x0 + 0.02, x1 - 0.02), rng.uniform(y0 + 0.02, y1 - 0.02)
        return f"{cx - 0.008:.5f},{cy - 0.007:.5f},{cx + 0.008:.5f},{cy + 0.007:.5f}"

    def large_box() -> str:
        cx, cy = rng.uniform(x0 + 0.06, x1 - 0.06), rng.uniform(y0 + 0.05, y1 - 0.05)
        return f"{cx - 0.06:.5f},{cy - 0.055:.5f},{cx + 0.06:.5f},{cy + 0.055:.5f}"

    def month() -> str:
        m = pd.Timestamp("2025-01-01") + pd.DateOffset(months=int(rng.integers(0, 12)))
        end = m + pd.DateOffset(months=1) - pd.Timedelta(days=1)
        return f"{m:%Y-%m-%d}/{end:%Y-%m-%d}"

    t0 = time.perf_counter()
    first = client.get(items, headers=h)
    print(f"requests: {n:,}; first call (counts {first.json.get('numberMatched', 0):,}, reads the extent) "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms")
    def walk_from(url: str) -> list[str]:
        urls = []
        for _ in range(args.runs):
            urls.append(url)
            nxt = next(k["href"] for k in client.get(url, headers=h).json["links"] if k["rel"] == "next")
            url = urlsplit(nxt).path + "?" + urlsplit(nxt).query
        return urls

    walk = walk_from(items)
    walk_box = walk_from(f"{items}&bbox={large_box()}")[1:]
    t0 = time.perf_counter()
    client.get("/ogc/collections/cells-9/items?limit=1000", headers=h)
    cells_first = (time.perf_counter() - t0) * 1000
    cats = ["SAFE", "FAC", "PROP", "PARK", "ENV", "ORDER", "CARE"]
    states = ["new", "assigned", "in_progress", "resolved", "verified"]

    def cases() -> list[tuple[str, list[str]]]:
        return [
            ("first page", [items] * args.runs),
            ("random offset ≤ 999,000", [f"{items}&offset={int(o)}" for o in rng.integers(0, n - 1000, args.runs)]),
            ("walking next links (pages 1–N)", walk),
            ("new small bbox each (~1.6 × 1.5 km)", [f"{items}&bbox={small_box()}" for _ in range(args.runs)]),
            ("new large bbox each (half the city)", [f"{items}&bbox={large_box()}" for _ in range(args.runs)]),
            ("one large bbox, its next pages", walk_box),
            ("random month × category", [f"{items}&datetime={month()}&category={rng.choice(cats)}"
                                         for _ in range(args.runs)]),
            ("new large bbox × status (count capped)", [f"{items}&bbox={large_box()}&status={rng.choice(states)}"
                                                        for _ in range(args.runs)]),
            ("cells res 9, page of 1,000 (memory)", ["/ogc/collections/cells-9/items?limit=1000"] * args.runs),
        ]

    for title in ("Python's default garbage collection",
                  "after gc.freeze() of the start-up objects (as a server would do once started)"):
        if title.startswith("after"):
            gc.freeze()  # full collections otherwise rescan ~160,000 start-up objects: ~90 ms every few requests
        print(f"\n{title}: {args.runs} requests per case, 1,000 features per page, Flask test client, "
              "token check and audit row included")
        print(f"{'items page':<44}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'cpu p50':>9}{'cpu p95':>9}"
              f"{'features':>9}{'KiB/page':>10}{'counted':>10}")
        for name, urls in cases():
            if args.only is None or args.only in name:
                show(name, timed(client, h, urls))
    count_vs_exact(store, settings, large_box, args.runs)
    print(f"\nres-9 cells computed once per data version in {cells_first:.0f} ms")
    print("target: items page of 1,000 features p95 < 100 ms at 1,000,000 requests")
    store.close()


if __name__ == "__main__":
    main()
