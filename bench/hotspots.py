"""Benchmark Gi* hot spots (vs esda's analytic G_Local) and emerging hot spots; prints figures only.

Gi*: 100,000 contiguous res-10 cells around central Chengdu (30.66N 104.06E), Poisson counts with
planted clusters, k=1, neighbour weights and FDR included, median of 5 runs. esda's G_Local gets
the same weights as a prebuilt libpysal W (building it is timed separately) after a small warm-up.
Emerging: 20,000 cells × 52 weekly steps, median of 3 runs.

Run: .venv/bin/python bench/hotspots.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import shapely

from gridgis import grid
from gridgis.heatmap.emerging import emerging_hot_spots, mann_kendall, space_time_gi_star
from gridgis.heatmap.hotspots import gi_star, neighbour_matrix, study_area_cells

LAT, LNG = 30.66, 104.06
RES = 10


def patch(n: int) -> np.ndarray:
    """The n res-10 cells nearest to the centre, filled from a square via polygon_to_cells (sorted)."""
    half = 0.2 * np.sqrt(n / 100_000) + 0.01  # ~100k cells in a 0.37° square at 30°N
    cells = study_area_cells(shapely.box(LNG - half, LAT - half, LNG + half, LAT + half), RES)
    lat, lng = grid.cell_centers(cells)
    d2 = (lat - LAT) ** 2 + ((lng - LNG) * np.cos(np.radians(LAT))) ** 2
    if cells.size < n:
        raise SystemExit(f"patch too small: {cells.size} < {n}")
    return np.sort(cells[np.argsort(d2)[:n]])


def planted_counts(cells: np.ndarray, rng: np.random.Generator, n_clusters: int = 20) -> np.ndarray:
    y = rng.poisson(1.0, cells.size).astype(float)
    centres = cells[rng.choice(cells.size, n_clusters, replace=False)]
    for disk in grid.grid_disk(centres, 3):
        pos = np.minimum(np.searchsorted(cells, disk), cells.size - 1)
        pos = pos[cells[pos] == disk]  # clusters at the patch edge are cut off
        y[pos] += rng.poisson(4.0, pos.size)
    return y


def timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    rng = np.random.default_rng(2024)
    rows: list[tuple[str, str, float, str]] = []

    cells = patch(100_000)
    y = planted_counts(cells, rng)
    gi_star(cells[:2000], y[:2000])  # warm caches / lazy imports once
    t_w, w = timed(lambda: neighbour_matrix(cells, 1), 5)
    t_gi, res = timed(lambda: gi_star(cells, y, k=1, fdr=True), 5)
    rows.append(("neighbour weights k=1", f"{cells.size:,} cells", t_w, ""))
    rows.append(("Gi* + weights + FDR (k=1)", f"{cells.size:,} cells", t_gi, "< 0.25 s"))
    t_gi2, _ = timed(lambda: gi_star(cells, y, k=2, fdr=True), 5)
    rows.append(("Gi* + weights + FDR (k=2)", f"{cells.size:,} cells", t_gi2, ""))

    import esda  # slow import; may JIT with numba
    import libpysal

    small = neighbour_matrix(cells[:200], 1)
    esda.G_Local(y[:200], libpysal.weights.WSP(small).to_W(silence_warnings=True), star=True, transform="B",
                 permutations=0)  # fmt: skip
    t_wb, w_esda = timed(lambda: libpysal.weights.WSP(w).to_W(silence_warnings=True), 1)
    t_esda, ref = timed(lambda: esda.G_Local(y, w_esda, star=True, transform="B", permutations=0), 2)
    rows.append(("libpysal W from our sparse weights", f"{cells.size:,} cells", t_wb, ""))
    rows.append(("esda G_Local analytic (W prebuilt)", f"{cells.size:,} cells", t_esda, ""))
    max_dz = float(np.nanmax(np.abs(ref.Zs - res.z)))

    cells_e = patch(20_000)
    steps = 52
    y_e = rng.poisson(0.4, (cells_e.size, steps)).astype(float)
    growing = np.searchsorted(cells_e, grid.grid_disk(cells_e[[cells_e.size // 3]], 2)[0])
    y_e[growing] += rng.poisson(np.linspace(0.5, 4.0, steps), (growing.size, steps))
    t_st, (z_e, _) = timed(lambda: space_time_gi_star(cells_e, y_e, 1, 1), 3)
    t_mk, _ = timed(lambda: mann_kendall(np.nan_to_num(z_e)), 3)
    t_em, df = timed(lambda: emerging_hot_spots(cells_e, y_e, k=1, time_window=1), 3)
    size_e = f"{cells_e.size:,} × {steps}"
    rows.append(("space-time Gi* (k=1, window 1)", size_e, t_st, ""))
    rows.append(("Mann-Kendall per cell", size_e, t_mk, ""))
    rows.append(("emerging hot spots (all steps)", size_e, t_em, "< 10 s"))

    print(f"{'step':<38} {'size':>16} {'median s':>10}  target")
    for name, size, t, target in rows:
        print(f"{name:<38} {size:>16} {t:>10.4f}  {target}")
    print(f"esda / gridgis Gi* time ratio: {t_esda / t_gi:.1f}× (esda W build excluded; with it "
          f"{(t_esda + t_wb) / t_gi:.1f}×)")  # fmt: skip
    print(f"max |z − esda Zs| = {max_dz:.2e}; hot bins (FDR) = {(res.bin > 0).sum():,}, "
          f"cold = {(res.bin < 0).sum():,}")  # fmt: skip
    counts = df["trend"].value_counts()
    print("emerging classes: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
