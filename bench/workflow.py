"""Benchmark the request workflow; prints figures only.

- overdue flags: ``overdue_flags`` over N requests (random statuses, 30 % changed in the app, one
  per-category override) against a plain per-row Python loop over the same rows (ratio = loop ÷ ours);
- a status change: median latency of ``change_status`` (guarded update + event + audit row, one
  transaction) on a SQLite store of M requests;
- data_version: median of the store's version query, which now also reads ``max(request_events.id/at)``,
  against the same query without those two parts (ratio = with ÷ without), after K status changes.

Run: .venv/bin/python bench/workflow.py [--rows N] [--store-rows M] [--changes K]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from gridgis import grid
from gridgis.config import load_settings
from gridgis.deadlines import Deadlines, overdue_flags
from gridgis.storage import REQUEST_COLUMNS, init_db
from gridgis.storage.schema import categories, cell_households, grids, ingest_batches, requests, zone_history
from gridgis.workflow import STATUSES, change_status

DL = Deadlines(hours={"new": 24, "assigned": 24, "in_progress": 120, "resolved": 72},
               by_category={"SAFE": {"new": 2, "in_progress": 48}}, tz="Asia/Shanghai")


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    now = 1_780_000_000
    created = now - rng.integers(0, 200 * 86400, n)
    changed = np.where(rng.random(n) < 0.3, created + rng.integers(0, 86400, n), np.nan)
    return pd.DataFrame({"status": rng.choice(list(STATUSES), n), "category": rng.choice(["SAFE", "FAC", "ENV"], n),
                         "created_at": created, "status_changed_at": changed})


def request_rows(n: int) -> pd.DataFrame:
    """Synthetic stored requests around Chengdu (status "new")."""
    rng = np.random.default_rng(3)
    lng, lat = rng.uniform(104.03, 104.09, n), rng.uniform(30.61, 30.66, n)
    cells = grid.latlng_to_cells(lat, lng, 10)
    df = pd.DataFrame({c: None for c in REQUEST_COLUMNS if c not in ("batch_id", "ingested_at", "updated_at")},
                      index=range(n))
    df = df.assign(id=[f"b:{i}" for i in range(n)], source="b", source_id=[str(i) for i in range(n)],
                   created_at=1_767_225_600 + rng.integers(0, 180 * 86400, n), text="路灯不亮", category="FAC",
                   category_rule="bench", status="new", lng=lng, lat=lat, source_crs="wgs84",
                   geocode_level="source", cell=cells.astype(np.int64),
                   cell_9=grid.cells_to_parent(cells, 9).astype(np.int64),
                   cell_8=grid.cells_to_parent(cells, 8).astype(np.int64),
                   cell_7=grid.cells_to_parent(cells, 7).astype(np.int64), content_hash=[f"h{i}" for i in range(n)])
    return df


def loop(df: pd.DataFrame, now: float) -> list[bool]:
    """The per-row way: one dict lookup and comparison per request."""
    out = []
    for st, cat, c, ch in zip(df["status"], df["category"], df["created_at"], df["status_changed_at"], strict=True):
        h = DL.by_category.get(cat, {}).get(st, DL.hours.get(st, 0))
        start = c if np.isnan(ch) else ch
        out.append(bool(h) and start + h * 3600 < now)
    return out


def version_without_events(store) -> tuple:
    parts = [select(func.count()).select_from(ingest_batches), select(func.max(ingest_batches.c.started_at)),
             select(func.max(ingest_batches.c.finished_at)), select(func.max(requests.c.created_at)),
             select(func.count()).select_from(zone_history), select(func.max(zone_history.c.changed_at)),
             select(func.count()).select_from(grids), select(func.max(grids.c.imported_at)),
             select(func.count()).select_from(categories), select(func.max(categories.c.color)),
             select(func.count()).select_from(cell_households), select(func.max(cell_households.c.updated_at))]
    with store.read() as conn:
        return conn.execute(select(*(p.scalar_subquery() for p in parts))).one()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--store-rows", type=int, default=200_000)
    ap.add_argument("--changes", type=int, default=2_000)
    args = ap.parse_args()

    df = frame(args.rows)
    now = 1_780_000_000.0
    ours = median_ms(lambda: overdue_flags(df, now, DL), 5)
    assert overdue_flags(df, now, DL)["overdue"].tolist() == loop(df, now)  # same answer
    base = median_ms(lambda: loop(df, now), 1)
    print(f"overdue_flags, {args.rows:,} rows: {ours:.0f} ms (per-row loop {base:.0f} ms; ratio {base / ours:.1f}×)")

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={}, database_url=f"sqlite:///{Path(tmp) / 'b.sqlite3'}")
        store = init_db(settings)
        rows = request_rows(args.store_rows)
        batch = store.insert_batch("bench.csv", None, "bench", {})
        store.upsert_requests(batch, rows)
        store.finish_batch(batch, {})
        ids = iter(rows["id"].sample(args.changes, random_state=1).tolist())
        lat = median_ms(lambda: change_status(store, next(ids), "assigned", actor="bench"), args.changes)
        print(f"change_status on {args.store_rows:,} requests: median {lat:.2f} ms over {args.changes:,} changes")
        with_ev = median_ms(store.data_version, 500)
        without = median_ms(lambda: version_without_events(store), 500)
        print(f"data_version with {args.changes:,} events: median {with_ev:.3f} ms (without the event parts "
              f"{without:.3f} ms; ratio {with_ev / without:.2f})")
        store.close()


if __name__ == "__main__":
    main()
