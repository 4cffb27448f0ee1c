"""Coordinate conversion: golden vectors from DOMAIN.md, round trips, pyproj systems and bad CRS names."""

import numpy as np
import pytest

from gridgis import crs
from gridgis.errors import InvalidInputError

# (WGS84 lng, lat), GCJ-02, BD-09 — two independent implementations agree (DOMAIN.md §4)
GOLDEN = [
    ((104.0657, 30.6573), (104.06820730, 30.65487818), (104.07470376, 30.66090894)),
    ((120.1551, 30.2741), (120.15979448, 30.27177122), (120.16635835, 30.27759922)),
]
METRE_DEG = 1 / 111_320


@pytest.mark.parametrize("wgs,gcj,bd", GOLDEN)
def test_forward_golden_vectors(wgs, gcj, bd):
    g = crs.wgs84_to_gcj02(*wgs)
    b = crs.wgs84_to_bd09(*wgs)
    assert np.allclose(g, gcj, atol=5e-9)
    assert np.allclose(b, bd, atol=5e-9)


@pytest.mark.parametrize("wgs,gcj,bd", GOLDEN)
def test_inverse_golden_vectors(wgs, gcj, bd):
    assert np.allclose(crs.to_wgs84(*gcj, "gcj02"), wgs, atol=1e-8)
    assert np.allclose(crs.to_wgs84(*bd, "bd09"), wgs, atol=1e-8)


def test_iterative_inverse_is_sub_centimetre_over_china():
    rng = np.random.default_rng(7)
    lng = rng.uniform(75, 135, 20_000)
    lat = rng.uniform(18, 53, 20_000)
    for fwd, kind in ((crs.wgs84_to_gcj02, "gcj02"), (crs.wgs84_to_bd09, "bd09")):
        back = crs.to_wgs84(*fwd(lng, lat), kind)
        err_m = np.hypot(back[0] - lng, back[1] - lat) / METRE_DEG
        assert err_m.max() < 0.01, kind


def test_gcj_offset_is_hundreds_of_metres_in_china_and_zero_outside():
    g = crs.wgs84_to_gcj02([104.0657, 2.35], [30.6573, 48.85])  # Chengdu, Paris
    d_cd = np.hypot(g[0][0] - 104.0657, g[1][0] - 30.6573) / METRE_DEG
    assert 27 < d_cd < 700
    assert g[0][1] == 2.35 and g[1][1] == 48.85


def test_nan_passes_through():
    lng, lat = crs.to_wgs84([np.nan, 104.0], [30.6, np.nan], "gcj02")
    assert np.isnan(lng[0]) and np.isnan(lat[1])


def test_gauss_kruger_zone_and_cgcs2000_round_trip():
    lng, lat = np.array([104.0657, 104.1]), np.array([30.6573, 30.7])
    x, y = crs.from_wgs84(lng, lat, "EPSG:4544")
    assert 300_000 < x[0] < 700_000 and 3_300_000 < y[0] < 3_500_000  # CM 105°E, no zone prefix
    assert np.allclose(crs.to_wgs84(x, y, "4544"), (lng, lat), atol=1e-9)
    # CGCS2000 geographic (axis order lat,lon in the EPSG database): always_xy keeps lng first
    assert np.allclose(crs.to_wgs84(lng, lat, "cgcs2000"), (lng, lat), atol=1e-6)


@pytest.mark.parametrize(
    "name,kind",
    [(None, "wgs84"), ("WGS84", "wgs84"), ("EPSG:4326", "wgs84"), ("GCJ-02", "gcj02"), ("bd09", "bd09"),
     ("cgcs2000", "proj"), ("EPSG:4549", "proj"), ("+proj=utm +zone=48 +datum=WGS84", "proj")],
)
def test_parse_crs(name, kind):
    assert crs.parse_crs(name).kind == kind


def test_unknown_crs_names_the_field():
    with pytest.raises(InvalidInputError) as err:
        crs.parse_crs("not-a-crs")
    assert err.value.field == "crs" and "not-a-crs" in str(err.value)


def test_non_earth_crs_is_rejected():
    with pytest.raises(InvalidInputError):
        crs.parse_crs("IAU_2015:49900")  # Mars
