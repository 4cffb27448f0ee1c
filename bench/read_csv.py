"""Benchmark: rows/s of gridgis iter_chunks on a generated 1,000,000-row Chinese CSV vs plain pyarrow.

Usage: python bench/read_csv.py [--rows N] [--encoding utf-8|gb18030] [--keep PATH]
Prints the median of 3 runs for each reader and the ratio; never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from gridgis.ingest.readers import iter_chunks

_CHARS = "小区门口垃圾堆放很久没人清理楼道灯坏了晚上很黑电梯经常故障困人物业不管停车难噪音扰民夜间施工，。"


def generate(path: Path, rows: int, encoding: str) -> None:
    """A 12345-like export: ids with leading zeros, Chinese text (some with commas), coordinates, times."""
    rng = np.random.default_rng(0)
    pool = "".join(rng.choice(list(_CHARS), size=400_000))
    starts = rng.integers(0, len(pool) - 100, rows)
    lens = rng.integers(20, 50, rows)
    texts = [pool[a:a + n] for a, n in zip(starts.tolist(), lens.tolist(), strict=True)]
    seconds = rng.integers(0, 31_536_000, rows)
    table = pa.table({
        "工单编号": pa.array(np.char.zfill(np.arange(rows).astype(str), 10)),
        "受理时间": pa.array((np.datetime64("2024-01-01T00:00:00") + seconds.astype("timedelta64[s]"))
                         .astype(str)),
        "诉求内容": pa.array(texts),
        "事发地址": pa.array(np.char.add("成都市武侯区玉林路", (np.arange(rows) % 500).astype(str))),
        "经度": pa.array(np.round(rng.uniform(103.9, 104.2, rows), 6).astype(str)),
        "纬度": pa.array(np.round(rng.uniform(30.5, 30.8, rows), 6).astype(str)),
        "诉求类别": pa.array(rng.choice(["物业管理", "市政设施", "环境卫生"], rows)),
    })
    if encoding.replace("-", "").lower() in ("utf8", "utf8sig"):
        pa_csv.write_csv(table, path)
    else:
        tmp = path.with_suffix(".utf8.csv")
        pa_csv.write_csv(table, tmp)
        path.write_bytes(tmp.read_bytes().decode("utf-8").encode(encoding))
        tmp.unlink()


def median_time(fn, repeat: int = 3) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        rows = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--keep", type=Path, help="write the generated CSV here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "requests.csv"
        t0 = time.perf_counter()
        generate(path, args.rows, args.encoding)
        size_mb = path.stat().st_size / 1e6
        print(f"file: {args.rows:,} rows, {size_mb:.0f} MB, {args.encoding}, "
              f"generated in {time.perf_counter() - t0:.1f} s")

        def ours() -> int:
            return sum(len(c.frame) for c in iter_chunks(path))

        read_opts = pa_csv.ReadOptions(encoding=args.encoding)
        string_cols = pa_csv.ConvertOptions(column_types=dict.fromkeys(
            ["工单编号", "受理时间", "诉求内容", "事发地址", "经度", "纬度", "诉求类别"], pa.string()))

        def plain() -> int:
            return pa_csv.read_csv(path, read_options=read_opts).num_rows

        def plain_strings() -> int:
            return pa_csv.read_csv(path, read_options=read_opts, convert_options=string_cols).num_rows

        results = {}
        for name, fn in (("gridgis iter_chunks (50k-row pandas chunks)", ours),
                         ("pyarrow.csv.read_csv (type inference)", plain),
                         ("pyarrow.csv.read_csv (all string)", plain_strings)):
            secs, rows = median_time(fn)
            results[name] = secs
            print(f"{name:46s} {secs:6.2f} s  {rows / secs:12,.0f} rows/s  {size_mb / secs:6.0f} MB/s")
        ours_s = results["gridgis iter_chunks (50k-row pandas chunks)"]
        base_s = results["pyarrow.csv.read_csv (type inference)"]
        print(f"ratio iter_chunks / read_csv: {ours_s / base_s:.2f}x the time "
              f"({base_s / ours_s:.2f}x the speed)")


if __name__ == "__main__":
    main()
