"""Writers chosen by suffix: RFC 7946 GeoJSON, CSV for Excel, GeoPackage in CGCS2000/GK, GeoTIFF; PII stays home."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridgis import grid
from gridgis.errors import InvalidInputError, UnsupportedFormatError
from gridgis.export import register, suffixes, write

# Real places of a Chengdu community (WGS84 lng, lat)
POINTS = [(104.0525, 30.6430), (104.0630, 30.6320), (104.0683, 30.6440), (104.0524, 30.6300)]


@pytest.fixture
def cells_frame():
    lng, lat = np.array(POINTS).T
    cells = grid.latlng_to_cells(lat, lng, 10)
    return pd.DataFrame({
        "cell": cells,
        "cell_id": pd.array(grid.cells_to_str(cells), dtype="str"),
        "category": pd.array(["PROP", "ORDER", "PARK", "SAFE"], dtype="str"),
        "requests": np.array([726, 535, 497, 235], dtype=np.int64),
        "share": [0.5, 0.25, 1 / 3, 0.123456789],
        "name": pd.array(["锦城花园", "芳华街夜市", "锦华小学", "桂苑小区车棚"], dtype="str"),
        "created_at": pd.to_datetime(["2026-03-05 19:42"] * 4).tz_localize("Asia/Shanghai"),
        "reporter_phone": ["13812345678"] * 4,
    })


@pytest.fixture
def polygons(cells_frame):
    """Clockwise polygons (as some GIS tools write them) with 12-decimal vertices."""
    geoms = grid.cells_to_polygons(cells_frame["cell"].to_numpy())
    cw = shapely.orient_polygons(geoms, exterior_cw=True)
    cw = shapely.transform(cw, lambda xy: xy + 1.23456789e-9)
    return gpd.GeoDataFrame(cells_frame.drop(columns="cell"), geometry=cw, crs="EPSG:4326")


def _rings(geometry: dict):
    coords = geometry["coordinates"]
    polys = coords if geometry["type"] == "MultiPolygon" else [coords]
    return [p[0] for p in polys]


def test_geojson_is_rfc7946(tmp_path, polygons):
    p = write(polygons, tmp_path / "cells.geojson")
    text = p.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["type"] == "FeatureCollection" and "crs" not in doc and len(doc["features"]) == 4
    for f in doc["features"]:
        for ring in _rings(f["geometry"]):
            assert shapely.LinearRing(ring).is_ccw  # counter-clockwise exterior
            assert ring[0] == ring[-1]
            assert 104 < ring[0][0] < 105 and 30 < ring[0][1] < 31  # lng first
    decimals = [len(m) for m in re.findall(r"\d+\.(\d+)", json.dumps([f["geometry"] for f in doc["features"]]))]
    assert max(decimals) <= 7
    back = gpd.read_file(p)
    assert len(back) == 4 and back.crs.to_epsg() == 4326
    assert back["name"].tolist() == polygons["name"].tolist()
    assert np.allclose(shapely.area(back.geometry.to_numpy()), shapely.area(polygons.geometry.to_numpy()),
                       rtol=1e-5)


def test_geojson_from_a_table_of_cells_or_points(tmp_path, cells_frame):
    doc = json.loads(write(cells_frame, tmp_path / "c.geojson").read_text(encoding="utf-8"))
    props = doc["features"][0]["properties"]
    assert props["cell_id"] == cells_frame["cell_id"][0] and "cell" not in props
    assert props["created_at"] == "2026-03-05T19:42:00+08:00"
    assert doc["features"][0]["geometry"]["type"] == "Polygon"
    pts = pd.DataFrame({"lng": [104.06], "lat": [30.63], "n": [1]})
    doc = json.loads(write(pts, tmp_path / "p.geojson").read_text(encoding="utf-8"))
    assert doc["features"][0]["geometry"] == {"type": "Point", "coordinates": [104.06, 30.63]}
    with pytest.raises(InvalidInputError, match="needs geometry"):
        write(pd.DataFrame({"n": [1]}), tmp_path / "x.geojson")


def test_personal_data_never_leaves(tmp_path, cells_frame):
    for suffix in ("geojson", "csv", "gpkg"):
        p = write(cells_frame, tmp_path / f"c.{suffix}")
        assert "13812345678" not in p.read_bytes().decode("utf-8", "ignore")
        cols = gpd.read_file(p).columns if suffix != "csv" else pd.read_csv(p, encoding="utf-8-sig").columns
        assert "reporter_phone" not in cols


def test_csv_round_trip_with_bom_for_excel(tmp_path, cells_frame):
    p = write(cells_frame, tmp_path / "c.csv")
    assert p.read_bytes().startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(p, encoding="utf-8-sig", dtype={"cell_id": str})
    assert back["cell_id"].tolist() == cells_frame["cell_id"].tolist()
    assert back["requests"].tolist() == cells_frame["requests"].tolist()
    assert back["share"].tolist() == cells_frame["share"].tolist()
    assert back["name"].tolist() == ["锦城花园", "芳华街夜市", "锦华小学", "桂苑小区车棚"]
    assert back["created_at"].tolist() == ["2026-03-05T19:42:00+08:00"] * 4
    plain = write(cells_frame, tmp_path / "plain.csv", bom=False)
    assert plain.read_bytes().startswith(b"cell_id,")


def test_csv_geometry_as_wkt_or_dropped(tmp_path, polygons):
    back = pd.read_csv(write(polygons, tmp_path / "g.csv"), encoding="utf-8-sig")
    geoms = shapely.from_wkt(back["wkt"].to_numpy())
    assert np.allclose(shapely.area(geoms), shapely.area(polygons.geometry.to_numpy()), rtol=1e-5)
    assert "wkt" not in pd.read_csv(write(polygons, tmp_path / "n.csv", geometry="drop"), encoding="utf-8-sig")
    with pytest.raises(InvalidInputError) as e:
        write(polygons, tmp_path / "bad.csv", geometry="geojson")
    assert e.value.field == "geometry"


def test_gpkg_in_cgcs2000_reopens_with_that_crs(tmp_path, polygons):
    p = write(polygons, tmp_path / "cells.gpkg", crs="EPSG:4490")
    back = gpd.read_file(p)
    assert back.crs.to_epsg() == 4490 and len(back) == 4
    # CGCS2000 and WGS84 agree to centimetres: the same lng/lat numbers.
    centres = [shapely.get_x(shapely.centroid(g.geometry.to_numpy())) for g in (back, polygons)]
    assert np.allclose(*centres, atol=1e-7)
    assert back["name"].tolist() == polygons["name"].tolist()


def test_gpkg_in_a_gauss_kruger_zone(tmp_path, polygons):
    back = gpd.read_file(write(polygons, tmp_path / "gk.gpkg", crs="GK"))
    assert back.crs.to_epsg() == 4544  # CGCS2000 3-degree zone, central meridian 105°E
    x = back.geometry.centroid.x
    assert x.between(400_000, 500_000).all()  # metres west of the 105°E meridian (false easting 500 km)
    assert np.allclose(back.geometry.area, 15_000, rtol=0.1)  # a res-10 cell ≈ 1.5 ha
    with pytest.raises(InvalidInputError) as e:
        write(polygons, tmp_path / "x.gpkg", crs="EPSG:99999")
    assert e.value.field == "crs"


def test_a_failed_write_keeps_the_old_file(tmp_path, polygons):
    p = write(polygons, tmp_path / "keep.gpkg")
    before = p.read_bytes()
    with pytest.raises(InvalidInputError):
        write(polygons, p, crs="not a crs")
    assert p.read_bytes() == before
    assert [x.name for x in tmp_path.iterdir()] == ["keep.gpkg"]


def test_tif_has_a_band_per_category(tmp_path, cells_frame):
    import rasterio

    p = write(cells_frame, tmp_path / "s.tif", crs="EPSG:4544")
    with rasterio.open(p) as src:
        assert src.count == 5 and src.descriptions[0] == "total"
        assert set(src.descriptions[1:]) == {"PROP", "ORDER", "PARK", "SAFE"}
        assert src.crs.to_epsg() == 4544
        assert np.nanmax(src.read(1, masked=True)) == 726
    with pytest.raises(InvalidInputError):
        write(cells_frame.iloc[:0], tmp_path / "empty.tif")


def test_unknown_suffix_lists_the_supported_ones(tmp_path, cells_frame):
    with pytest.raises(UnsupportedFormatError) as e:
        write(cells_frame, tmp_path / "out.xlsx")
    assert e.value.field == "output"
    for s in (".csv", ".geojson", ".gpkg", ".tif"):
        assert s in str(e.value)
    with pytest.raises(InvalidInputError) as e:
        write(cells_frame, tmp_path / "missing" / "out.csv")
    assert e.value.field == "output"


def test_empty_table_is_an_empty_collection(tmp_path, polygons):
    doc = json.loads(write(polygons.iloc[:0], tmp_path / "e.geojson").read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection" and doc["features"] == []
    assert pd.read_csv(write(polygons.iloc[:0], tmp_path / "e.csv"), encoding="utf-8-sig").empty


def test_register_adds_a_format(tmp_path, cells_frame):
    from gridgis.export import registry

    registry._WRITERS.clear()
    registry._BUILTIN.clear()  # as in a fresh process: registering first must not hide the built-ins
    seen = []
    register("txt", lambda frame, path, **kw: (seen.append(len(frame)), path.write_text("ok")))
    assert {".csv", ".geojson", ".gpkg", ".tif", ".txt"} <= set(suffixes())
    try:
        assert write(cells_frame, tmp_path / "x.TXT").read_text() == "ok" and seen == [4]
    finally:
        registry._WRITERS.pop(".txt")
