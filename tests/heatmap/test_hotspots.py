"""Gi* hot spots on H3 cells around Chengdu, checked against esda's analytic G_Local."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gridgis import grid
from gridgis.errors import InvalidInputError
from gridgis.heatmap.hotspots import (
    MIN_INCIDENTS,
    HotSpotResult,
    fill_values,
    gi_star,
    neighbour_matrix,
    study_area_cells,
)

RES = 10
# About 2 km × 2.2 km in central Chengdu (Tianfu Square at 30.657N 104.066E): ~290 res-10 cells.
AREA = shapely.box(104.05, 30.65, 104.07, 30.67)


@pytest.fixture(scope="module")
def area_cells() -> np.ndarray:
    return study_area_cells(AREA, RES)


def disk_positions(study: np.ndarray, lat: float, lng: float, k: int) -> np.ndarray:
    """Positions in the sorted study array of the k-disk around the cell at (lat, lng)."""
    centre = grid.latlng_to_cells([lat], [lng], RES)
    disk = grid.grid_disk(centre, k)[0]
    pos = np.searchsorted(study, disk)
    assert (study[pos] == disk).all(), "planted disk must lie inside the study area"
    return pos


def centre_position(study: np.ndarray, lat: float, lng: float) -> int:
    return int(np.searchsorted(study, grid.latlng_to_cells([lat], [lng], RES)[0]))


def clustered_counts(study: np.ndarray, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = rng.poisson(3.0, study.size).astype(float)
    y[disk_positions(study, 30.660, 104.060, 1)] += rng.poisson(6.0, 7)
    return y


def esda_w(matrix):
    libpysal = pytest.importorskip("libpysal")
    return libpysal.weights.WSP(matrix).to_W(silence_warnings=True)


@pytest.mark.parametrize("k", [1, 2])
def test_z_equals_esda_analytic_gi_star(area_cells, k):
    esda = pytest.importorskip("esda")
    y = clustered_counts(area_cells)
    result = gi_star(area_cells, y, k=k)
    ref = esda.G_Local(y, esda_w(neighbour_matrix(area_cells, k)), star=True, transform="B", permutations=0)
    assert result.significant and result.reason is None
    np.testing.assert_allclose(result.z, ref.Zs, rtol=0, atol=1e-9)
    # esda's p_norm is one-sided; ours is two-sided.
    np.testing.assert_allclose(result.p, 2 * ref.p_norm, rtol=0, atol=1e-12)


def test_esda_fills_missing_diagonal_with_ones_so_z_is_the_same(area_cells):
    # With star=True and a zero diagonal esda sets the self-weight to 1: same Gi* as our matrix.
    esda = pytest.importorskip("esda")
    y = clustered_counts(area_cells, seed=3)
    w = neighbour_matrix(area_cells, 1).tolil()
    w.setdiag(0)
    w = w.tocsr()
    w.eliminate_zeros()
    ref = esda.G_Local(y, esda_w(w), star=True, transform="B", permutations=0)
    np.testing.assert_allclose(gi_star(area_cells, y).z, ref.Zs, rtol=0, atol=1e-9)


def test_fdr_bins_equal_esda_fdr_cutoffs(area_cells):
    esda = pytest.importorskip("esda")
    y = clustered_counts(area_cells, seed=11)
    result = gi_star(area_cells, y, fdr=True)
    level = sum((result.p <= esda.fdr(result.p, a)).astype(int) for a in (0.10, 0.05, 0.01))
    np.testing.assert_array_equal(result.bin, np.sign(result.z).astype(int) * level)
    assert np.abs(result.bin).max() == 3


def test_bins_without_fdr_follow_arcgis_confidence_levels(area_cells):
    result = gi_star(area_cells, clustered_counts(area_cells), fdr=False)
    z = result.z
    expected = np.sign(z) * (np.abs(z)[:, None] >= [1.6449, 1.9600, 2.5758]).sum(axis=1)
    close = np.isclose(np.abs(z), [[1.6449], [1.96], [2.5758]], atol=1e-3).any(axis=0)
    np.testing.assert_array_equal(result.bin[~close], expected[~close])
    assert result.bin.dtype == np.int8
    assert set(np.unique(result.bin)) <= set(range(-3, 4))


def test_planted_cluster_in_zeros_is_hot_and_far_cells_are_not(area_cells):
    y = np.zeros(area_cells.size)
    y[disk_positions(area_cells, 30.660, 104.060, 2)] = 10.0
    result = gi_star(area_cells, y)
    centre = centre_position(area_cells, 30.660, 104.060)
    assert result.bin[centre] == 3
    assert result.z[centre] > 5
    far = centre_position(area_cells, 30.652, 104.068)
    assert result.bin[far] == 0


def test_planted_void_is_cold(area_cells):
    rng = np.random.default_rng(5)
    y = rng.poisson(8.0, area_cells.size).astype(float)
    y[disk_positions(area_cells, 30.658, 104.058, 2)] = 0.0
    result = gi_star(area_cells, y)
    assert result.bin[centre_position(area_cells, 30.658, 104.058)] == -3
    assert (result.bin >= -3).all() and (result.bin[result.z > 0] >= 0).all()


def test_fdr_is_stricter_than_raw_p(area_cells):
    y = clustered_counts(area_cells, seed=21)
    raw = gi_star(area_cells, y, fdr=False)
    fdr = gi_star(area_cells, y, fdr=True)
    np.testing.assert_array_equal(raw.z, fdr.z)  # z and p stay raw
    np.testing.assert_array_equal(raw.p, fdr.p)
    assert (np.abs(fdr.bin) <= np.abs(raw.bin)).all()
    assert np.abs(fdr.bin).sum() < np.abs(raw.bin).sum()
    assert (fdr.bin * raw.bin >= 0).all()


def test_fewer_than_min_incidents_gives_counts_only(area_cells):
    y = np.zeros(area_cells.size)
    y[disk_positions(area_cells, 30.660, 104.060, 1)[:5]] = [6, 6, 6, 6, MIN_INCIDENTS - 25]
    assert y.sum() == MIN_INCIDENTS - 1
    result = gi_star(area_cells, y)
    assert not result.significant
    assert np.isnan(result.z).all() and np.isnan(result.p).all()
    assert (result.bin == 0).all()
    np.testing.assert_array_equal(result.value, y)
    assert "30" in result.reason and "少于" in result.reason and "fewer than" in result.reason

    y[0] += 1  # exactly MIN_INCIDENTS: tested
    assert gi_star(area_cells, y).significant


def test_incidents_override_for_rates(area_cells):
    y = clustered_counts(area_cells) / 100.0  # e.g. requests per household
    assert not gi_star(area_cells, y, incidents=12).significant
    assert gi_star(area_cells, y, incidents=500).significant


def test_zero_variance_is_not_significant(area_cells):
    result = gi_star(area_cells, np.full(area_cells.size, 2.0))
    assert not result.significant
    assert "方差" in result.reason and "variance" in result.reason
    assert (result.bin == 0).all() and np.isnan(result.z).all()


def test_neighbour_matrix_k_rings_symmetric_with_self(area_cells):
    w1 = neighbour_matrix(area_cells, 1)
    w2 = neighbour_matrix(area_cells, 2)
    assert w1.shape == (area_cells.size, area_cells.size)
    np.testing.assert_array_equal(w1.diagonal(), 1.0)
    assert (w1 != w1.T).nnz == 0 and (w2 != w2.T).nnz == 0
    centre = centre_position(area_cells, 30.660, 104.060)
    assert w1[centre].sum() == 7 and w2[centre].sum() == 19
    assert w1.sum(axis=1).max() == 7 and w2.sum(axis=1).max() == 19
    # neighbours are the h3 disk
    nb = np.sort(area_cells[w1[centre].indices])
    np.testing.assert_array_equal(nb, np.sort(grid.grid_disk(area_cells[[centre]], 1)[0]))


def test_cells_outside_the_set_are_ignored(area_cells):
    sub_idx = np.flatnonzero(np.arange(area_cells.size) % 3 != 0)  # drop every third cell
    full = neighbour_matrix(area_cells, 1)
    sub = neighbour_matrix(area_cells[sub_idx], 1)
    np.testing.assert_array_equal(sub.toarray(), full[sub_idx][:, sub_idx].toarray())
    assert sub.sum(axis=1).min() < 7  # edge and holes reduce neighbourhoods


def test_input_order_is_kept(area_cells):
    y = clustered_counts(area_cells)
    perm = np.random.default_rng(0).permutation(area_cells.size)
    a = gi_star(area_cells, y)
    b = gi_star(area_cells[perm], y[perm])
    np.testing.assert_array_equal(b.cells, area_cells[perm])
    np.testing.assert_allclose(b.z, a.z[perm], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(b.bin, a.bin[perm])


def test_result_frame(area_cells):
    result = gi_star(area_cells, clustered_counts(area_cells), k=2)
    assert isinstance(result, HotSpotResult) and result.k == 2 and result.fdr
    df = result.to_frame()
    assert list(df.columns) == ["cell", "value", "z", "p", "bin"]
    assert df["cell"].dtype == np.uint64 and df["bin"].dtype == np.int8
    assert len(df) == area_cells.size


@pytest.mark.parametrize(
    ("cells", "values", "kwargs", "field"),
    [
        ("dup", None, {}, "cells"),
        ("zero", None, {}, "cells"),
        ("mixed", None, {}, "cells"),
        (None, "neg", {}, "values"),
        (None, "nan", {}, "values"),
        (None, "short", {}, "values"),
        (None, None, {"k": 0}, "k"),
        (None, None, {"k": 1.5}, "k"),
        (None, None, {"alpha_levels": (0.1, 1.5)}, "alpha_levels"),
    ],
)
def test_invalid_input_names_the_field(area_cells, cells, values, kwargs, field):
    c = area_cells.copy()
    y = clustered_counts(area_cells)
    if cells == "dup":
        c[1] = c[0]
    elif cells == "zero":
        c[3] = 0
    elif cells == "mixed":
        c[3] = grid.cells_to_parent(c[3:4], 9)[0]
    if values == "neg":
        y[2] = -1
    elif values == "nan":
        y[2] = np.nan
    elif values == "short":
        y = y[:-1]
    with pytest.raises(InvalidInputError) as err:
        gi_star(c, y, **kwargs)
    assert err.value.field == field


def test_invalid_h3_ids_are_reported():
    with pytest.raises(InvalidInputError) as err:
        neighbour_matrix(np.array([123, 456], dtype=np.uint64))
    assert err.value.field == "cells" and "H3" in str(err.value)


def test_study_area_cells_fill_polygon_and_union(area_cells):
    # ~2.0 km × 2.2 km ≈ 4.3 km² ≈ 295 cells of 1.45 ha
    assert 250 < area_cells.size < 340
    assert (area_cells[1:] > area_cells[:-1]).all()  # sorted, unique
    lat, lng = grid.cell_centers(area_cells)
    assert (lng > 104.05).all() and (lng < 104.07).all() and (lat > 30.65).all() and (lat < 30.67).all()
    halves = [shapely.box(104.05, 30.65, 104.06, 30.67), shapely.box(104.06, 30.65, 104.07, 30.67)]
    np.testing.assert_array_equal(study_area_cells(halves, RES), area_cells)
    np.testing.assert_array_equal(study_area_cells(np.array(halves, dtype=object), RES), area_cells)


def test_study_area_geoseries_crs_checked():
    gpd = pytest.importorskip("geopandas")
    gs = gpd.GeoSeries([AREA], crs="EPSG:4326")
    assert study_area_cells(gs, RES).size > 250
    np.testing.assert_array_equal(study_area_cells(gs.set_crs("OGC:CRS84", allow_override=True), RES),
                                  study_area_cells(gs, RES))  # fmt: skip
    with pytest.raises(InvalidInputError, match="EPSG"):
        study_area_cells(gs.to_crs(3857), RES)


@pytest.mark.parametrize(
    "geom",
    [
        shapely.box(30.65, 104.05, 30.67, 104.07),  # (lat, lng) swapped
        shapely.Point(104.06, 30.66),
        shapely.Polygon(),
    ],
)
def test_study_area_rejects_bad_geometry(geom):
    with pytest.raises(InvalidInputError) as err:
        study_area_cells(geom, RES)
    assert err.value.field == "polygons"


def test_fill_values_zeros_duplicates_and_outside(area_cells):
    inside = area_cells[[5, 5, 40]]
    outside = grid.latlng_to_cells([30.70], [104.10], RES)  # 5 km away
    cells = np.concatenate([inside, outside])
    filled = fill_values(area_cells, cells, [1.0, 2.0, 4.0, 100.0])
    assert filled.shape == area_cells.shape
    assert filled[5] == 3.0 and filled[40] == 4.0
    assert filled.sum() == 7.0
    with pytest.raises(InvalidInputError, match="分辨率"):
        fill_values(area_cells, grid.cells_to_parent(inside, 9), [1.0, 1.0, 1.0])


def test_fill_values_then_gi_star_counts_empty_cells(area_cells):
    pos = disk_positions(area_cells, 30.660, 104.060, 1)
    cells = np.repeat(area_cells[pos], 6)  # 42 requests in one cluster, one row per request
    filled = fill_values(area_cells, cells, np.ones(cells.size))
    result = gi_star(area_cells, filled)
    assert result.significant and result.bin[centre_position(area_cells, 30.660, 104.060)] == 3
