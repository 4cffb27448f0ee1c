"""/api/export/<kind>.<format>: downloads that reopen, equal the library, respect privacy, are audited."""

from __future__ import annotations

import io

import geopandas as gpd
import pandas as pd
import pytest

from gridgis import audit, tokens
from gridgis.export.kinds import KINDS, export_frame
from gridgis.heatmap.filters import Filters

BOX = "104.05,30.62,104.07,30.645"


def test_cells_geojson_equals_the_library_for_filters_and_bbox(client, web_settings, web_store, tmp_path):
    r = client.get(f"/api/export/cells.geojson?res=10&category=PARK&bbox={BOX}")
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    assert 'filename="cells-r10.geojson"' in r.headers["Content-Disposition"]
    back = gpd.read_file(io.BytesIO(r.data))
    frame, _ = export_frame(web_store, web_settings, "cells", Filters(categories=("PARK",)), res=10,
                            bbox=tuple(float(v) for v in BOX.split(",")))
    assert len(back) == len(frame) > 0 and back.crs.to_epsg() == 4326
    assert back["cell_id"].tolist() == frame["cell_id"].tolist()
    assert back["requests"].tolist() == frame["requests"].tolist()
    assert (back["requests"] >= web_settings.export_min_count_k).all()


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_downloads_without_contacts(client, web_store, kind):
    contacts = web_store.requests_frame(["reporter_name", "reporter_phone"])
    secrets = {*contacts["reporter_name"].dropna(), *contacts["reporter_phone"].dropna(), "李四"}
    for fmt in ("geojson", "csv", "gpkg"):
        r = client.get(f"/api/export/{kind}.{fmt}?res=9")
        assert r.status_code == 200, (kind, fmt, r.json)
        assert not any(s.encode() in r.data for s in secrets), (kind, fmt)


def test_gpkg_crs_and_csv_bom(client, tmp_path):
    r = client.get("/api/export/grids.gpkg?crs=EPSG:4544")
    assert r.status_code == 200
    path = tmp_path / "grids.gpkg"  # GDAL wants the .gpkg suffix, not an in-memory buffer
    path.write_bytes(r.data)
    assert gpd.read_file(path).crs.to_epsg() == 4544
    r = client.get("/api/export/requests.csv?bom=0&category=SAFE")
    assert r.status_code == 200 and not r.data.startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(io.BytesIO(r.data), dtype=str)
    assert set(df["category"]) == {"SAFE"} and "reporter_name" not in df


def test_exports_are_audited_by_user_or_token(client, anon, web_store):
    assert client.get("/api/export/cells.csv?res=9").status_code == 200
    last = audit.records(web_store, what="export.cells", limit=1).iloc[0]
    assert last["who"] == "sec" and last["filters"]["format"] == "csv"
    assert anon.get("/api/export/cells.csv?res=9").status_code == 401  # no anonymous exports
    secret, _ = tokens.create_token(web_store, "city-gis", ["aggregates"])
    auth = {"Authorization": f"Bearer {secret}"}
    assert anon.get("/api/export/hotspots.geojson?res=9", headers=auth).status_code == 200
    assert audit.records(web_store, what="export.hotspots", limit=1).iloc[0]["who"] == "city-gis"
    r = anon.get("/api/export/requests.geojson", headers=auth)  # aggregates only: no request rows
    assert r.status_code == 403 and r.json["ok"] is False


def test_errors_name_the_parameter(client):
    r = client.get("/api/export/people.geojson")
    assert r.status_code == 404 and r.json["field"] == "kind"
    r = client.get("/api/export/cells.xlsx")
    assert r.status_code == 400 and r.json["field"] == "format"
    r = client.get("/api/export/requests.tif")
    assert r.status_code == 400 and r.json["field"] == "format"
    r = client.get("/api/export/cells.geojson?res=12")
    assert r.status_code == 400 and r.json["field"] == "res"
    r = client.get("/api/export/cells.geojson?colour=red")
    assert r.status_code == 400 and r.json["field"] == "colour"
    r = client.get("/api/export/cells.geojson?crs=EPSG:4490")
    assert r.status_code == 400 and r.json["field"] == "crs"
    r = client.get("/api/export/cells.geojson?category=NOPE")
    assert r.status_code == 400 and r.json["field"] == "category"
