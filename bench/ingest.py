"""Ingest benchmark: 1,000,000 generated rows (CSV, GCJ-02, Chinese text, times) into a fresh SQLite store.

Prints end-to-end rows/s, per-stage times, peak memory of the importing process, and the ratio to a
floor pipeline measured in the same run (pyarrow CSV read + vectorized H3 indexing only). Also SQLite's
own floor for the same stored rows (a bare executemany into an index-less copy of the table, building its
indexes, counting demand): what any import that stores these rows pays, whatever the pipeline does. Each measured
run is a fresh child process so peak memory (ru_maxrss) belongs to that run alone.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TEMPLATES = [
    "{e}{b}栋电梯又坏了，老人上下楼很不方便", "{e}门口路灯不亮已经一周了", "{e}楼下烧烤油烟太大，晚上噪音扰民",
    "{e}{b}栋楼道里有人飞线充电，很危险", "{e}垃圾桶满了没人清运，有异味", "{e}门口车辆乱停放，堵住消防通道",
    "{e}独居老人需要助餐服务", "{e}{b}栋厨房外墙渗水漏水，物业推诿", "{e}附近夜间施工噪音扰民",
    "{e}小区井盖缺失，晚上很危险", "{e}停车难，希望增加车位", "{e}健身器材损坏",
]
ESTATES = [f"{n}花园" for n in "锦城 芳华 桂溪 玉林 紫荆 华兴 新南 双楠 金沙 青羊 光华 红牌".split()]


BOX = (103.95, 30.55, 104.20, 30.75)  # central Chengdu (WGS84 lng/lat); every generated point lies in it


def generate(path: Path, n: int, seed: int = 0, *, start: pd.Timestamp | None = None, days: int = 365,
             id_prefix: str = "GD", box: tuple[float, float, float, float] = BOX) -> None:
    """A hotline export of ``n`` rows with times over ``days`` days from ``start`` (default: the past year),
    points uniform in ``box``."""
    from gridgis import crs

    rng = np.random.default_rng(seed)
    lng = rng.uniform(box[0], box[2], n)
    lat = rng.uniform(box[1], box[3], n)
    g_lng, g_lat = crs.wgs84_to_gcj02(lng, lat)
    if start is None:
        start = pd.Timestamp.now().floor("D") - pd.Timedelta(days=366)  # a past year: no future times
    t = start + pd.to_timedelta(np.sort(rng.integers(0, days * 86400, n)), unit="s")
    tpl = rng.integers(0, len(TEMPLATES), n)
    est = rng.integers(0, len(ESTATES), n)
    bld = rng.integers(1, 30, n)
    texts = [TEMPLATES[a].format(e=ESTATES[b], b=c) for a, b, c in zip(tpl, est, bld, strict=True)]
    df = pd.DataFrame({
        "工单编号": np.char.add(id_prefix, np.arange(n).astype(str)),
        "受理时间": t.strftime("%Y-%m-%d %H:%M:%S"),
        "诉求内容": texts,
        "事发地址": [f"{ESTATES[b]}{c}栋" for b, c in zip(est, bld, strict=True)],
        "经度": g_lng.round(6),
        "纬度": g_lat.round(6),
        "联系电话": np.char.add("138", rng.integers(10_000_000, 99_999_999, n).astype(str)),
        "办理状态": rng.choice(["受理", "派单", "处置中", "已办结"], n),
    })
    df.to_csv(path, index=False)


def floor(path: Path) -> dict:
    import pyarrow.csv as pacsv

    from gridgis import grid

    t0 = time.perf_counter()
    table = pacsv.read_csv(path)
    t1 = time.perf_counter()
    grid.latlng_to_cells(table["纬度"].to_numpy(), table["经度"].to_numpy(), 10)
    t2 = time.perf_counter()
    return {"rows": table.num_rows, "read_s": t1 - t0, "h3_s": t2 - t1, "total_s": t2 - t0}


def pipeline(path: Path, db: Path) -> dict:
    from gridgis.config import load_settings
    from gridgis.ingest.pipeline import IngestOptions, ingest_file
    from gridgis.storage import init_db

    settings = load_settings(env={}, database_url=f"sqlite:///{db}",
                             service_area_bbox=(103.9, 30.5, 104.3, 30.8))
    store = init_db(settings)
    t0, c0 = time.perf_counter(), time.process_time()
    report = ingest_file(path, settings, store, IngestOptions(source="12345", crs="gcj02"))
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    d = report.to_dict()
    return {"rows": d["read"], "stored": d["stored"], "rejected": d["rejected"], "duplicates": d["duplicates"],
            "total_s": total, "cpu_s": cpu, "timings": d["timings"]}


def store_floor(db: Path) -> dict:
    """SQLite's own work for the rows the pipeline stored, with no pipeline around it: the same rows (read
    back) inserted by one plain executemany of prebuilt tuples into an empty copy of ``requests`` without
    secondary indexes, its secondary indexes then built, and the rows counted into ``demand_counts``,
    in one transaction on the same pragmas — what any import storing these rows must pay at least."""
    import sqlite3

    from gridgis.storage.demand_counts import group_counts, write_counts
    from gridgis.storage.engine import make_engine

    src = sqlite3.connect(db)
    rows = pd.read_sql("SELECT * FROM requests", src)
    schema = src.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN ('requests', 'demand_counts', "
                         "'ingest_batches') AND type IN ('table', 'index') AND sql IS NOT NULL").fetchall()
    batches = pd.read_sql("SELECT * FROM ingest_batches", src)
    src.close()
    target = db.with_name(db.stem + "-floor.sqlite3")
    engine = make_engine(f"sqlite:///{target}")
    tables = [sql for kind, _, sql in schema if kind == "table"]
    indexes = [sql for kind, _, sql in schema if kind == "index" and not sql.startswith("CREATE UNIQUE")]
    cols = list(rows.columns)
    tuples = list(zip(*(rows[c].astype(object).where(rows[c].notna(), None).tolist() for c in cols), strict=True))
    with engine.begin() as conn:  # the batch rows too: the foreign key is checked as in an import
        for sql in tables:
            conn.exec_driver_sql(sql)
        batches.to_sql("ingest_batches", conn, if_exists="append", index=False)
    with engine.begin() as conn:
        t0 = time.perf_counter()
        conn.exec_driver_sql(f"INSERT INTO requests ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                             tuples)
        t1 = time.perf_counter()
        for sql in indexes:
            conn.exec_driver_sql(sql)
        t2 = time.perf_counter()
        first = rows["duplicate_of"].isna().to_numpy(dtype=np.int64)
        write_counts(conn, group_counts(rows, 28_800, np.ones(len(rows), dtype=np.int64), first))
        t3 = time.perf_counter()
    t4 = time.perf_counter()
    engine.dispose()
    return {"rows": len(rows), "insert_s": t1 - t0, "indexes_s": t2 - t1, "counts_s": t3 - t2,
            "commit_s": t4 - t3, "total_s": t4 - t0}


def child(kind: str, path: str, db: str | None) -> None:
    if kind == "store_floor":
        out = store_floor(Path(path))
    else:
        out = floor(Path(path)) if kind == "floor" else pipeline(Path(path), Path(db))
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_child(kind: str, path: Path, db: Path | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, str(path)] + ([str(db)] if db else [])
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", nargs="+")
    a = ap.parse_args()
    if a.child:
        child(*a.child, *([None] if len(a.child) == 2 else []))
        return
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "requests.csv"
        t0 = time.perf_counter()
        generate(csv_path, a.rows)
        print(f"generated {a.rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")
        floors, runs = [], []
        for i in range(a.repeat):
            floors.append(run_child("floor", csv_path))
            runs.append(run_child("pipeline", csv_path, Path(tmp) / f"db{i}.sqlite3"))
        f_med = statistics.median(r["total_s"] for r in floors)
        p_med = statistics.median(r["total_s"] for r in runs)
        best = min(runs, key=lambda r: abs(r["total_s"] - p_med))
        print(f"floor (pyarrow read + H3): median {f_med:.2f} s  ({a.rows / f_med:,.0f} rows/s), "
              f"peak {statistics.median(r['peak_mb'] for r in floors):.0f} MB")
        print(f"pipeline end to end      : median {p_med:.2f} s  ({a.rows / p_med:,.0f} rows/s), "
              f"peak {statistics.median(r['peak_mb'] for r in runs):.0f} MB; stored {best['stored']:,}, "
              f"rejected {best['rejected']}, duplicates {best['duplicates']:,}")
        print(f"ratio floor/pipeline     : {f_med / p_med:.2f}   (runs: "
              + ", ".join(f"{r['total_s']:.2f}" for r in runs) + ")")
        sf = [run_child("store_floor", Path(tmp) / f"db{i}.sqlite3") for i in range(a.repeat)]
        s_med = statistics.median(r["total_s"] for r in sf)
        s_best = min(sf, key=lambda r: abs(r["total_s"] - s_med))
        print(f"SQLite floor (the stored rows: bare insert + indexes + demand counts, no pipeline): median "
              f"{s_med:.2f} s ({a.rows / s_med:,.0f} rows/s) = insert {s_best['insert_s']:.2f} + indexes "
              f"{s_best['indexes_s']:.2f} + counts {s_best['counts_s']:.2f} + commit {s_best['commit_s']:.2f}")
        print(f"ratio SQLite floor/pipeline: {s_med / p_med:.2f}")
        print(f"CPU seconds of the import (all threads): median {statistics.median(r['cpu_s'] for r in runs):.2f}")
        print("per-stage seconds (median run; 'store' runs in the writer thread beside the preparation stages,\n"
              "'wait' is the main thread waiting for it, 'indexes' is rebuilt beside 'dedupe'):")
        for k, v in sorted(best["timings"].items(), key=lambda kv: -kv[1]):
            print(f"  {k:10s} {v:7.2f}")


if __name__ == "__main__":
    main()
