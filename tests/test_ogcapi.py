"""OGC API – Features documents (gridgis.ogcapi) over the demo community: paging, filters, CRS, privacy, 400/404."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from gridgis import grid, ogcapi
from gridgis.config import load_settings
from gridgis.errors import ConfigError, InvalidInputError, NotFoundError
from gridgis.heatmap.aggregate import cell_totals
from gridgis.ogcapi.crs import CGCS2000, CRS84, SUPPORTED, WEB_MERCATOR
from gridgis.ogcapi.query import MAX_LIMIT, parse_items
from gridgis.storage import open_store
from gridgis.storage.epochs import to_epoch_seconds

BASE = "http://gis.example/ogc"
IDS = ["requests", "cells-8", "cells-9", "cells-10", "hotspots", "projects", "zones", "grids"]


@pytest.fixture(scope="module")
def demo_store(demo_settings, demo_reports):
    st = open_store(demo_settings)
    yield st
    st.close()


@pytest.fixture(scope="module")
def svc(demo_store, demo_settings):
    return ogcapi.OgcService(demo_store, demo_settings)


@pytest.fixture(scope="module")
def exact_svc(demo_store, demo_settings):
    return ogcapi.OgcService(demo_store, demo_settings.with_overrides(export_snap_points=False))


@pytest.fixture(scope="module")
def truth(demo_store):
    """Every stored request in the API's order (created_at, id), with its cell centre."""
    df = demo_store.requests_frame()
    lat, lng = grid.cell_centers(df["cell"].to_numpy().astype(np.uint64))
    return df.assign(c_lng=lng, c_lat=lat, epoch=to_epoch_seconds(df["created_at"]))


def a(**kw) -> dict[str, list[str]]:
    """Query arguments as the web adapter passes them (name → list of values); bbox_crs → bbox-crs."""
    return {k.replace("_", "-"): [str(v)] for k, v in kw.items()}


def items(svc, cid, **kw) -> dict:
    return ogcapi.items(svc, cid, BASE, a(**kw))[0]


def _offset(link: dict) -> int:
    return int(parse_qs(urlsplit(link["href"]).query).get("offset", ["0"])[0])


def _rel(doc: dict, rel: str) -> dict | None:
    return next((k for k in doc["links"] if k["rel"] == rel), None)


# -- discovery ----------------------------------------------------------------------------------------------

def test_landing_page_links_have_rel_and_type():
    doc = ogcapi.landing(BASE, {})
    rels = {k["rel"]: k for k in doc["links"]}
    assert {"self", "alternate", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert rels["data"]["href"] == f"{BASE}/collections"
    assert all(k["href"].startswith(BASE) and k["type"] for k in doc["links"])


def test_conformance_declares_core_geojson_html_oas30_and_crs():
    classes = ogcapi.conformance(BASE, {})["conformsTo"]
    for c in ("ogcapi-features-1/1.0/conf/core", "/conf/geojson", "/conf/html", "/conf/oas30",
              "ogcapi-features-2/1.0/conf/crs"):
        assert any(c in x for x in classes), c


def test_collections_offer_every_dataset_in_three_crs(svc):
    doc = ogcapi.collections(svc, BASE, {})
    assert [c["id"] for c in doc["collections"]] == IDS
    for c in doc["collections"]:
        assert c["crs"] == list(SUPPORTED) and c["storageCrs"] == CRS84
        assert {"self", "items"} <= {k["rel"] for k in c["links"]}
    req = doc["collections"][0]
    x0, y0, x1, y1 = req["extent"]["spatial"]["bbox"][0]
    assert 103.9 < x0 < x1 < 104.2 and 30.5 < y0 < y1 < 30.8
    assert req["extent"]["temporal"]["interval"][0][0].startswith("2025-11-01")
    assert "extent" not in ogcapi.collection(svc, "zones", BASE, {})  # the demo has no zones


def test_empty_store_serves_empty_collections(store, settings):
    svc = ogcapi.OgcService(store, settings)
    doc = items(svc, "requests", limit=5)
    assert doc["numberMatched"] == 0 and doc["features"] == [] and _rel(doc, "next") is None
    assert "extent" not in ogcapi.collection(svc, "requests", BASE, {})
    assert items(svc, "cells-9")["numberMatched"] == 0


# -- paging -------------------------------------------------------------------------------------------------

def test_paging_through_requests_returns_every_row_once_in_store_order(svc, truth):
    seen, offset, pages = [], 0, 0
    while True:
        doc = items(svc, "requests", limit=1000, offset=offset)
        assert doc["numberMatched"] == len(truth) and doc["numberReturned"] == len(doc["features"])
        seen += [f["id"] for f in doc["features"]]
        pages += 1
        if pages > 1:
            assert _offset(_rel(doc, "prev")) == offset - 1000
        nxt = _rel(doc, "next")
        if nxt is None:
            break
        assert nxt["type"] == "application/geo+json" and "limit=1000" in nxt["href"]
        offset = _offset(nxt)
    assert pages == 6 and seen == truth["id"].tolist()


def _follow(svc, cid: str, args: dict) -> tuple[list[str], int]:
    """Feature ids of every page, following the next links exactly as given; and the number of pages."""
    ids, pages = [], 0
    while args is not None:
        doc = ogcapi.items(svc, cid, BASE, args)[0]
        ids += [f["id"] for f in doc["features"]]
        pages += 1
        nxt = _rel(doc, "next")
        args = None if nxt is None else parse_qs(urlsplit(nxt["href"]).query)
    return ids, pages


def test_next_links_carry_a_keyset_position_that_pages_exactly(svc, truth):
    ids, pages = _follow(svc, "requests", a(limit=700))
    assert pages == 9 and ids == truth["id"].tolist()
    box = (104.040, 30.620, 104.066, 30.660)
    in_box = ((truth["c_lng"] >= box[0]) & (truth["c_lng"] <= box[2]) & (truth["c_lat"] >= box[1])
              & (truth["c_lat"] <= box[3]))
    ids, pages = _follow(svc, "requests", {"limit": ["100"], "bbox": [",".join(map(str, box))],
                                           "status": ["resolved"]})
    want = truth["id"][in_box & (truth["status"] == "resolved")].tolist()
    assert ids == want and pages == -(-len(want) // 100) > 2
    nxt = _rel(items(svc, "requests", limit=100), "next")
    assert "after=" in nxt["href"] and _offset(nxt) == 100
    with pytest.raises(InvalidInputError) as e:
        items(svc, "requests", after="yesterday")
    assert e.value.field == "after"
    with pytest.raises(InvalidInputError):
        items(svc, "grids", after="1:x")  # only requests page by keyset


@pytest.mark.parametrize("offset", [2500, 4321, 5940])
def test_deep_offsets_reach_the_same_rows(svc, truth, offset):
    doc = items(svc, "requests", limit=9, offset=offset, category="PROP")
    prop = truth[truth["category"] == "PROP"]
    if offset >= len(prop):
        assert doc["features"] == [] and _rel(doc, "next") is None
    else:
        assert [f["id"] for f in doc["features"]] == prop["id"].iloc[offset: offset + 9].tolist()
    whole = items(svc, "requests", limit=7, offset=offset)
    assert [f["id"] for f in whole["features"]] == truth["id"].iloc[offset: offset + 7].tolist()


def test_limit_defaults_to_10_and_is_capped_silently(svc):
    assert items(svc, "requests")["numberReturned"] == 10
    assert parse_items(a(limit=50_000), {}, True, "Asia/Shanghai").limit == MAX_LIMIT
    doc = items(svc, "requests", limit=50_000)
    assert doc["numberReturned"] == doc["numberMatched"] and _rel(doc, "next") is None


# -- filters ------------------------------------------------------------------------------------------------

def _local(day: str) -> int:
    return int(pd.Timestamp(day, tz="Asia/Shanghai").timestamp())


def test_datetime_intervals_and_instants(svc, truth):
    doc = items(svc, "requests", datetime="2026-03-01/2026-03-31", limit=10_000)
    march = truth[(truth["epoch"] >= _local("2026-03-01")) & (truth["epoch"] < _local("2026-04-01"))]
    assert doc["numberMatched"] == len(march) > 0
    assert {f["id"] for f in doc["features"]} == set(march["id"])
    before = items(svc, "requests", datetime="../2025-12-31T16:00:00Z")["numberMatched"]
    assert before == int((truth["epoch"] <= _local("2026-01-01")).sum())
    after = items(svc, "requests", datetime="2026-01-01T00:00:00+08:00/..")["numberMatched"]
    assert after == int((truth["epoch"] >= _local("2026-01-01")).sum())
    one = truth.iloc[100]
    instant = one["created_at"].tz_convert("Asia/Shanghai").isoformat()
    doc = items(svc, "requests", datetime=instant)
    assert one["id"] in [f["id"] for f in doc["features"]]
    assert doc["numberMatched"] == int((truth["epoch"] == one["epoch"]).sum())
    day = items(svc, "requests", datetime="2026-03-08")["numberMatched"]
    assert day == int(((truth["epoch"] >= _local("2026-03-08")) & (truth["epoch"] < _local("2026-03-09"))).sum())


def test_property_filters_combine(svc, truth):
    doc = items(svc, "requests", category="SAFE", status="resolved", limit=10_000)
    want = truth[(truth["category"] == "SAFE") & (truth["status"] == "resolved")]
    assert doc["numberMatched"] == len(want) > 0
    assert [f["id"] for f in doc["features"]] == want["id"].tolist()
    assert items(svc, "requests", category="NOPE")["numberMatched"] == 0
    grids = items(svc, "grids", community="锦华社区")
    assert grids["numberMatched"] == 8


@pytest.mark.parametrize("snapped", [True, False])
@pytest.mark.parametrize("box", [
    (104.050, 30.630, 104.056, 30.638),   # a few hundred metres: through the cell indexes
    (104.040, 30.620, 104.066, 30.660),   # a quarter of the padded extent: pages by coordinate ranges
    (104.030, 30.610, 104.090, 30.665),   # most of it
    (100.0, 20.0, 110.0, 40.0),           # everything
    (110.0, 20.0, 111.0, 21.0),           # nothing
])
def test_bbox_selects_the_published_points(svc, exact_svc, truth, snapped, box):
    service = svc if snapped else exact_svc
    x, y = (truth["c_lng"], truth["c_lat"]) if snapped else (truth["lng"], truth["lat"])
    inside = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
    doc = items(service, "requests", bbox=",".join(map(str, box)), limit=10_000)
    assert doc["numberMatched"] == int(inside.sum())
    assert [f["id"] for f in doc["features"]] == truth["id"][inside].tolist()
    # A short first page: counted (res-9 totals of the counts table + the band along the box's edge).
    assert items(service, "requests", bbox=",".join(map(str, box)), limit=1)["numberMatched"] == int(inside.sum())


def test_bbox_in_other_crs_selects_the_same_features(svc):
    box = (104.050, 30.630, 104.056, 30.638)
    plain = items(svc, "requests", bbox="104.050,30.630,104.056,30.638", limit=10_000)
    lat_first = items(svc, "requests", bbox="30.630,104.050,30.638,104.056", bbox_crs=CGCS2000, limit=10_000)
    to_m = Transformer.from_crs("OGC:CRS84", "EPSG:3857", always_xy=True)
    (mx0, mx1), (my0, my1) = to_m.transform([box[0], box[2]], [box[1], box[3]])
    metres = items(svc, "requests", bbox=f"{mx0},{my0},{mx1},{my1}", bbox_crs=WEB_MERCATOR, limit=10_000)
    ids = [f["id"] for f in plain["features"]]
    assert plain["numberMatched"] > 0
    assert [f["id"] for f in lat_first["features"]] == ids == [f["id"] for f in metres["features"]]


# -- CRS and geometry ----------------------------------------------------------------------------------------

def test_output_crs_follows_the_authority_axis_order(svc):
    fid = "51010700100101"
    base, crs = ogcapi.item(svc, "grids", fid, BASE, {})
    cgcs, crs2 = ogcapi.item(svc, "grids", fid, BASE, a(crs="EPSG:4490"))
    merc, crs3 = ogcapi.item(svc, "grids", fid, BASE, a(crs=WEB_MERCATOR))
    assert (crs, crs2, crs3) == (CRS84, CGCS2000, WEB_MERCATOR)
    lnglat = np.array(base["geometry"]["coordinates"][0])
    assert np.allclose(np.array(cgcs["geometry"]["coordinates"][0])[:, ::-1], lnglat, atol=1e-7)  # lat, lng
    x, y = Transformer.from_crs("OGC:CRS84", "EPSG:3857", always_xy=True).transform(lnglat[:, 0], lnglat[:, 1])
    assert np.allclose(np.array(merc["geometry"]["coordinates"][0]), np.column_stack([x, y]), atol=0.01)


def test_polygons_are_counter_clockwise_with_at_most_7_decimals(svc):
    doc = items(svc, "cells-10", limit=50)
    for f in doc["features"]:
        ring = shapely.LinearRing(f["geometry"]["coordinates"][0])
        assert ring.is_ccw
    text = json.dumps([f["geometry"] for f in doc["features"]])
    assert not re.search(r"\d\.\d{8,}", text)


# -- privacy and aggregates -------------------------------------------------------------------------------

def test_requests_leave_without_personal_data(svc, truth):
    doc = items(svc, "requests", limit=10_000)
    by_id = truth.set_index("id")
    for f in doc["features"]:
        p, row = f["properties"], by_id.loc[f["id"]]
        assert "reporter_name" not in p and "reporter_phone" not in p and "extra" not in p
        if row["category"] == "CARE":
            assert p["text"] == "养老与社区服务"
        assert not re.search(r"单元|\d+室|\d+号(?![楼院])", p["address"] or "")
        assert f["geometry"]["coordinates"] == pytest.approx([row["c_lng"], row["c_lat"]], abs=1e-7)
    exact = items(svc.__class__(svc.store, svc.settings.with_overrides(export_snap_points=False)), "requests",
                  limit=3)
    for f in exact["features"]:
        assert f["geometry"]["coordinates"] == pytest.approx([by_id.loc[f["id"], "lng"],
                                                               by_id.loc[f["id"], "lat"]], abs=1e-7)


@pytest.mark.parametrize("res", [8, 9, 10])
def test_cells_leave_out_cells_below_k(svc, demo_store, res):
    k = svc.settings.export_min_count_k
    totals = cell_totals(demo_store, res)
    kept = totals[totals["requests"] >= k]
    doc = items(svc, f"cells-{res}", limit=10_000)
    got = {f["id"]: f["properties"]["requests"] for f in doc["features"]}
    assert got == dict(zip(kept["cell_id"], kept["requests"].astype(int), strict=True))
    if res == 10:
        assert len(kept) < len(totals)  # the rule did leave some out


def test_hotspots_are_significant_cells_with_small_counts_withheld(svc, demo_store):
    doc = items(svc, "hotspots", limit=10_000)
    totals = cell_totals(demo_store, 10).set_index("cell_id")["requests"]
    assert doc["numberMatched"] > 0
    for f in doc["features"]:
        p = f["properties"]
        assert p["bin"] != 0 and np.sign(p["z"]) == np.sign(p["bin"])
        n = int(totals.get(f["id"], 0))
        assert p["requests"] == (n if n >= svc.settings.export_min_count_k else None)
    hot = items(svc, "hotspots", bin=3, limit=10_000)
    assert hot["numberMatched"] == sum(f["properties"]["bin"] == 3 for f in doc["features"])


def test_projects_are_the_ranked_candidates_with_care_texts_hidden(svc, demo_store, demo_settings):
    from gridgis.heatmap.projects import find_candidates

    table = find_candidates(demo_store, demo_settings).table
    want = table[table["requests"] >= demo_settings.export_min_count_k]
    doc = items(svc, "projects", limit=100)
    assert [f["id"] for f in doc["features"]] == want["candidate_id"].tolist()
    for f in doc["features"]:
        assert f["geometry"]["type"] == "MultiPolygon"
        if f["properties"]["category"] == "CARE":
            assert {f["properties"][c] for c in ("text_1", "text_2", "text_3")} <= {"养老与社区服务", None}


# -- errors -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("cid", "args", "field"), [
    ("requests", {"foo": ["1"]}, "foo"),
    ("requests", {"bbox": ["1,2,3"]}, "bbox"),
    ("requests", {"bbox": ["a,b,c,d"]}, "bbox"),
    ("requests", {"bbox": ["104,31,105,30"]}, "bbox"),
    ("requests", {"bbox": ["104,30,105,91"]}, "bbox"),
    ("requests", {"bbox": ["104,30,105,31"], "bbox-crs": ["EPSG:4326"]}, "bbox-crs"),
    ("requests", {"crs": ["EPSG:2000"]}, "crs"),
    ("requests", {"datetime": ["yesterday"]}, "datetime"),
    ("requests", {"datetime": ["2026-13-01"]}, "datetime"),
    ("requests", {"datetime": ["2026-02-01/2026-01-01"]}, "datetime"),
    ("requests", {"datetime": ["../.."]}, "datetime"),
    ("requests", {"datetime": ["2026-01-01/2026-02-01/2026-03-01"]}, "datetime"),
    ("requests", {"limit": ["0"]}, "limit"),
    ("requests", {"limit": ["ten"]}, "limit"),
    ("requests", {"limit": ["5", "6"]}, "limit"),
    ("requests", {"offset": ["-1"]}, "offset"),
    ("requests", {"f": ["xml"]}, "f"),
    ("grids", {"datetime": ["2026-01-01"]}, "datetime"),  # grids have no time
    ("hotspots", {"bin": ["hot"]}, "bin"),
])
def test_bad_parameters_name_the_parameter(svc, cid, args, field):
    with pytest.raises(InvalidInputError) as e:
        ogcapi.items(svc, cid, BASE, args)
    assert e.value.field == field


def test_unknown_collection_or_feature_is_not_found(svc):
    with pytest.raises(NotFoundError) as e:
        ogcapi.items(svc, "people", BASE, {})
    assert e.value.field == "collectionId"
    for cid in ("requests", "grids", "cells-9"):
        with pytest.raises(NotFoundError) as e:
            ogcapi.item(svc, cid, "no-such-id", BASE, {})
        assert e.value.field == "featureId"
    with pytest.raises(InvalidInputError):
        ogcapi.item(svc, "grids", "51010700100101", BASE, a(limit=5))


# -- the API definition and settings -------------------------------------------------------------------------

def test_openapi_lists_each_collections_parameters(svc):
    doc = ogcapi.openapi(svc, BASE)
    assert doc["openapi"].startswith("3.0") and doc["servers"][0]["url"] == BASE
    params = doc["components"]["parameters"]
    for cid in IDS:
        op = doc["paths"][f"/collections/{cid}/items"]["get"]
        names = [p.get("name") or params[p["$ref"].rsplit("/", 1)[-1]]["name"] for p in op["parameters"]]
        coll = svc.collection(cid)
        assert ("datetime" in names) == coll.temporal
        assert set(coll.queryables) <= set(names)
        assert f"/collections/{cid}/items/{{featureId}}" in doc["paths"]


def test_export_settings_come_from_the_environment():
    s = load_settings(env={"GRIDGIS_EXPORT_SNAP_POINTS": "false", "GRIDGIS_EXPORT_MIN_COUNT_K": "10"})
    assert s.export_snap_points is False and s.export_min_count_k == 10
    assert load_settings(env={}).export_snap_points is True
    with pytest.raises(ConfigError):
        load_settings(env={"GRIDGIS_EXPORT_SNAP_POINTS": "maybe"})
    with pytest.raises(ConfigError):
        load_settings(env={"GRIDGIS_EXPORT_MIN_COUNT_K": "0"})
