"""Exports of every KIND: reopened with geopandas/rasterio in the right CRS with the library's values, and
no name or phone number in any exported file (a byte scan of every kind × format)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from gridgis import audit, grid
from gridgis.errors import InvalidInputError, UnsupportedFormatError
from gridgis.export.kinds import KINDS, RASTER_KINDS, export, export_frame
from gridgis.heatmap.aggregate import cell_totals
from gridgis.heatmap.filters import Filters
from tests.webmap.conftest import build_rows, grid_rows, make_settings

NAMES = ("张三丰", "李小明", "欧阳娜娜")
PHONES = ("13812345678", "13998765432", "02887654321")
FORMATS = ("geojson", "csv", "gpkg")


def pii_rows() -> pd.DataFrame:
    """The web test rows with reporters, and texts that repeat the reporter's name and phone."""
    df = build_rows()
    i = np.arange(len(df))
    df["reporter_name"] = np.array(NAMES, dtype=object)[i % 3]
    df["reporter_phone"] = np.array(PHONES, dtype=object)[i % 3]
    df["address"] = "锦城花园5栋3单元501室"
    mention = i % 5 == 0
    df.loc[mention, "text"] = [f"我是{NAMES[j % 3]}，电话{PHONES[j % 3]}，楼道堆物" for j in i[mention]]
    return df


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from gridgis.demo import sync_categories
    from gridgis.storage import init_db

    path = tmp_path_factory.mktemp("export") / "gridgis.sqlite3"
    settings = make_settings(path)
    st = init_db(settings)
    sync_categories(st, settings)
    st.replace_grids(grid_rows())
    batch = st.insert_batch("t.csv", None, "t", {})
    st.upsert_requests(batch, pii_rows())
    st.insert_zone({"name": "停车整治区", "category": "PARK", "priority": 3, "notes": "张三丰 提议",
                    "geometry": '{"type":"Polygon","coordinates":[[[104.058,30.633],[104.062,30.633],'
                                '[104.062,30.637],[104.058,30.637],[104.058,30.633]]]}',
                    "min_lng": 104.058, "min_lat": 30.633, "max_lng": 104.062, "max_lat": 30.637},
                   changed_by="tester")
    yield settings, st
    st.close()


def test_cells_equal_the_library_minus_cells_below_k(env):
    settings, st = env
    f = Filters(categories=("PARK",))
    frame, meta = export_frame(st, settings, "cells", f, res=10)
    lib = cell_totals(st, 10, f, tz=settings.timezone)
    k = settings.export_min_count_k
    assert k == 5 and meta["suppressed"] == int((lib["requests"] < k).sum()) > 0
    want = lib[lib["requests"] >= k].set_index("cell_id")["requests"].sort_index()
    got = frame.set_index("cell_id")["requests"].sort_index()
    assert got.index.tolist() == want.index.tolist() and (got.to_numpy() == want.to_numpy()).all()
    every, meta1 = export_frame(st, settings.with_overrides(export_min_count_k=1), "cells", f, res=10)
    assert len(every) == len(lib) and meta1["suppressed"] == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_reopens_with_crs_and_values(env, tmp_path, kind, fmt):
    import geopandas as gpd

    settings, st = env
    frame, _ = export_frame(st, settings, kind, res=9)
    out = tmp_path / f"{kind}.{fmt}"
    meta = export(st, settings, kind, out, who="tester", res=9)
    assert meta["rows"] == len(frame) > 0
    if fmt == "csv":
        back = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
        assert out.read_bytes().startswith(b"\xef\xbb\xbf") and len(back) == len(frame)
        assert "wkt" in back or "cell_id" in back  # cell tables carry the H3 id, the rest WKT
    else:
        back = gpd.read_file(out)
        assert back.crs.to_epsg() == 4326 and len(back) == len(frame)
    key = {"cells": "cell_id", "hotspots": "cell_id", "trends": "cell_id", "projects": "candidate_id",
           "zones": "id", "grids": "grid_code", "requests": "id"}[kind]
    assert back[key].astype(str).tolist() == frame[key].astype(str).tolist()
    if "requests" in frame and kind != "requests":
        want = pd.array(frame["requests"], dtype="Int64")
        got = pd.array(pd.to_numeric(back["requests"]), dtype="Int64")
        assert want.equals(got)


@pytest.mark.parametrize("crs", ["EPSG:4490", "EPSG:4544", "GK"])
def test_gpkg_in_cgcs2000_and_gauss_kruger(env, tmp_path, crs):
    import geopandas as gpd

    settings, st = env
    out = tmp_path / "cells.gpkg"
    export(st, settings, "cells", out, who="tester", res=9, crs=crs)
    back = gpd.read_file(out)
    assert back.crs.to_epsg() == (4490 if crs == "EPSG:4490" else 4544)
    frame, _ = export_frame(st, settings, "cells", res=9)
    centre = shapely.centroid(back.to_crs("EPSG:4326").geometry.to_numpy())
    lat, lng = grid.cell_centers(grid.str_to_cells(back["cell_id"].astype(str)))
    assert np.allclose(shapely.get_x(centre), lng, atol=1e-4) and np.allclose(shapely.get_y(centre), lat, atol=1e-4)
    assert back["requests"].tolist() == frame["requests"].tolist()


@pytest.mark.parametrize("kind", list(RASTER_KINDS))
def test_geotiff_surfaces(env, tmp_path, kind):
    import rasterio

    settings, st = env
    out = tmp_path / f"{kind}.tif"
    export(st, settings, kind, out, who="tester", res=9, crs="EPSG:4544")
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 4544 and src.count >= 1
        band = src.read(1, masked=True)
    if kind == "cells":  # every cell's count lands in some pixel: the surface's maximum is the busiest cell
        frame, _ = export_frame(st, settings, "cells", res=9)
        assert float(band.max()) == pytest.approx(float(frame["requests"].max()))


def test_no_export_contains_a_name_or_a_phone(env, tmp_path):
    settings, st = env
    written = []
    for kind in KINDS:
        for fmt in (*FORMATS, *(["tif"] if kind in RASTER_KINDS else [])):
            for snap in (True, False):
                out = tmp_path / f"{kind}-{snap}.{fmt}"
                export(st, settings, kind, out, who="tester", res=9, snap=snap)
                written.append(out)
    assert len(written) == 2 * (len(KINDS) * 3 + 2)
    for path in written:
        data = path.read_bytes()
        for secret in (*NAMES, *PHONES, "李四", "501室"):
            assert secret.encode() not in data, (path.name, secret)


def test_requests_are_snapped_truncated_and_scrubbed(env):
    settings, st = env
    frame, meta = export_frame(st, settings, "requests")
    assert meta["snapped"] is True
    lat, lng = grid.cell_centers(grid.str_to_cells(frame["cell_id"].astype(str)))
    assert np.allclose(frame.geometry.x, lng, atol=1e-7, rtol=0)
    assert np.allclose(frame.geometry.y, lat, atol=1e-7, rtol=0)
    assert set(frame["address"]) == {"锦城花园5栋"}
    assert frame["text"].str.contains("我是张*，", regex=False).any()
    assert not frame["text"].str.contains("张三丰|13812345678").any()
    assert (frame.loc[frame["category"] == "CARE", "text"] == frame.loc[frame["category"] == "CARE",
                                                                        "category_name"]).all()
    assert not {"reporter_name", "reporter_phone", "orig_x", "orig_y", "extra"} & set(frame.columns)
    exact, meta = export_frame(st, settings, "requests", snap=False)
    assert meta["snapped"] is False and not np.allclose(exact.geometry.x, lng, atol=1e-7, rtol=0)


def test_request_bbox_matches_the_published_point(env):
    settings, st = env
    box = (104.055, 30.630, 104.065, 30.640)
    frame, _ = export_frame(st, settings, "requests", bbox=box)
    x, y = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    assert len(frame) > 50 and ((x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])).all()
    everything, _ = export_frame(st, settings, "requests")
    ex, ey = everything.geometry.x.to_numpy(), everything.geometry.y.to_numpy()
    assert len(frame) == int(((ex >= box[0]) & (ex <= box[2]) & (ey >= box[1]) & (ey <= box[3])).sum())


def test_every_export_is_audited(env, tmp_path):
    settings, st = env
    before = len(audit.records(st, who="auditor", limit=None))
    export(st, settings, "hotspots", tmp_path / "h.csv", Filters(categories=("PARK",)), who="auditor", res=9)
    rows = audit.records(st, who="auditor", limit=None)
    assert len(rows) == before + 1
    last = rows.iloc[0]
    assert last["what"] == "export.hotspots" and last["filters"]["categories"] == ["PARK"]
    assert last["filters"]["format"] == "csv" and last["rows"] > 0


def test_bad_kind_format_and_parameters(env, tmp_path):
    settings, st = env
    with pytest.raises(InvalidInputError) as e:
        export_frame(st, settings, "people")
    assert e.value.field == "kind"
    with pytest.raises(UnsupportedFormatError) as e:
        export(st, settings, "requests", tmp_path / "r.tif", who="t")
    assert e.value.field == "format"
    with pytest.raises(UnsupportedFormatError):
        export(st, settings, "cells", tmp_path / "c.xlsx", who="t")
    with pytest.raises(InvalidInputError) as e:
        export(st, settings, "cells", tmp_path / "c.geojson", who="t", crs="EPSG:4490")
    assert e.value.field == "crs"
    with pytest.raises(InvalidInputError) as e:
        export_frame(st, settings, "cells", res=12)
    assert e.value.field == "res"
    with pytest.raises(InvalidInputError) as e:
        export_frame(st, settings, "cells", Filters(categories=("NOPE",)))
    assert e.value.field == "categories"
    with pytest.raises(InvalidInputError) as e:
        export_frame(st, settings, "cells", bbox=(104.1, 30.6, 104.0, 30.7))
    assert e.value.field == "bbox"
    assert not (tmp_path / "r.tif").exists() and not (tmp_path / "c.geojson").exists()
