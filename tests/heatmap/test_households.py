"""Households per H3 cell from a gazetteer CSV and from a population GeoTIFF, stored and summed by the store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from sqlalchemy import select

from gridgis import grid
from gridgis.crs import from_wgs84
from gridgis.errors import InvalidInputError
from gridgis.heatmap.aggregate import Filters, aggregate
from gridgis.heatmap.households import (
    load_households_from_gazetteer,
    load_households_from_raster,
    write_households,
)
from gridgis.storage.schema import cell_households

GAZ = pd.DataFrame([
    # name, level, community, estate, lng, lat, households
    ("锦城花园", "estate", "锦华社区", "锦城花园", 104.0525, 30.6430, 70),
    ("锦城花园1栋", "building", "锦华社区", "锦城花园", 104.0524, 30.6427, 30),
    ("锦城花园2栋", "building", "锦华社区", "锦城花园", 104.0527, 30.6428, 40),
    ("金色家园", "estate", "锦华社区", "金色家园", 104.0610, 30.6350, 120),  # no building rows: used
    ("金色家园", "estate", "锦东社区", "金色家园", 104.0830, 30.6385, 80),  # same name, other community
    ("金色家园1栋", "building", "锦华社区", "银杏园", 104.0700, 30.6400, None),  # no households: skipped
    ("芳华街12号", "door", "锦华社区", "", 104.0550, 30.6450, 9),  # doors are not counted
    ("锦华社区", "community", "锦华社区", "", 104.0600, 30.6400, 8856),  # community total: ignored
    ("坏坐标楼", "building", "锦华社区", "坏坐标", None, None, 15),
], columns=["name", "level", "community", "estate", "lng", "lat", "households"])


def stored(store) -> pd.DataFrame:
    with store.read() as conn:
        rows = conn.execute(select(cell_households.c.cell, cell_households.c.cell_9, cell_households.c.households,
                                   cell_households.c.source)).all()
    return pd.DataFrame(rows, columns=["cell", "cell_9", "households", "source"])


def cell_of(lng: float, lat: float, res: int = 10) -> int:
    return int(grid.latlng_to_cells([lat], [lng], res)[0])


def test_gazetteer_counts_buildings_and_only_uncovered_estates(store, tmp_path):
    path = tmp_path / "gaz.csv"
    GAZ.to_csv(path, index=False)
    report = load_households_from_gazetteer(store, path)
    assert report == {"cells": report["cells"], "households": 30 + 40 + 120 + 80, "rows_used": 4, "rows_skipped": 1}
    got = stored(store).set_index("cell")["households"]
    assert got.sum() == 270 and (stored(store)["source"] == "gazetteer").all()
    assert got[cell_of(104.0610, 30.6350)] == 120
    assert got[cell_of(104.0830, 30.6385)] == 80
    assert cell_of(104.0525, 30.6430) not in got.index or got[cell_of(104.0525, 30.6430)] in (30, 40, 70)
    parents = stored(store)
    assert (grid.cells_to_parent(parents["cell"].to_numpy().astype(np.uint64), 9).astype(np.int64)
            == parents["cell_9"].to_numpy()).all()


def test_gazetteer_without_estate_column_matches_estates_by_name(store, tmp_path):
    path = tmp_path / "gaz.csv"
    GAZ.drop(columns=["estate", "community"]).to_csv(path, index=False)
    report = load_households_from_gazetteer(store, path)
    assert report["households"] == 30 + 40 + 120 + 80 and report["rows_used"] == 4


def test_gazetteer_in_gcj02_and_gbk_is_converted(store, tmp_path):
    lng, lat = np.array([104.0610]), np.array([30.6350])
    glng, glat = from_wgs84(lng, lat, "gcj02")
    frame = pd.DataFrame({"名称": ["金色家园1栋"], "级别": ["building"], "经度": glng, "纬度": glat, "户数": [55]})
    path = tmp_path / "gaz_gbk.csv"
    frame.to_csv(path, index=False, encoding="gbk")
    load_households_from_gazetteer(store, path, crs="gcj02")
    assert stored(store)["cell"].tolist() == [cell_of(104.0610, 30.6350)]


def test_later_load_replaces_or_updates(store):
    a, b = cell_of(104.05, 30.64), cell_of(104.06, 30.64)
    write_households(store, np.array([a, b], np.uint64), np.array([10.0, 20.0]), "gazetteer")
    write_households(store, np.array([b], np.uint64), np.array([5.0]), "raster", replace=False)
    assert stored(store).set_index("cell")["households"].to_dict() == {a: 10.0, b: 5.0}
    write_households(store, np.array([b], np.uint64), np.array([7.0]), "raster")
    assert stored(store).set_index("cell")["households"].to_dict() == {b: 7.0}


def test_gazetteer_without_households_column_is_refused(store, tmp_path):
    path = tmp_path / "g.csv"
    GAZ.drop(columns=["households"]).to_csv(path, index=False)
    with pytest.raises(InvalidInputError, match="households") as info:
        load_households_from_gazetteer(store, path)
    assert info.value.field == "households"


def write_population(path, crs: str, transform: Affine, people: np.ndarray, nodata: float = -1.0) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=people.shape[1], height=people.shape[0], count=1,
                       dtype="float32", crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(people.astype(np.float32), 1)


def test_population_raster_is_shared_among_cells(store, tmp_path):
    # 0.001° pixels (~96 m × 111 m) over central Chengdu, WGS84 like WorldPop's people-per-pixel files.
    people = np.full((12, 15), 25.0)
    people[0, 0] = -1.0  # nodata
    people[5, 5] = 0.0
    path = tmp_path / "pop.tif"
    write_population(path, "EPSG:4326", Affine(0.001, 0, 104.05, 0, -0.001, 30.65), people)
    report = load_households_from_raster(store, path, per_household=2.5)
    expected = (people[people > 0]).sum() / 2.5
    assert report["households"] == pytest.approx(expected) and report["pixels"] == (people > 0).sum()
    got = stored(store)
    assert got["households"].sum() == pytest.approx(expected)
    assert (got["source"] == "raster").all()
    # pixels are split, so a 100 m pixel feeds several res-10 cells (edge ~ 75 m)
    assert report["cells"] > 20
    lat, lng = grid.cell_centers(got["cell"].to_numpy().astype(np.uint64))
    assert lng.min() > 104.049 and lng.max() < 104.066 and lat.min() > 30.637 and lat.max() < 30.651


def test_projected_raster_and_bbox_window(store, tmp_path):
    x0, y0 = from_wgs84(np.array([104.05]), np.array([30.65]), "EPSG:3857")
    people = np.full((20, 20), 10.0)
    path = tmp_path / "pop3857.tif"
    write_population(path, "EPSG:3857", Affine(100, 0, float(x0[0]), 0, -100, float(y0[0])), people)
    full = load_households_from_raster(store, path, per_household=2.0)
    assert full["households"] == pytest.approx(people.sum() / 2.0)
    part = load_households_from_raster(store, path, per_household=2.0, bbox=(104.05, 30.64, 104.06, 30.65))
    assert 0 < part["pixels"] < full["pixels"]
    assert stored(store)["households"].sum() == pytest.approx(part["households"])


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"band": 2}, "band"),
    ({"per_household": 0}, "per_household"),
    ({"per_household": "two"}, "per_household"),
])
def test_bad_raster_options(store, tmp_path, kwargs, field):
    path = tmp_path / "pop.tif"
    write_population(path, "EPSG:4326", Affine(0.001, 0, 104.05, 0, -0.001, 30.65), np.ones((3, 3)))
    with pytest.raises(InvalidInputError) as info:
        load_households_from_raster(store, path, **kwargs)
    assert info.value.field == field


def test_missing_raster_file(store, tmp_path):
    with pytest.raises(InvalidInputError) as info:
        load_households_from_raster(store, tmp_path / "none.tif")
    assert info.value.field == "path"


def test_rates_use_loaded_households(store, tmp_path):
    path = tmp_path / "gaz.csv"
    GAZ.to_csv(path, index=False)
    load_households_from_gazetteer(store, path)
    from tests.heatmap.test_aggregate import make_rows, put, relocate

    rows = make_rows(10)
    rows["lng"], rows["lat"], rows["geocode_level"] = 104.0610, 30.6350, "source"
    put(store, relocate(rows))
    got = aggregate(store, 9, Filters(), by_category=False)
    assert got["households"].tolist() == [stored(store).query(f"cell_9 == {int(got['cell'][0])}")["households"].sum()]
    assert got["rate_per_100_households"][0] == pytest.approx(10 / got["households"][0] * 100)
