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
import concurrent.futures as cf
import contextlib
import multiprocessing as mp
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


def peak_rss_mib() -> float:
    """This process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class HeapPeak:
    """The peak of this process's anonymous resident memory (``RssAnon`` in /proc/self/status, sampled every
    ``every`` seconds by a thread): what the process itself holds. ``ru_maxrss`` also counts the pages of
    the database file SQLite maps (``mmap_size``, up to 1 GiB), which grow with the archive but are the
    kernel's page cache, dropped under memory pressure, not memory an import needs."""

    def __init__(self, every: float = 0.01) -> None:
        import threading

        self.every, self.peak, self._stop = every, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now_mib() -> float:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.now_mib())

    def take(self) -> float:
        """The peak since the last take (then starts again from the present level)."""
        out, self.peak = max(self.peak, self.now_mib()), self.now_mib()
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


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


def in_fresh_process(*args) -> dict:
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        return ex.submit(measure, *args).result()


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
            res = {kind: in_fresh_process(kind, str(root), q["res"], q["bucket"], runs)
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
        import gridgis.storage.store as store_mod

        store_mod.is_postgresql = lambda bind: False  # _insert_requests then takes the executemany path
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


@contextlib.contextmanager
def store_database(args, backend: str, tag: str):
    """URL of a new, migrated database of ``backend`` (dropped or deleted afterwards); None when no
    PostgreSQL server is given (``--postgres-url`` or $GRIDGIS_TEST_POSTGRES_URL)."""
    import os

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from gridgis.storage.engine import make_engine
    from gridgis.storage.migrate import upgrade

    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="gridgis-scale-db-"))
        url, cleanup = f"sqlite:///{folder / f'{tag}.sqlite3'}", lambda: shutil.rmtree(folder, ignore_errors=True)
    else:
        server = args.postgres_url or os.environ.get("GRIDGIS_TEST_POSTGRES_URL")
        if not server:
            yield None
            return
        admin = create_engine(make_url(server).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
        name = f"gridgis_scale_{os.getpid()}_{tag}"
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = admin.url.set(database=name).render_as_string(hide_password=False)

        def cleanup():
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        cleanup()


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
    sys.path.insert(0, str(Path(__file__).resolve().parent))
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


def in_fresh_process_fn(fn, *args) -> dict:
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        return ex.submit(fn, *args).result()


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
