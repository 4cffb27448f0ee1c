"""Emerging hot spots: space-time Gi* per (cell, step), Mann-Kendall trends and the 17 ArcGIS classes.

Inputs are a cell array and a ``steps_matrix`` of shape (cells × steps), oldest step first (e.g.
52 weekly request counts per cell). As in ArcGIS "Emerging Hot Spot Analysis" with its default
global window (entire cube), each bin's Gi* neighbourhood is the spatial k-disk at the same step
and at the previous ``time_window`` steps, and the mean and variance come from the whole cube.
Bins are significant at ``alpha`` after Benjamini–Hochberg FDR over all bins (ArcGIS applies FDR
here too). The Mann-Kendall trend of each cell's Gi* z series separates intensifying, persistent
and diminishing spots.

Class rules (DOMAIN.md §7, ArcGIS Pro definitions), for hot spots — cold spots mirror them:

- new: significant only in the last step (never hot or cold before);
- consecutive: one uninterrupted run of ≥ 2 hot steps ending at the last step, never significant
  before the run, < 90 % of steps hot;
- intensifying / persistent / diminishing: ≥ 90 % of steps hot including the last, with a
  significant upward / no / significant downward Mann-Kendall trend of z;
- sporadic: hot in the last step, hot on and off before, < 90 % hot, never cold;
- oscillating: hot in the last step, significantly cold in some earlier step, < 90 % hot;
- historical: ≥ 90 % of steps hot but not significant in the last step;
- no pattern: anything else.

The last step decides the family: a cell cold in the last step is classified among cold classes
even if it was mostly hot before (→ oscillating cold). For cold spots "intensifying" means z keeps
falling (a significant downward trend). As in current ArcGIS Pro, sporadic requires the last step
to be significant (older ArcMap docs did not).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import special

from gridgis.errors import InvalidInputError
from gridgis.heatmap.hotspots import (
    MIN_INCIDENTS,
    ZERO_VARIANCE_REASON,
    check_cells,
    check_k,
    check_values,
    fdr_adjust,
    neighbour_matrix,
    too_few_reason,
    two_sided_p,
    z_from_lag,
)

log = logging.getLogger(__name__)

TREND_LABELS: dict[str, tuple[str, str]] = {
    "new_hot": ("新增热点", "New hot spot"),
    "consecutive_hot": ("连续热点", "Consecutive hot spot"),
    "intensifying_hot": ("加剧热点", "Intensifying hot spot"),
    "persistent_hot": ("持续热点", "Persistent hot spot"),
    "diminishing_hot": ("减弱热点", "Diminishing hot spot"),
    "sporadic_hot": ("零星热点", "Sporadic hot spot"),
    "oscillating_hot": ("振荡热点", "Oscillating hot spot"),
    "historical_hot": ("历史热点", "Historical hot spot"),
    "new_cold": ("新增冷点", "New cold spot"),
    "consecutive_cold": ("连续冷点", "Consecutive cold spot"),
    "intensifying_cold": ("加剧冷点", "Intensifying cold spot"),
    "persistent_cold": ("持续冷点", "Persistent cold spot"),
    "diminishing_cold": ("减弱冷点", "Diminishing cold spot"),
    "sporadic_cold": ("零星冷点", "Sporadic cold spot"),
    "oscillating_cold": ("振荡冷点", "Oscillating cold spot"),
    "historical_cold": ("历史冷点", "Historical cold spot"),
    "no_pattern": ("无明显模式", "No pattern detected"),
}
NO_PATTERN = "no_pattern"


def _as_matrix(a, name: str) -> np.ndarray:
    try:
        x = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} 须为数值矩阵 / {name} must be a numeric matrix", field=name) from exc
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] == 0:
        raise InvalidInputError(
            f"{name} 须为（网格 × 时间步）矩阵 / {name} must be a (cells × time steps) matrix, "
            f"got shape {x.shape}",
            field=name,
        )
    return x


def mann_kendall(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Kendall trend z (tie-corrected variance, continuity correction) and two-sided p per row.

    ``series`` is (rows × steps); a 1-D series counts as one row. Same numbers as
    ``pymannkendall.original_test``; rows without any change get z = 0, p = 1.
    """
    x = _as_matrix(series, "series")
    if not np.isfinite(x).all():
        raise InvalidInputError(
            "series 含空值或无穷大 / series contains NaN or infinite values", field="series"
        )
    rows, n = x.shape
    s = np.zeros(rows)
    # One pass per lag keeps memory at one (rows × steps) block instead of all step pairs.
    for d in range(1, n):
        s += np.sign(x[:, d:] - x[:, :-d]).sum(axis=1)
    # Tie groups: runs of equal values in each sorted row, counted on the flattened matrix.
    xs = np.sort(x, axis=1)
    starts_mask = np.ones((rows, n), dtype=bool)
    starts_mask[:, 1:] = xs[:, 1:] != xs[:, :-1]
    starts = np.flatnonzero(starts_mask.ravel())
    t = np.diff(np.append(starts, rows * n)).astype(np.float64)
    ties = np.bincount(starts // n, weights=t * (t - 1) * (2 * t + 5), minlength=rows)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    z = np.zeros(rows)
    num = s - np.sign(s)  # continuity correction: S−1 for S>0, S+1 for S<0
    np.divide(num, np.sqrt(var_s), out=z, where=(s != 0) & (var_s > 0))
    return z, 2.0 * special.ndtr(-np.abs(z))


def space_time_gi_star(
    cells: np.ndarray, steps_matrix: np.ndarray, k: int = 1, time_window: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z and two-sided p per (cell, step), shaped like ``steps_matrix``.

    The space-time weights are the block matrix L ⊗ W (W: binary k-ring weights with the cell
    itself, L: ones on the diagonal and ``time_window`` sub-diagonals); it is applied as W @ Y
    followed by a moving sum over steps, never materialised. Mean and variance are those of the
    whole cube; everything is NaN when the cube has zero variance.
    """
    cells = check_cells(cells)
    y = check_values(steps_matrix, cells.size, "steps_matrix")
    if y.ndim != 2 or y.shape[1] == 0:
        raise InvalidInputError(
            f"steps_matrix 须为（网格 × 时间步）矩阵 / steps_matrix must be (cells × steps), got {y.shape}",
            field="steps_matrix",
        )
    tw = _check_time_window(time_window)
    n_steps = y.shape[1]
    w = neighbour_matrix(cells, k)
    lag_s = np.asarray(w @ y)
    lag = lag_s.copy()
    for d in range(1, min(tw, n_steps - 1) + 1):
        lag[:, d:] += lag_s[:, :-d]
    # Early steps have fewer earlier steps to look back on, so smaller neighbourhoods.
    steps_in = np.minimum(np.arange(n_steps), tw) + 1
    card = np.diff(w.indptr).astype(np.float64)[:, None] * steps_in[None, :]
    std = float(y.std())
    if std == 0.0 or y.size < 2:
        nan = np.full(y.shape, np.nan)
        return nan, nan.copy()
    z = z_from_lag(lag, card, float(y.mean()), std, y.size)
    return z, two_sided_p(z)


def _check_time_window(time_window: int) -> int:
    try:
        tw = int(time_window)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"time_window 须为整数 / time_window must be an integer, got {time_window!r}", field="time_window"
        ) from exc
    if tw != time_window or tw < 0:
        raise InvalidInputError(
            f"time_window 须为不小于 0 的整数（向前纳入的时间步数）/ time_window (earlier steps in the "
            f"neighbourhood) must be an integer ≥ 0, got {time_window!r}",
            field="time_window",
        )
    return tw


def _check_alpha(alpha: float) -> float:
    a = float(alpha)
    if not 0 < a < 1:
        raise InvalidInputError(
            f"alpha 须在 (0, 1) 之间 / alpha must be in (0, 1), got {alpha!r}", field="alpha"
        )
    return a


def _family(
    sig: np.ndarray, other: np.ndarray, up: np.ndarray, down: np.ndarray, suffix: str
) -> tuple[list[np.ndarray], list[str]]:
    """Conditions and codes of one family (hot or cold) for cells significant-in-family at the last step."""
    n_steps = sig.shape[1]
    n_sig = sig.sum(axis=1)
    n_any = (sig | other).sum(axis=1)
    last = sig[:, -1]
    trailing = sig[:, ::-1]
    run = np.where(trailing.all(axis=1), n_steps, np.argmin(trailing, axis=1))
    ninety = 10 * n_sig >= 9 * n_steps  # integer test: no float rounding at exactly 90 %
    clean_before = n_any == run  # nothing significant (either sign) before the final run
    ever_other = other.any(axis=1)
    last_quiet = ~last & ~other[:, -1]
    conds = [
        last & (n_any == 1),
        last & (run >= 2) & clean_before & ~ninety,
        last & ninety & up,
        last & ninety & down,
        last & ninety,
        last & ~ninety & ~ever_other,
        last & ~ninety & ever_other,
        last_quiet & ninety,
    ]
    codes = [f"{p}_{suffix}" for p in ("new", "consecutive", "intensifying", "diminishing", "persistent")]
    codes += [f"{p}_{suffix}" for p in ("sporadic", "oscillating", "historical")]
    return conds, codes


def _classify(
    hot: np.ndarray, cold: np.ndarray, mk_z: np.ndarray, mk_p: np.ndarray, alpha: float
) -> np.ndarray:
    trend = mk_p <= alpha
    rising, falling = trend & (mk_z > 0), trend & (mk_z < 0)
    hc, hcodes = _family(hot, cold, rising, falling, "hot")
    # For cold spots a falling z means colder, i.e. intensifying.
    cc, ccodes = _family(cold, hot, falling, rising, "cold")
    return np.select(hc + cc, hcodes + ccodes, default=NO_PATTERN).astype(object)


def classify_trends(z: np.ndarray, p: np.ndarray, *, alpha: float = 0.10) -> np.ndarray:
    """One of the 17 TREND_LABELS codes per cell from (cells × steps) Gi* z and p matrices.

    A bin is hot (cold) when p ≤ alpha and z > 0 (z < 0); pass FDR-adjusted p for FDR
    significance. NaN z/p count as not significant and as z = 0 in the trend test.
    """
    zm, pm = _as_matrix(z, "z"), _as_matrix(p, "p")
    if zm.shape != pm.shape:
        raise InvalidInputError(
            f"z 与 p 形状不同 / z and p differ in shape: {zm.shape} vs {pm.shape}", field="p"
        )
    alpha = _check_alpha(alpha)
    with np.errstate(invalid="ignore"):
        sig = pm <= alpha
    hot, cold = sig & (zm > 0), sig & (zm < 0)
    mk_z, mk_p = mann_kendall(np.nan_to_num(zm, nan=0.0))
    return _classify(hot, cold, mk_z, mk_p, alpha)


def emerging_hot_spots(
    cells: np.ndarray,
    steps_matrix: np.ndarray,
    k: int = 1,
    time_window: int = 1,
    alpha: float = 0.10,
    *,
    fdr: bool = True,
) -> pd.DataFrame:
    """Emerging hot spot class per cell.

    Columns: ``cell`` (uint64), ``trend`` (code), ``label_zh``, ``label_en``, ``mk_z``, ``mk_p``
    (trend of the cell's Gi* z series), ``n_hot_steps``, ``n_cold_steps``, ``last_z``.
    ``df.attrs`` holds ``significant`` (bool) and ``reason`` (zh + en, or None): with fewer than
    MIN_INCIDENTS incidents in the cube, or no variation at all, every cell is ``no_pattern``
    and the z/trend columns are NaN.
    """
    cells = check_cells(cells)
    alpha = _check_alpha(alpha)
    check_k(k)
    _check_time_window(time_window)
    y = check_values(steps_matrix, cells.size, "steps_matrix")
    total = float(y.sum())
    reason = None
    if total < MIN_INCIDENTS:
        reason = too_few_reason(total)
    elif y.std() == 0.0:
        reason = ZERO_VARIANCE_REASON
    n = cells.size
    if reason is not None:
        log.info("emerging hot spots not tested: %s", reason)
        nan = np.full(n, np.nan)
        trend = np.full(n, NO_PATTERN, dtype=object)
        hot_n = cold_n = np.zeros(n, dtype=np.int64)
        mk_z, mk_p, last_z = nan, nan, nan
    else:
        z, p = space_time_gi_star(cells, y, k, time_window)
        if y.shape[1] < 10:
            log.info(
                "emerging hot spots on %d steps: Mann-Kendall trends need ~10+ steps to be meaningful",
                y.shape[1],
            )
        p_sig = fdr_adjust(p) if fdr else p
        with np.errstate(invalid="ignore"):
            sig = p_sig <= alpha
        hot, cold = sig & (z > 0), sig & (z < 0)
        mk_z, mk_p = mann_kendall(np.nan_to_num(z, nan=0.0))
        trend = _classify(hot, cold, mk_z, mk_p, alpha)
        hot_n, cold_n, last_z = hot.sum(axis=1), cold.sum(axis=1), z[:, -1]
    idx = pd.Index(list(TREND_LABELS)).get_indexer(trend)
    zh, en = (np.array(col, dtype=object) for col in zip(*TREND_LABELS.values(), strict=True))
    df = pd.DataFrame(
        {
            "cell": cells,
            "trend": pd.array(trend, dtype="str"),
            "label_zh": pd.array(zh[idx], dtype="str"),
            "label_en": pd.array(en[idx], dtype="str"),
            "mk_z": mk_z,
            "mk_p": mk_p,
            "n_hot_steps": hot_n,
            "n_cold_steps": cold_n,
            "last_z": last_z,
        }
    )
    df.attrs["significant"] = reason is None
    df.attrs["reason"] = reason
    return df
