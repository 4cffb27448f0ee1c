"""Getis-Ord Gi* hot spots on H3 cells: neighbour weights, z/p scores, FDR-aware confidence bins.

Everything here is a pure function over numpy arrays: ``cells`` (uint64 H3 ids, one resolution,
no duplicates) and ``values`` (non-negative counts or rates aligned with ``cells``). The cell set
is the study area: neighbours outside it do not exist for the statistic, so pass the filled study
area (:func:`study_area_cells` + :func:`fill_values`) when cells without requests must count as 0.

The z-score is the analytic Gi* of Getis & Ord (1995) with binary weights and the cell in its own
neighbourhood, i.e. exactly ``esda.G_Local(y, w, star=True, transform="B").Zs``. Bins follow ArcGIS
"Hot Spot Analysis": ±3/±2/±1 for 99/95/90 % confidence, optionally with the Benjamini–Hochberg
false discovery rate correction (as in "Optimized Hot Spot Analysis"): z and p stay raw, only the
bin reflects FDR.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy import special, stats

from gridgis import grid
from gridgis.errors import InvalidInputError

log = logging.getLogger(__name__)

MIN_INCIDENTS = 30
"""Below this many incidents in the study area Esri refuses hexagon hot spots: show counts only."""

MAX_K = 10
DEFAULT_ALPHAS = (0.10, 0.05, 0.01)


@dataclass
class HotSpotResult:
    """Gi* result, one entry per input cell, in the input order.

    ``z``/``p`` are raw (two-sided normal p); ``bin`` is -3..3 (sign of z times the number of
    confidence levels passed, after FDR when ``fdr``). ``significant`` is False when the data
    cannot support significance at all (too few incidents, zero variance); then z/p are NaN,
    every bin is 0 and ``reason`` says why in Chinese and English. A single cell whose
    neighbourhood covers the whole study area has an undefined z (NaN, bin 0).
    """

    cells: np.ndarray
    value: np.ndarray
    z: np.ndarray
    p: np.ndarray
    bin: np.ndarray
    significant: bool
    reason: str | None
    k: int
    fdr: bool

    def to_frame(self) -> pd.DataFrame:
        """Columns ``cell`` (uint64), ``value``, ``z``, ``p``, ``bin`` (int8)."""
        return pd.DataFrame(
            {"cell": self.cells, "value": self.value, "z": self.z, "p": self.p, "bin": self.bin}
        )


def check_k(k: int, name: str = "k") -> int:
    """Validate a neighbourhood ring count (1..MAX_K)."""
    try:
        kk = int(k)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"参数 {name} 须为整数 / {name} must be an integer, got {k!r}", field=name
        ) from exc
    if kk != k or not 1 <= kk <= MAX_K:
        raise InvalidInputError(
            f"参数 {name} 须为 1–{MAX_K} 的整数（邻域环数）/ {name} (neighbourhood rings) must be an "
            f"integer from 1 to {MAX_K}, got {k!r}",
            field=name,
        )
    return kk


def check_cells(cells, name: str = "cells") -> np.ndarray:
    """Cells as a 1-D uint64 array of one resolution without 0 or duplicates."""
    arr = np.asarray(cells)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} 须为一维数组 / {name} must be a 1-D array of H3 cells", field=name)
    if arr.size and arr.dtype.kind not in "ui":
        raise InvalidInputError(
            f"{name} 须为 64 位整数 H3 编号（字符串请先用 grid.str_to_cells 转换）/ {name} must be "
            f"uint64 H3 ids (convert hex strings with grid.str_to_cells)",
            field=name,
        )
    arr = arr.astype(np.uint64, copy=False)
    if (arr == 0).any():
        raise InvalidInputError(
            f"{name} 含空网格编号 0（坐标缺失的记录须先剔除）/ {name} contains 0 (no cell); drop rows "
            f"without coordinates first",
            field=name,
        )
    res = np.unique(grid.cell_resolution(arr))
    if res.size > 1:
        raise InvalidInputError(
            f"{name} 混合了多个 H3 分辨率 {res.tolist()}，请先统一到同一分辨率 / {name} mixes H3 "
            f"resolutions {res.tolist()}; aggregate to one resolution first",
            field=name,
        )
    return arr


def check_values(values, n: int, name: str = "values") -> np.ndarray:
    """Values as finite, non-negative float64 of length ``n`` (any trailing dims kept)."""
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} 须为数值 / {name} must be numeric", field=name) from exc
    if v.ndim == 0 or v.shape[0] != n:
        raise InvalidInputError(
            f"{name} 与 cells 长度不一致 / {name} must have one row per cell ({n}), got shape {v.shape}",
            field=name,
        )
    if not np.isfinite(v).all():
        raise InvalidInputError(f"{name} 含空值或无穷大 / {name} contains NaN or infinite values", field=name)
    # Getis-Ord G is defined for non-negative variables (counts, rates); negative input means a bug upstream.
    if (v < 0).any():
        raise InvalidInputError(f"{name} 不能为负数 / {name} must not be negative", field=name)
    return v


def neighbour_matrix(cells: np.ndarray, k: int = 1) -> sp.csr_matrix:
    """Binary k-ring weights among ``cells`` with the cell itself included (Gi*).

    Row i has a 1 in column j when cell j lies in cell i's k-disk; cells outside the given set
    are dropped, so edge cells of the study area simply have fewer neighbours.
    """
    cells = check_cells(cells)
    k = check_k(k)
    n = cells.size
    if n == 0:
        return sp.csr_matrix((0, 0), dtype=np.float64)
    order = np.argsort(cells, kind="stable")
    ordered = cells[order]
    dup = ordered[1:] == ordered[:-1]
    if dup.any():
        first = format(int(ordered[1:][dup][0]), "x")
        raise InvalidInputError(
            f"cells 含重复网格 {first}，请先按网格汇总 / cells contains duplicate cell {first}; "
            f"aggregate values per cell first",
            field="cells",
        )
    try:
        origin, neigh = grid.grid_disk_pairs(cells, k)
    except ValueError as exc:
        raise InvalidInputError(
            f"cells 含无效的 H3 编号 / cells contains invalid H3 ids: {exc}", field="cells"
        ) from exc
    pos = np.searchsorted(ordered, neigh)
    pos[pos == n] = 0  # past the end: cannot match, any in-range index does for the equality test
    inside = ordered[pos] == neigh
    col = order[pos[inside]]
    row = origin[inside]
    # grid_disk_pairs yields rows grouped by origin in ascending order, so CSR can be built directly.
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n), out=indptr[1:])
    data = np.ones(col.size, dtype=np.float64)
    return sp.csr_matrix((data, col.astype(np.int64, copy=False), indptr), shape=(n, n))


def gi_star_z(weights: sp.csr_matrix, y: np.ndarray) -> np.ndarray:
    """Analytic Gi* z for binary CSR ``weights`` (diagonal included) over a flat value vector ``y``.

    z_i = (Σ_j w_ij y_j − ȳ W_i) / (S √((n W_i − W_i²)/(n − 1))) with W_i the neighbourhood size
    and S the population standard deviation — algebraically the same as esda's G_Local Zs.
    Cells whose neighbourhood is the whole area (W_i = n) get NaN. Caller ensures S > 0.
    """
    n = y.size
    lag = weights @ y
    card = np.diff(weights.indptr).astype(np.float64)  # binary weights: row sum = stored entries
    return z_from_lag(lag, card, y.mean(), y.std(), n)


def z_from_lag(lag: np.ndarray, card: np.ndarray, mean: float, std: float, n: int) -> np.ndarray:
    """Gi* z from the neighbourhood sums ``lag`` and sizes ``card`` (binary weights) of n values."""
    denom = std * np.sqrt((n * card - card * card) / (n - 1))
    z = np.full(lag.shape, np.nan)
    ok = denom > 0
    np.divide(lag - mean * card, denom, out=z, where=ok)
    return z


def two_sided_p(z: np.ndarray) -> np.ndarray:
    """Two-sided normal p-value; NaN stays NaN."""
    return 2.0 * special.ndtr(-np.abs(z))


def fdr_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p over the finite entries (NaN stays NaN), any shape.

    ``adjusted ≤ α`` is exactly BH rejection at level α (esda.fdr's cut-off, ArcGIS's FDR option).
    """
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def confidence_bins(
    z: np.ndarray, p: np.ndarray, alpha_levels: Sequence[float] = DEFAULT_ALPHAS
) -> np.ndarray:
    """sign(z) × number of levels α with p ≤ α (int8); NaN p → 0."""
    alphas = _check_alphas(alpha_levels)
    with np.errstate(invalid="ignore"):
        level = sum((p <= a).astype(np.int8) for a in alphas)
    return (np.sign(np.nan_to_num(z)).astype(np.int8) * level).astype(np.int8)


def _check_alphas(alpha_levels: Sequence[float]) -> tuple[float, ...]:
    try:
        alphas = tuple(float(a) for a in alpha_levels)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            "alpha_levels 须为数值序列 / alpha_levels must be a sequence of numbers", field="alpha_levels"
        ) from exc
    if not 1 <= len(alphas) <= 3 or not all(0 < a < 1 for a in alphas) or len(set(alphas)) != len(alphas):
        raise InvalidInputError(
            "alpha_levels 须为 1–3 个互不相同的 (0,1) 显著性水平，如 (0.10, 0.05, 0.01) / alpha_levels "
            f"must be 1–3 distinct levels in (0, 1), e.g. (0.10, 0.05, 0.01); got {alpha_levels!r}",
            field="alpha_levels",
        )
    return alphas


def too_few_reason(total: float) -> str:
    return (
        f"事件总数 {total:g} 少于 {MIN_INCIDENTS}，不做显著性检验，仅显示计数 / only {total:g} incidents "
        f"(fewer than {MIN_INCIDENTS}): showing counts, no significance test"
    )


ZERO_VARIANCE_REASON = (
    "所有网格的数值相同（方差为零），无法判断热点或冷点 / every cell has the same value (zero variance): "
    "hot and cold spots are undefined"
)


def gi_star(
    cells: np.ndarray,
    values: np.ndarray,
    k: int = 1,
    *,
    fdr: bool = True,
    alpha_levels: Sequence[float] = DEFAULT_ALPHAS,
    incidents: float | None = None,
) -> HotSpotResult:
    """Getis-Ord Gi* hot and cold spots over the cell set with k-ring binary weights.

    ``incidents`` is the number of requests behind ``values`` when they are not plain counts
    (rates, weights); it defaults to ``values.sum()`` and decides the MIN_INCIDENTS rule.
    """
    cells = check_cells(cells)
    y = check_values(values, cells.size)
    if y.ndim != 1:
        raise InvalidInputError(f"values 须为一维 / values must be 1-D, got shape {y.shape}", field="values")
    k = check_k(k)
    _check_alphas(alpha_levels)
    n = cells.size
    nan = np.full(n, np.nan)
    total = float(y.sum()) if incidents is None else float(incidents)

    def insignificant(reason: str) -> HotSpotResult:
        log.info("Gi* not tested: %s", reason)
        return HotSpotResult(cells, y, nan, nan.copy(), np.zeros(n, np.int8), False, reason, k, fdr)

    if total < MIN_INCIDENTS:
        return insignificant(too_few_reason(total))
    w = neighbour_matrix(cells, k)
    if y.std() == 0.0:
        return insignificant(ZERO_VARIANCE_REASON)
    z = gi_star_z(w, y)
    p = two_sided_p(z)
    bins = confidence_bins(z, fdr_adjust(p) if fdr else p, alpha_levels)
    return HotSpotResult(cells, y, z, p, bins, True, None, k, fdr)


def study_area_cells(polygons, res: int) -> np.ndarray:
    """Cells (sorted uint64) whose centres fall in the study area, a polygon or several (unioned).

    ``polygons`` is a shapely (multi)polygon, a sequence/array of them or a GeoSeries, in lng/lat
    (WGS84 or CGCS2000).
    """
    res = grid.check_resolution(res)
    crs = getattr(polygons, "crs", None)
    if crs is not None and crs.to_epsg() not in (4326, 4490) and "CRS84" not in crs.to_string():
        raise InvalidInputError(
            f"研究区域须为经纬度坐标（EPSG:4326/4490），当前为 {crs} / study area must be in lng/lat "
            f"(EPSG:4326 or 4490), got {crs}; reproject it first",
            field="polygons",
        )
    if isinstance(polygons, shapely.Geometry):
        geoms = np.array([polygons], dtype=object)
    else:
        geoms = np.asarray(list(polygons), dtype=object)
    if geoms.size == 0 or not all(isinstance(g, shapely.Geometry) for g in geoms):
        raise InvalidInputError(
            "研究区域须为多边形几何 / study area must be one or more shapely polygons", field="polygons"
        )
    geoms = geoms[~shapely.is_empty(geoms)]
    kinds = set(shapely.get_type_id(geoms).tolist())
    if not geoms.size or not kinds <= {3, 6}:  # 3 Polygon, 6 MultiPolygon
        raise InvalidInputError(
            "研究区域须为面（Polygon/MultiPolygon），不能为空、点或线 / study area must be non-empty "
            "Polygon/MultiPolygon geometries, not points or lines",
            field="polygons",
        )
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    if ymin < -90 or ymax > 90 or xmin < -180 or xmax > 180:
        raise InvalidInputError(
            "研究区域坐标超出经纬度范围：顺序须为 (经度, 纬度) / study area coordinates are out of "
            "range: vertices must be (lng, lat), not (lat, lng) or projected metres",
            field="polygons",
        )
    # Hand-drawn or digitised grid polygons are often slightly invalid (self-touching rings);
    # repair them and keep only the areal parts before the union.
    parts = shapely.get_parts(shapely.make_valid(geoms))
    area = shapely.union_all(parts[np.isin(shapely.get_type_id(parts), [3, 6])])
    return np.sort(grid.polygon_to_cells(area, res))


def fill_values(study_cells: np.ndarray, cells: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values aligned with ``study_cells``: sums of ``values`` per cell, 0 where a cell has none.

    Cells outside the study area are dropped (logged); duplicates in ``cells`` are summed.
    """
    study = check_cells(study_cells, "study_cells")
    cells = np.asarray(cells).astype(np.uint64, copy=False).ravel()
    v = check_values(values, cells.size)
    out = np.zeros(study.size, dtype=np.float64)
    if study.size == 0 or cells.size == 0:
        return out
    order = np.argsort(study, kind="stable")
    ordered = study[order]
    pos = np.searchsorted(ordered, cells)
    pos[pos == study.size] = 0
    inside = ordered[pos] == cells
    if not inside.any() and (grid.cell_resolution(cells[:1]) != grid.cell_resolution(ordered[:1])).all():
        raise InvalidInputError(
            "cells 与研究区域网格的分辨率不同 / cells and study_cells have different H3 resolutions",
            field="cells",
        )
    if not inside.all():
        log.info(
            "fill_values: %d of %d cells lie outside the study area and are ignored",
            (~inside).sum(),
            cells.size,
        )
    out[order] = np.bincount(pos[inside], weights=v[inside], minlength=study.size)
    return out
