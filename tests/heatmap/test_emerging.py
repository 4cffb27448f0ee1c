"""Emerging hot spots: Mann-Kendall, space-time Gi* and the 17 trend classes, on Chengdu cells."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import shapely

from gridgis import grid
from gridgis.errors import InvalidInputError
from gridgis.heatmap.emerging import (
    TREND_LABELS,
    classify_trends,
    emerging_hot_spots,
    mann_kendall,
    space_time_gi_star,
)
from gridgis.heatmap.hotspots import neighbour_matrix, study_area_cells

RES = 10
T = 20
SIG, NOT_SIG = 0.01, 0.5


@pytest.fixture(scope="module")
def area_cells() -> np.ndarray:
    return study_area_cells(shapely.box(104.05, 30.65, 104.07, 30.67), RES)


def disk_positions(study: np.ndarray, lat: float, lng: float, k: int = 1) -> np.ndarray:
    disk = grid.grid_disk(grid.latlng_to_cells([lat], [lng], RES), k)[0]
    pos = np.searchsorted(study, disk)
    assert (study[pos] == disk).all()
    return pos


# --- Mann-Kendall -----------------------------------------------------------------------------


def test_mann_kendall_known_value():
    # S = 10, var = 5·4·15/18, z = (S − 1)/√var
    z, p = mann_kendall(np.array([[1.0, 2, 3, 4, 5], [5, 4, 3, 2, 1]]))
    np.testing.assert_allclose(z, [9 / np.sqrt(50 / 3), -9 / np.sqrt(50 / 3)], rtol=1e-12)
    np.testing.assert_allclose(p, [0.027486, 0.027486], atol=1e-6)


def test_mann_kendall_equals_pymannkendall():
    pmk = pytest.importorskip("pymannkendall")
    rng = np.random.default_rng(42)
    ints = rng.integers(0, 4, size=(60, 15)).astype(float)  # many ties
    floats = rng.normal(size=(40, 15)) + np.linspace(0, 1.5, 15) * rng.integers(-1, 2, size=(40, 1))
    special = np.array([np.full(15, 3.0), np.arange(15.0), np.r_[np.zeros(14), 1.0]])
    for x in (ints, floats, special):
        z, p = mann_kendall(x)
        ref = [pmk.original_test(row) for row in x]
        np.testing.assert_allclose(z, [r.z for r in ref], rtol=0, atol=1e-9)
        np.testing.assert_allclose(p, [r.p for r in ref], rtol=0, atol=1e-9)


def test_mann_kendall_one_series_and_constant_rows():
    z, p = mann_kendall(np.arange(10.0))
    assert z.shape == (1,) and z[0] > 3
    z, p = mann_kendall(np.ones((2, 8)))
    np.testing.assert_array_equal(z, 0.0)
    np.testing.assert_array_equal(p, 1.0)


def test_mann_kendall_rejects_nan():
    with pytest.raises(InvalidInputError) as err:
        mann_kendall(np.array([[1.0, np.nan, 2.0]]))
    assert err.value.field == "series"


# --- space-time Gi* ---------------------------------------------------------------------------


@pytest.mark.parametrize("time_window", [0, 1, 2])
def test_space_time_gi_star_equals_esda_on_block_weights(area_cells, time_window):
    esda = pytest.importorskip("esda")
    libpysal = pytest.importorskip("libpysal")
    cells = area_cells[:120]  # a partial patch keeps esda quick and exercises edge cells
    steps = 6
    y = np.random.default_rng(time_window).poisson(2.0, (cells.size, steps)).astype(float)
    z, p = space_time_gi_star(cells, y, k=1, time_window=time_window)
    assert z.shape == p.shape == y.shape
    # Bins ordered step-major: bin (t, i) sees cell i's disk at steps t − time_window .. t.
    lower = np.tril(np.ones((steps, steps))) - np.tril(np.ones((steps, steps)), -time_window - 1)
    block = sp.kron(sp.csr_matrix(lower), neighbour_matrix(cells, 1), format="csr")
    w = libpysal.weights.WSP(block).to_W(silence_warnings=True)
    ref = esda.G_Local(y.T.ravel(), w, star=True, transform="B", permutations=0)
    np.testing.assert_allclose(z.T.ravel(), ref.Zs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(p.T.ravel(), 2 * ref.p_norm, rtol=0, atol=1e-12)


def test_space_time_gi_star_zero_variance_is_nan(area_cells):
    z, p = space_time_gi_star(area_cells, np.ones((area_cells.size, 4)))
    assert np.isnan(z).all() and np.isnan(p).all()


@pytest.mark.parametrize("bad", [{"time_window": -1}, {"time_window": 1.5}, {"k": 0}])
def test_space_time_gi_star_rejects_bad_parameters(area_cells, bad):
    with pytest.raises(InvalidInputError) as err:
        space_time_gi_star(area_cells, np.ones((area_cells.size, 4)), **bad)
    assert err.value.field == next(iter(bad))


# --- classification ---------------------------------------------------------------------------


def series(hot=(), cold=(), hot_z=3.0):
    """One (z, p) row of T steps: hot/cold steps significant, others z = 0.5 and not significant."""
    z = np.full(T, 0.5)
    p = np.full(T, NOT_SIG)
    hot = np.asarray(hot, dtype=int)
    z[hot] = np.broadcast_to(hot_z, (T,))[hot]
    p[hot] = SIG
    z[list(cold)] = -3.0
    p[list(cold)] = SIG
    return z, p


ALL = range(T)
RISING = np.linspace(2, 6, T)
FLAT = 3.0 + 0.1 * (np.arange(T) % 2)  # wobble with no trend
HOT_CASES = {
    "new_hot": series(hot=[19]),
    "consecutive_hot": series(hot=range(16, 20)),
    "intensifying_hot": series(hot=ALL, hot_z=RISING),
    "persistent_hot": series(hot=ALL, hot_z=FLAT),
    "diminishing_hot": series(hot=ALL, hot_z=RISING[::-1]),
    "sporadic_hot": series(hot=[2, 5, 19]),
    "oscillating_hot": series(hot=[19], cold=[3]),
    "historical_hot": series(hot=range(19)),
}


def mirrored(z, p):
    return -z, p


CASES = {
    **HOT_CASES,
    **{code.replace("_hot", "_cold"): mirrored(*zp) for code, zp in HOT_CASES.items()},
    "no_pattern": series(),
}
EDGE_CASES = [
    ("hot then quiet, < 90 %", series(hot=range(2, 6)), "no_pattern"),
    ("exactly 90 % incl. last", series(hot=[s for s in ALL if s not in (4, 9)]), "persistent_hot"),
    ("85 % incl. last", series(hot=[s for s in ALL if s not in (4, 9, 12)]), "sporadic_hot"),
    ("final run after earlier cold", series(hot=[17, 18, 19], cold=[2]), "oscillating_hot"),
    ("final run after an earlier hot step", series(hot=[3, 17, 18, 19]), "sporadic_hot"),
    ("mostly hot, cold at the end", series(hot=range(18), cold=[19]), "oscillating_cold"),
    ("cold once, last quiet", series(cold=[7]), "no_pattern"),
]


def test_every_one_of_the_17_classes_is_reached():
    codes = list(CASES)
    z = np.stack([CASES[c][0] for c in codes])
    p = np.stack([CASES[c][1] for c in codes])
    assert set(codes) == set(TREND_LABELS) and len(TREND_LABELS) == 17
    got = classify_trends(z, p, alpha=0.10)
    assert dict(zip(codes, got.tolist(), strict=True)) == {c: c for c in codes}


@pytest.mark.parametrize(("why", "zp", "expected"), EDGE_CASES, ids=[e[0] for e in EDGE_CASES])
def test_classification_edge_cases(why, zp, expected):
    z, p = zp
    assert classify_trends(z[None, :], p[None, :])[0] == expected


def test_alpha_decides_significance():
    z, p = series(hot=[19])
    p[19] = 0.07
    assert classify_trends(z, p, alpha=0.10)[0] == "new_hot"
    assert classify_trends(z, p, alpha=0.05)[0] == "no_pattern"


def test_nan_counts_as_not_significant():
    z, p = series(hot=[19])
    z[3], p[3] = np.nan, np.nan
    assert classify_trends(z, p)[0] == "new_hot"


def test_trend_labels_are_bilingual():
    assert TREND_LABELS["intensifying_hot"] == ("加剧热点", "Intensifying hot spot")
    assert all(zh and en and zh != en for zh, en in TREND_LABELS.values())


# --- end to end -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_cube(area_cells):
    """20 weekly counts per cell: Poisson background, one growing, one fading, one brand-new cluster."""
    rng = np.random.default_rng(3)
    y = rng.poisson(2.0, (area_cells.size, T)).astype(float)
    steps = np.arange(T)
    growing = disk_positions(area_cells, 30.662, 104.056)
    fading = disk_positions(area_cells, 30.655, 104.066)
    fresh = disk_positions(area_cells, 30.666, 104.066)
    y[growing] += np.round(4 + 0.8 * steps)
    y[fading] += np.round(14 - 0.5 * steps)
    y[fresh, T - 1] += 12
    return y, growing[0], fading[0], fresh[0]


def test_emerging_growing_fading_and_new_clusters(area_cells, synthetic_cube):
    y, growing, fading, fresh = synthetic_cube
    df = emerging_hot_spots(area_cells, y, k=1, time_window=1, alpha=0.10)
    assert list(df.columns) == [
        "cell", "trend", "label_zh", "label_en", "mk_z", "mk_p", "n_hot_steps", "n_cold_steps", "last_z",
    ]  # fmt: skip
    assert df.attrs["significant"] and df.attrs["reason"] is None
    assert df["cell"].dtype == np.uint64
    np.testing.assert_array_equal(df["cell"].to_numpy(), area_cells)
    assert df.loc[growing, "trend"] in {"intensifying_hot", "new_hot"}
    assert df.loc[growing, "mk_z"] > 0 and df.loc[growing, "n_hot_steps"] >= 18
    assert df.loc[fading, "trend"] in {"diminishing_hot", "historical_hot"}
    assert df.loc[fading, "mk_z"] < 0
    assert df.loc[fresh, "trend"] == "new_hot" and df.loc[fresh, "n_hot_steps"] == 1
    assert df.loc[fresh, "label_zh"] == "新增热点" and df.loc[fresh, "label_en"] == "New hot spot"
    # The background is mostly without a pattern.
    assert (df["trend"] == "no_pattern").mean() > 0.8
    assert set(df["trend"]) <= set(TREND_LABELS)


def test_emerging_fdr_is_stricter(area_cells, synthetic_cube):
    y = synthetic_cube[0]
    strict = emerging_hot_spots(area_cells, y, fdr=True)
    loose = emerging_hot_spots(area_cells, y, fdr=False)
    assert (strict["n_hot_steps"] <= loose["n_hot_steps"]).all()
    assert strict["n_hot_steps"].sum() < loose["n_hot_steps"].sum()


def test_emerging_too_few_incidents(area_cells):
    y = np.zeros((area_cells.size, 10))
    y[disk_positions(area_cells, 30.660, 104.060), 9] = 4  # 28 requests
    df = emerging_hot_spots(area_cells, y)
    assert not df.attrs["significant"] and "30" in df.attrs["reason"]
    assert (df["trend"] == "no_pattern").all() and df["mk_z"].isna().all()
    assert (df["label_zh"] == "无明显模式").all()


def test_emerging_rejects_mismatched_matrix(area_cells):
    with pytest.raises(InvalidInputError) as err:
        emerging_hot_spots(area_cells, np.ones((area_cells.size - 1, 10)))
    assert err.value.field == "steps_matrix"
