"""Growth figures for issue 7: how each engine's cost grows from 1 M to 10 M requests; prints figures only.

Sections (``--sections``, a function each in :data:`SECTIONS`; more, e.g. store ingest rows/s per backend,
can be added beside them):

- **dask** — synthetic requests written straight into a request archive (vectorized numpy, ``--chunk``
  rows at a time through :class:`gridgis.archive.ArchiveWriter`, so generation memory is bounded too):
  2025 over central Chengdu, 75 % around 600 compounds of very different sizes, skewed categories,
  8 % repeat reports, 5 % coarse geocodes. Timed on the same archive, each in a fresh process (so the
  peak RSS is the query's own): the dask engine on its in-process threads, the dask engine on a
  ``LocalCluster`` of 2 worker processes (peak RSS per worker), and the in-memory pandas baseline
  (every needed column of the year in one DataFrame, then the same counting function). Queries: Q1
  city-wide res 9 by category for 2025; Q2 res 8 by category per month. The sums of both engines are
  checked equal. With several ``--rows`` it prints how time and memory grow between the sizes.

- **store** — store ingest rows/s per backend: synthetic request rows written through
  ``Store.upsert_requests`` ``--store-chunk`` rows per transaction (change detection, INSERT on SQLite or COPY on
  PostgreSQL, demand counts) into a fresh database of each size, each in a fresh process; the slowest
  chunk and peak RSS show whether the cost per row grows with the table; on PostgreSQL also COPY against
  the executemany it replaced (same rows, same moment).

- **imports** — the product path: a year of 12 monthly hotline exports (bench/ingest.py's CSV) through
  ``ingest_file`` per backend, one transaction per file, repeats linked against the months before. The
  area grows with the rows (10 M rows over 10× the 1 M box, the same density and share of repeats);
  ``--same-box`` keeps the 1 M box at every size instead. Memory per month: peak RSS so far, and the
  month's own peak of heap (anonymous) memory with what earlier months left at its start — peak RSS also
  counts the SQLite file pages mapped for reading, which grow with the archive but are page cache.

Run: .venv/bin/python bench/scale.py [--rows 1000000 10000000] [--sections dask store imports] [--same-box] [--keep DIR]
     [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gridgis import grid
from gridgis.archive import ArchiveWriter, month_labels, new_metadata, write_metadata, write_table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sections beside this file
from scale_imports import section_imports  # noqa: E402
from scale_support import in_fresh_process_fn, peak_rss_mib, store_database  # noqa: E402

TZ = "Asia/Shanghai"
BBOX = (103.95, 30.55, 104.20, 30.78)
T0 = int(pd.Timestamp("2025-01-01", tz=TZ).timestamp())
T1 = int(pd.Timestamp("2026-01-01", tz=TZ).timestamp())
CATS = np.array(["SAFE", "FAC", "PROP", "PARK", "ENV", "ORDER", "CARE", "OTHER"])
CAT_P = np.array([0.06, 0.18, 0.24, 0.14, 0.18, 0.12, 0.05, 0.03])
TYPES = np.array(["投诉", "求助", "咨询", "建议", "举报", "表扬"])
STATUSES = np.array(["new", "assigned", "in_progress", "resolved", "verified", "invalid"])
LEVELS = np.array(["source", "door", "building", "estate", "community", "street"])
LEVEL_P = np.array([0.55, 0.10, 0.15, 0.15, 0.04, 0.01])
QUERIES = {"Q1 res9 by category, year": dict(res=9, bucket=None), "Q2 res8 by category per month": dict(res=8,
                                                                                                      bucket="month")}


# Sent to the workers by value (this script is no module they could import).
_worker_peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # noqa: E731
_worker_warm_peak = lambda: (__import__("gridgis.heatmap.dask_parts"), __import__("pyarrow.dataset"),  # noqa: E731
                             resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)[-1]


# --------------------------------------------------------------------------------------------- generation
def synthetic_chunk(rng: np.random.Generator, start: int, n: int, t_lo: int, t_hi: int, centres, weights,
                    ) -> pd.DataFrame:
    """``n`` archive rows (ids start..start+n) created in [t_lo, t_hi), typed as the archive stores them."""
    clustered = rng.random(n) < 0.75
    pick = rng.choice(len(centres), n, p=weights)
    sd = 300 / 111_000
    lng = np.where(clustered, centres[pick, 0] + rng.normal(0, sd / 0.86, n), rng.uniform(BBOX[0], BBOX[2], n))
    lat = np.where(clustered, centres[pick, 1] + rng.normal(0, sd, n), rng.uniform(BBOX[1], BBOX[3], n))
    lng, lat = np.clip(lng, BBOX[0], BBOX[2]), np.clip(lat, BBOX[1], BBOX[3])
    cells = grid.latlng_to_cells(lat, lng, 10)
    ids = np.char.add("b:", np.arange(start, start + n).astype(str))
    dup = (rng.random(n) < 0.08) & (start + np.arange(n) > 0)
    dup_of = np.where(dup, np.char.add("b:", rng.integers(0, max(start, 1), n).astype(str)), None)
    created = np.sort(rng.integers(t_lo, t_hi, n))
    c9 = grid.cells_to_parent(cells, 9)
    frame = pd.DataFrame({
        "id": pd.array(ids, dtype="str"), "source": "b",
        "created_at": pd.to_datetime(created, unit="s", utc=True).as_unit("ms"),
        "category": pd.array(rng.choice(CATS, n, p=CAT_P), dtype="str"),
        "request_type": pd.array(rng.choice(TYPES, n), dtype="str"),
        "status": pd.array(rng.choice(STATUSES, n), dtype="str"),
        "grid_code": pd.array(np.char.add("5101070010", (c9 % np.uint64(99_991)).astype(str)), dtype="str"),
        "geocode_level": pd.array(rng.choice(LEVELS, n, p=LEVEL_P), dtype="str"),
        "geocode_score": rng.uniform(0.5, 1.0, n), "duplicate_of": pd.array(dup_of, dtype="str"),
        "text": "小区门口路灯不亮，晚上很黑，希望尽快维修", "address": "芳华街附近", "lng": lng, "lat": lat,
        "cell": cells.astype(np.int64), "cell_9": c9.astype(np.int64),
        "cell_8": grid.cells_to_parent(cells, 8).astype(np.int64),
        "cell_7": grid.cells_to_parent(cells, 7).astype(np.int64),
    })
    for c in ("source", "text", "address"):
        frame[c] = frame[c].astype("str")
    frame["month"] = month_labels(created, TZ)
    return frame


def build_archive(root: Path, rows: int, chunk: int) -> tuple[float, float]:
    """Write ``rows`` synthetic requests as an archive at ``root``: (seconds, peak RSS MiB of this process)."""
    rng = np.random.default_rng(2025)
    centres = np.column_stack([rng.uniform(BBOX[0] + 0.01, BBOX[2] - 0.01, 600),
                               rng.uniform(BBOX[1] + 0.01, BBOX[3] - 0.01, 600)])
    weights = rng.gamma(0.7, 1.0, 600)
    weights /= weights.sum()
    t0 = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    edges = np.linspace(T0, T1, -(-rows // chunk) + 1).astype(np.int64)  # chunk i covers one slice of the year
    with ArchiveWriter(root) as w:
        for i, start in enumerate(range(0, rows, chunk)):
            w.write(synthetic_chunk(rng, start, min(chunk, rows - start), int(edges[i]), int(edges[i + 1]),
                                    centres, weights))
        months = w.commit()
    meta = new_metadata(10, TZ)
    meta["months"] = months
    cats = pd.DataFrame({"code": CATS, "name_zh": CATS, "name_en": CATS, "color": "#888888",
                         "severity": 1.0, "position": np.arange(len(CATS))})
    write_table(root, "categories", cats)
    write_metadata(root, meta)
    return time.perf_counter() - t0, peak_rss_mib()


# --------------------------------------------------------------------------------------------- measuring
def _spec(res: int, bucket: str | None):
    from gridgis.heatmap.dask_parts import CountSpec, Selection
    from gridgis.heatmap.demand_query import COARSE_MAX_RES

    coarse = tuple(k for k, v in COARSE_MAX_RES.items() if v < res)
    return CountSpec(res, 10, True, bucket, TZ, ((T0, T1),), Selection(), coarse)


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def measure(kind: str, path: str, res: int, bucket: str | None, runs: int) -> dict:
    """Run in a fresh process: median seconds of ``runs`` (after a warm-up), the process's extra peak RSS,
    and the workers' (``cluster``), plus the summed table for the equality check."""
    import warnings

    import dask.dataframe  # noqa: F401  imported before the baseline: the peak is then the query's own
    import distributed  # noqa: F401
    import pyarrow.dataset as ds

    from gridgis.heatmap.dask_engine import ArchiveSource
    from gridgis.heatmap.dask_parts import partition_counts

    spec = _spec(res, bucket)
    base = peak_rss_mib()
    out: dict = {"workers_mib": None}
    if kind == "pandas":

        cols = ["created_at", "geocode_level", "duplicate_of", "category", f"cell_{res}"]

        def run():
            frame = ds.dataset(path, format="parquet", partitioning="hive").to_table(columns=cols).to_pandas()
            return _sorted(partition_counts(frame, spec), spec.keys)
    else:
        cluster = None
        if kind == "cluster":
            from distributed import LocalCluster

            cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                   silence_logs=50)
        src = ArchiveSource(path, cluster.scheduler_address if cluster else None)
        if src.client is not None:
            before = src.client.run(_worker_warm_peak)

        def run():
            return src.counts(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            result = run()
            times.append(time.perf_counter() - t0)
    out["seconds"] = statistics.median(times)
    out["extra_mib"] = peak_rss_mib() - base
    if kind == "cluster":
        after = src.client.run(_worker_peak)
        out["workers_mib"] = max(after.values())
        out["workers_extra_mib"] = max(after[w] - before[w] for w in after)
        src.close()
        cluster.close()
    out["result"] = result
    return out


# --------------------------------------------------------------------------------------------- sections
def section_dask(args) -> None:
    figures: dict[int, dict] = {}
    for rows in args.rows:
        root = Path(args.keep or tempfile.mkdtemp(prefix="gridgis-scale-")) / f"archive-{rows}"
        if not (root / "_gridgis" / "archive.json").exists():
            secs, mib = build_archive(root, rows, args.chunk)
            print(f"[dask] {rows:,} rows: archive written in {secs:.1f} s ({rows / secs:,.0f} rows/s, "
                  f"peak RSS {mib:,.0f} MiB, chunk {args.chunk:,}), "
                  f"{sum(p.stat().st_size for p in root.rglob('*.parquet')) / 2**20:,.0f} MiB on disk, "
                  f"{len(list(root.glob('month=*/*.parquet')))} part files")
        runs = 3 if rows <= 2_000_000 else 1
        for name, q in QUERIES.items():
            res = {kind: in_fresh_process_fn(measure, kind, str(root), q["res"], q["bucket"], runs)
                   for kind in ("pandas", "threads", "cluster")}
            equal = all(res[k]["result"].equals(res["pandas"]["result"]) for k in ("threads", "cluster"))
            figures.setdefault(rows, {})[name] = res
            base = res["pandas"]["seconds"]
            print(f"[dask] {rows:,} rows, {name} ({len(res['pandas']['result']):,} sums, equal: {equal}):")
            print(f"    pandas in memory  {base:7.2f} s  ×1.00   extra peak RSS {res['pandas']['extra_mib']:7,.0f} MiB")
            for kind, label in (("threads", "dask threads     "), ("cluster", "dask 2 workers   ")):
                r = res[kind]
                mem = f"extra peak RSS {r['extra_mib']:7,.0f} MiB"
                if r["workers_mib"] is not None:
                    mem = (f"worker peak RSS {r['workers_mib']:,.0f} MiB (+{r['workers_extra_mib']:,.0f} during the "
                           f"query), client +{r['extra_mib']:,.0f} MiB")
                print(f"    {label} {r['seconds']:7.2f} s  ×{r['seconds'] / base:4.2f}   {mem}")
        if not args.keep:
            shutil.rmtree(root.parent, ignore_errors=True)
    sizes = sorted(figures)
    for small, big in zip(sizes, sizes[1:], strict=False):
        f = big / small
        print(f"[dask] growth {small:,} → {big:,} rows (×{f:g}):")
        for name in QUERIES:
            for kind in ("pandas", "threads", "cluster"):
                a, b = figures[small][name][kind], figures[big][name][kind]
                mem_a = a["workers_extra_mib"] if kind == "cluster" else a["extra_mib"]
                mem_b = b["workers_extra_mib"] if kind == "cluster" else b["extra_mib"]
                print(f"    {name:32s} {kind:8s} time ×{b['seconds'] / a['seconds']:5.2f}   "
                      f"peak memory {mem_a:,.0f} → {mem_b:,.0f} MiB")


# ---------------------------------------------------------------------------------- store ingest per backend
STORE_TEXTS = np.array(["门口路灯不亮已经一周了", "楼道里有人飞线充电，很危险", "停车难，希望增加车位"])


def store_rows(rng: np.random.Generator, start: int, n: int) -> pd.DataFrame:
    """``n`` request rows as the ingest pipeline hands them to ``Store.upsert_requests`` (ids start..)."""
    lng, lat = rng.uniform(BBOX[0], BBOX[2], n), rng.uniform(BBOX[1], BBOX[3], n)
    cells = grid.latlng_to_cells(lat, lng, 10)
    idx = np.arange(start, start + n)
    dup = (rng.random(n) < 0.08) & (idx > 0)
    return pd.DataFrame({
        "id": np.char.add("s:", idx.astype(str)).astype(object), "source": "s",
        "source_id": idx.astype(str).astype(object), "created_at": np.sort(rng.integers(T0, T1, n)),
        "text": rng.choice(STORE_TEXTS, n),
        "address": "锦华路1号", "category": rng.choice(CATS, n, p=CAT_P), "category_rule": "source",
        "source_category": None, "request_type": rng.choice(TYPES, n), "status": "new", "lng": lng, "lat": lat,
        "source_crs": "gcj02", "orig_x": lng, "orig_y": lat, "geocode_level": rng.choice(LEVELS, n, p=LEVEL_P),
        "geocode_score": None, "grid_code": None, "cell": cells.astype(np.int64),
        "cell_9": grid.cells_to_parent(cells, 9).astype(np.int64),
        "cell_8": grid.cells_to_parent(cells, 8).astype(np.int64),
        "cell_7": grid.cells_to_parent(cells, 7).astype(np.int64),
        "duplicate_of": np.where(dup, np.char.add("s:", rng.integers(0, max(start, 1), n).astype(str)), None),
        "reporter_name": "张三", "reporter_phone": "13800000000", "extra": None,
        "content_hash": np.char.add("h", idx.astype(str)).astype(object),
    })


def store_ingest(url: str, rows: int, chunk: int, plain_executemany: bool = False) -> dict:
    """Run in a fresh process: write ``rows`` new requests into the (migrated, empty) store at ``url``,
    ``chunk`` per transaction as the pipeline does; seconds spent in ``upsert_requests`` (generation
    excluded), the slowest chunk, and peak RSS. ``plain_executemany`` turns PostgreSQL's COPY off
    (the baseline it replaced)."""
    from gridgis.storage.store import Store

    if plain_executemany:
        import gridgis.storage.import_store as import_store

        import_store.is_postgresql = lambda bind: False  # _insert_requests then takes the executemany path
    store = Store.from_url(url)
    rng = np.random.default_rng(7)
    base = peak_rss_mib()
    spent, chunk_s = 0.0, []
    for start in range(0, rows, chunk):
        frame = store_rows(rng, start, min(chunk, rows - start))
        batch = store.insert_batch("bench.csv", None, "s", {})
        t0 = time.perf_counter()
        stored, _, _ = store.upsert_requests(batch, frame)
        chunk_s.append(time.perf_counter() - t0)
        spent += chunk_s[-1]
        assert stored == len(frame)
    n = store.count_requests()
    store.close()
    return {"seconds": spent, "rows": n, "first_chunk_s": chunk_s[0], "last_chunk_s": chunk_s[-1],
            "extra_mib": peak_rss_mib() - base}


def section_store(args) -> None:
    """Store ingest rows/s per backend (the write stage of an import: change detection, INSERT or COPY,
    demand counts), each size into a fresh database, each run in a fresh process (peak RSS is its own)."""
    figures: dict[int, dict] = {}
    for rows in args.rows:
        for backend in ("sqlite", "postgresql"):
            with store_database(args, backend, str(rows)) as url:
                if url is None:
                    print("[store] no PostgreSQL server (--postgres-url or GRIDGIS_TEST_POSTGRES_URL): SQLite only")
                    continue
                r = in_fresh_process_fn(store_ingest, url, rows, args.store_chunk)
            figures.setdefault(rows, {})[backend] = r
            print(f"[store] {rows:,} rows into {backend:10s}: {r['seconds']:7.1f} s = {rows / r['seconds']:9,.0f} "
                  f"rows/s (chunk {args.store_chunk:,}: first {r['first_chunk_s']:.2f} s, last "
                  f"{r['last_chunk_s']:.2f} s), extra peak RSS {r['extra_mib']:,.0f} MiB")
    pg = sorted(n for n in figures if "postgresql" in figures[n])
    if pg:  # COPY against the executemany it replaced: same rows, same machine, one after the other
        rows = min(pg[0], 200_000)
        runs = {}
        for plain in (False, True):
            with store_database(args, "postgresql", f"{rows}_{int(plain)}") as url:
                runs[plain] = in_fresh_process_fn(store_ingest, url, rows, args.store_chunk, plain)
        copy_s, plain_s = runs[False]["seconds"], runs[True]["seconds"]
        print(f"[store] PostgreSQL {rows:,} rows: COPY {rows / copy_s:,.0f} rows/s, executemany "
              f"{rows / plain_s:,.0f} rows/s (COPY ×{plain_s / copy_s:.2f})")
    sizes = sorted(figures)
    for small, big in zip(sizes, sizes[1:], strict=False):
        print(f"[store] growth {small:,} → {big:,} rows (×{big / small:g}):")
        for backend in figures[small]:
            a, b = figures[small][backend], figures[big][backend]
            print(f"    {backend:10s} time ×{b['seconds'] / a['seconds']:5.2f}   last chunk {a['last_chunk_s']:.2f} → "
                  f"{b['last_chunk_s']:.2f} s   peak memory {a['extra_mib']:,.0f} → {b['extra_mib']:,.0f} MiB")


SECTIONS = {"dask": section_dask, "store": section_store, "imports": section_imports}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000], help="sizes, e.g. 1000000 10000000")
    ap.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    ap.add_argument("--chunk", type=int, default=250_000, help="rows generated and written at a time")
    ap.add_argument("--same-box", action="store_true", help="imports section: every size in the 1 M box "
                    "(density grows with the rows) instead of an area that grows with them")
    ap.add_argument("--keep", help="folder to keep (and reuse) the archives in")
    ap.add_argument("--store-chunk", type=int, default=50_000, help="rows per transaction in the store section "
                    "(the ingest default, settings.batch_size)")
    ap.add_argument("--postgres-url", help="PostgreSQL server for the store section (a superuser URL to a "
                    "maintenance database; default $GRIDGIS_TEST_POSTGRES_URL); a database is created and dropped")
    args = ap.parse_args()
    for name in args.sections:
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
