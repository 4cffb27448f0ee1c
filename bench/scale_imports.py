"""bench/scale.py's ``imports`` section: a year of 12 monthly hotline exports (bench/ingest.py's CSV) through
``ingest_file`` per backend, one transaction per file, repeats linked against the months before."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scale_support import HeapPeak, in_fresh_process_fn, peak_rss_mib, store_database


def import_box(rows: int, same_box: bool) -> tuple[float, float, float, float]:
    """Where ``rows`` generated requests lie: bench/ingest.py's central-Chengdu box for 1 M rows, grown about
    its centre so the area grows with the rows (a bigger archive is a bigger city, at the same density of
    requests and so the same share of repeats); with ``same_box`` the 1 M box at every size (10× denser)."""
    import ingest as ingest_bench  # bench/ingest.py, beside this file

    x0, y0, x1, y1 = ingest_bench.BOX
    k = 1.0 if same_box else float(np.sqrt(rows / 1_000_000))
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * k, (y1 - y0) / 2 * k
    return (round(cx - hw, 6), round(cy - hh, 6), round(cx + hw, 6), round(cy + hh, 6))


def monthly_files(folder: Path, rows: int, box: tuple[float, float, float, float]) -> list[Path]:
    """``rows`` generated hotline rows (bench/ingest.py's CSV: GCJ-02, Chinese texts) in ``box`` as 12 monthly
    exports of 2025, each in time order with its own ids; made once per size and box (reused from ``--keep``)."""
    import ingest as ingest_bench  # bench/ingest.py, beside this file

    if box != ingest_bench.BOX:
        folder = folder / "box-{:.4f}-{:.4f}-{:.4f}-{:.4f}".format(*box)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for m in range(12):
        start = pd.Timestamp(2025, m + 1, 1)
        days = (start + pd.offsets.MonthBegin(1) - start).days
        path = folder / f"{rows}-{m + 1:02d}.csv"
        n = rows * (m + 1) // 12 - rows * m // 12
        if not path.exists():
            ingest_bench.generate(path, n, seed=m, start=start, days=days, id_prefix=f"M{m + 1:02d}-",
                                  box=box)
        files.append(path)
    return files


def import_months(url: str, files: list[str], box: tuple[float, float, float, float]) -> dict:
    """Run in a fresh process: ``gridgis ingest`` of each monthly file in turn (the whole pipeline: one
    transaction per file, repeats linked against the months before) into the store at ``url``."""
    from gridgis.config import load_settings
    from gridgis.ingest.pipeline import IngestOptions, ingest_file
    from gridgis.storage.store import Store

    area = (box[0] - 0.05, box[1] - 0.05, box[2] + 0.05, box[3] + 0.05)
    settings = load_settings(env={}, database_url=url, service_area_bbox=area)
    store = Store.from_url(url)
    base, heap = peak_rss_mib(), HeapPeak()
    heap_base = heap.take()
    secs, peaks, heaps, starts, stored = [], [], [], [], 0
    for f in files:
        starts.append(HeapPeak.now_mib() - heap_base)  # what earlier months left behind (caches, allocator)
        t0 = time.perf_counter()
        report = ingest_file(f, settings, store, IngestOptions(source="12345", crs="gcj02"))
        secs.append(time.perf_counter() - t0)
        peaks.append(peak_rss_mib() - base)  # the peak so far: does a later month (a bigger table) raise it?
        heaps.append(heap.take() - heap_base)  # this month's own heap peak
        stored += report.stored
    heap.close()
    store.close()
    return {"seconds": sum(secs), "rows": stored, "per_file_s": secs, "peak_after_mib": peaks,
            "extra_mib": peaks[-1], "heap_mib": heaps,
            "heap_start_mib": starts}


def section_imports(args) -> None:
    """A year of monthly hotline exports through the whole ingest pipeline, per backend: rows/s, the first
    and last month's import time (does a month cost more when the table already holds eleven?), peak RSS."""
    keep = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gridgis-scale-csv-"))
    figures: dict[int, dict] = {}
    try:
        for rows in args.rows:
            box = import_box(rows, args.same_box)
            print(f"[imports] {rows:,} rows in lng {box[0]}–{box[2]}, lat {box[1]}–{box[3]}", flush=True)
            files = [str(f) for f in monthly_files(keep / "imports", rows, box)]
            for backend in ("sqlite", "postgresql"):
                with store_database(args, backend, f"imp{rows}") as url:
                    if url is None:
                        print("[imports] no PostgreSQL server (--postgres-url or $GRIDGIS_TEST_POSTGRES_URL): "
                              "SQLite only")
                        continue
                    r = in_fresh_process_fn(import_months, url, files, box)
                figures.setdefault(rows, {})[backend] = r
                per = [rows / 12 / s for s in r["per_file_s"]]
                print(f"[imports] {rows:,} rows (12 monthly files) into {backend:10s}: {r['seconds']:7.1f} s = "
                      f"{rows / r['seconds']:9,.0f} rows/s (month 1 {per[0]:,.0f} rows/s, month 12 {per[-1]:,.0f} "
                      f"rows/s), extra peak RSS {r['extra_mib']:,.0f} MiB (after month 1: "
                      f"{r['peak_after_mib'][0]:,.0f} MiB)", flush=True)
                print("    rows/s by month:       " + " ".join(f"{p:,.0f}" for p in per), flush=True)
                print("    heap peak by month MiB: " + " ".join(f"{h:,.0f}" for h in r["heap_mib"]), flush=True)
                print("    heap at month start:    " + " ".join(f"{h:,.0f}" for h in r["heap_start_mib"]), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(keep, ignore_errors=True)
    sizes = sorted(figures)
    for small, big in zip(sizes, sizes[1:], strict=False):
        print(f"[imports] growth {small:,} → {big:,} rows (×{big / small:g}):")
        for backend in figures[small]:
            if backend in figures[big]:
                a, b = figures[small][backend], figures[big][backend]
                print(f"    {backend:10s} time ×{b['seconds'] / a['seconds']:5.2f}   month 12 "
                      f"{a['per_file_s'][-1]:.1f} → {b['per_file_s'][-1]:.1f} s   peak memory "
                      f"{a['extra_mib']:,.0f} → {b['extra_mib']:,.0f} MiB   heap peak month 1 → 12: "
                      f"{a['heap_mib'][0]:,.0f} → {a['heap_mib'][-1]:,.0f} MiB at {small:,}, "
                      f"{b['heap_mib'][0]:,.0f} → {b['heap_mib'][-1]:,.0f} MiB at {big:,}")
