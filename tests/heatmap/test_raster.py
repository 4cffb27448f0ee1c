"""GeoTIFF demand surfaces around Chengdu, read back with rasterio and sampled at known cell centres."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.io import MemoryFile

from gridgis import grid
from gridgis.errors import InvalidInputError
from gridgis.heatmap.hotspots import study_area_cells
from gridgis.heatmap.raster import frame_bands, gk_zone_epsg, surface_bytes, write_surface

AREA = shapely.box(104.05, 30.63, 104.07, 30.65)


@pytest.fixture(scope="module")
def cells() -> np.ndarray:
    c = study_area_cells(AREA, 9)
    assert 20 < c.size < 100
    return c


def sample(path, cells, crs: str, band: int = 1) -> np.ndarray:
    lat, lng = grid.cell_centers(cells)
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lng, lat)
    with rasterio.open(path) as src:
        return np.array([v[band - 1] for v in src.sample(zip(x, y, strict=True))])


@pytest.mark.parametrize("crs", ["EPSG:3857", "EPSG:4544"])
def test_cell_surface_holds_each_cells_value_at_its_centre(tmp_path, cells, crs):
    values = np.arange(1, cells.size + 1, dtype=float)
    out = write_surface(tmp_path / "s.tif", cells, values, crs=crs, tags={"res": 9, "since": "2026-01-01"})
    np.testing.assert_allclose(sample(out["path"], cells, crs), values)
    with rasterio.open(out["path"]) as src:
        assert src.crs.to_epsg() == int(crs.split(":")[1])
        assert src.nodata == -9999 and src.count == 1 and src.dtypes == ("float32",)
        assert src.profile["compress"] == "deflate"
        assert src.descriptions == ("total",)
        tags = src.tags()
        assert tags["res"] == "9" and tags["since"] == "2026-01-01" and tags["units"] == "requests per cell"
        # default pixel: half a res-9 edge (~197 m on the ground at Chengdu, ×1.16 in web mercator at 30.6°N)
        px = src.transform.a
        assert -src.transform.e == px
        assert (90 if crs == "EPSG:4544" else 105) < px < (105 if crs == "EPSG:4544" else 125)
        assert src.transform.c / px == pytest.approx(round(src.transform.c / px), abs=1e-6)  # snapped to pixels
        corner = src.read(1)[0, 0]
    assert corner == -9999  # the bounding box corner lies outside every hexagon


def test_one_band_per_category(tmp_path, cells):
    rng = np.random.default_rng(1)
    cats = {"FAC": rng.integers(0, 9, cells.size).astype(float), "ENV": rng.integers(0, 5, cells.size).astype(float)}
    out = write_surface(tmp_path / "c.tif", cells, categories=cats, crs="EPSG:4544", compress="lzw")
    assert out["bands"] == ["total", "FAC", "ENV"]
    with rasterio.open(out["path"]) as src:
        assert src.count == 3 and src.descriptions == ("total", "FAC", "ENV")
        assert src.profile["compress"] == "lzw"
    np.testing.assert_allclose(sample(out["path"], cells, "EPSG:4544", 1), cats["FAC"] + cats["ENV"])
    np.testing.assert_allclose(sample(out["path"], cells, "EPSG:4544", 3), cats["ENV"])


def test_kde_keeps_the_total_and_peaks_at_the_busiest_cell(tmp_path, cells):
    values = np.ones(cells.size)
    busiest = cells.size // 2
    values[busiest] = 60
    out = write_surface(tmp_path / "k.tif", cells, values, method="kde", bandwidth_m=200, pixel_size=50,
                        crs="EPSG:4544")
    with rasterio.open(out["path"]) as src:
        density = src.read(1)
        pixel_km2 = (src.transform.a / 1000) ** 2  # GK zone near its meridian: ground ≈ grid metres
        assert src.tags()["units"] == "requests per km²" and src.tags()["bandwidth_m"] == "200.0"
    assert density.sum() * pixel_km2 == pytest.approx(values.sum(), rel=0.01)
    peak = sample(out["path"], cells, "EPSG:4544")
    assert peak.argmax() == busiest


def test_surface_bytes_is_the_same_geotiff(cells):
    data = surface_bytes(cells, np.full(cells.size, 2.0), crs="EPSG:3857", compress="zstd")
    with MemoryFile(data) as mem, mem.open() as src:
        assert src.crs.to_epsg() == 3857 and src.profile["compress"] == "zstd"
        assert np.nanmax(np.where(src.read(1) == src.nodata, np.nan, src.read(1))) == 2.0


def test_frame_bands_pivots_an_aggregate_table(cells):
    frame = pd.DataFrame({"cell": np.repeat(cells[:3], 2), "category": ["FAC", "ENV"] * 3,
                          "requests": [1, 2, 3, 4, 5, 6]})
    c, total, bands = frame_bands(frame)
    np.testing.assert_array_equal(c, cells[:3])
    np.testing.assert_array_equal(total, [3, 7, 11])
    np.testing.assert_array_equal(bands["ENV"], [2, 4, 6])


def test_gauss_kruger_zone_for_china():
    assert gk_zone_epsg(104.06) == 4544  # Chengdu, CM 105°E
    assert gk_zone_epsg(120.15) == 4549  # Hangzhou, CM 120°E


@pytest.mark.parametrize(("kwargs", "field", "words"), [
    ({"crs": "EPSG:4549"}, "crs", ["EPSG:4544"]),  # Hangzhou's zone for Chengdu data
    ({"crs": "EPSG:4326"}, "crs", ["EPSG:3857"]),
    ({"crs": "EPSG:4490"}, "crs", ["metres"]),
    ({"crs": "not a crs"}, "crs", ["EPSG:4544"]),
    ({"method": "idw"}, "method", ["cells", "kde"]),
    ({"compress": "jpeg"}, "compress", ["deflate", "lzw"]),
    ({"pixel_size": 0}, "pixel_size", ["positive"]),
    ({"pixel_size": 0.01}, "pixel_size", ["larger"]),
    ({"method": "kde", "bandwidth_m": -5}, "bandwidth_m", ["positive"]),
    ({"nodata": 1.0}, "nodata", ["nodata"]),
])
def test_bad_options_name_the_parameter(tmp_path, cells, kwargs, field, words):
    with pytest.raises(InvalidInputError) as info:
        write_surface(tmp_path / "x.tif", cells, np.ones(cells.size), **kwargs)
    assert info.value.field == field
    for w in words:
        assert w in str(info.value)


def test_bad_cells_and_values(tmp_path, cells):
    with pytest.raises(InvalidInputError) as info:
        write_surface(tmp_path / "x.tif", cells, np.ones(cells.size - 1))
    assert info.value.field == "values"
    with pytest.raises(InvalidInputError, match="NaN"):
        write_surface(tmp_path / "x.tif", cells, np.full(cells.size, np.nan))
    with pytest.raises(InvalidInputError) as info:
        write_surface(tmp_path / "x.tif", np.concatenate([cells, cells[:1]]), np.ones(cells.size + 1))
    assert info.value.field == "cells"
    with pytest.raises(InvalidInputError) as info:
        write_surface(tmp_path / "x.tif", np.empty(0, np.uint64), np.empty(0))
    assert info.value.field == "cells"
    with pytest.raises(InvalidInputError) as info:
        write_surface(tmp_path / "missing" / "x.tif", cells, np.ones(cells.size))
    assert info.value.field == "path"
