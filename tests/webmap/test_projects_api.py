"""/api/projects on the seeded store: the candidates as RFC 7946 GeoJSON, filters, bad parameters, privacy,
caching, and the zone proposed for each candidate (saved through /api/zones as the map's button does).

Ranks, ids and scores are the library's (gridgis.heatmap.projects, tested on its own); these tests check
that the adapter passes them on faithfully and safely.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import shapely

from gridgis import grid
from gridgis.heatmap.filters import Filters
from gridgis.heatmap.projects import find_candidates
from webmap.projects_api import zone_priority

from .conftest import BBOX, EPOCH, HOT, T0

PARTS = ("volume", "significance", "growth", "severity")


@pytest.fixture
def body(client):
    r = client.get("/api/projects")
    assert r.status_code == 200, r.json
    return r.json


def test_candidates_as_geojson_in_rank_order_matching_the_library(body, web_store, web_settings):
    assert body["type"] == "FeatureCollection"
    feats = body["features"]
    ref = find_candidates(web_store, web_settings).table
    assert [f["id"] for f in feats] == ref["candidate_id"].tolist()
    assert [f["properties"]["rank"] for f in feats] == list(range(1, len(feats) + 1))
    assert [f["properties"]["score"] for f in feats] == pytest.approx(ref["score"].tolist())
    for f in feats:
        p = f["properties"]
        assert p["id"] == f["id"]
        assert p["score"] == pytest.approx(sum(p[f"pts_{k}"] for k in PARTS), abs=0.02)
        assert p["trend"] and p["trend_zh"] and p["trend_en"]
        assert p["households"] is None  # the seeded store has no household table
        assert isinstance(p["keywords"], list) and isinstance(p["texts"], list) and len(p["texts"]) <= 3
        assert len(p["grids"]) == len(p["grid_names"])
    # the planted parking hot spot is the best candidate and its polygon covers the hot spot
    top = feats[0]
    assert top["properties"]["category"] == "PARK" and top["properties"]["category_zh"] == "停车与交通"
    assert shapely.geometry.shape(top["geometry"]).contains(shapely.Point(*HOT))
    assert top["properties"]["grid_names"] == ["锦华1网格", "锦华2网格"]
    s = body["summary"]
    assert s["candidates"] == len(feats) and s["requests"] == 601
    assert s["k"] == 1 and s["gap"] == 0 and s["min_cells"] == 2
    assert s["text"].startswith("601 条诉求") and len(s["span"]) == 2


def test_polygons_follow_rfc_7946(body):
    box = shapely.box(*BBOX)
    for f in body["features"]:
        g = f["geometry"]
        assert g["type"] in ("Polygon", "MultiPolygon")
        geom = shapely.geometry.shape(g)
        assert geom.is_valid and not geom.is_empty
        polys = [geom] if g["type"] == "Polygon" else list(geom.geoms)
        assert all(shapely.is_ccw(p.exterior) for p in polys)  # exterior rings counter-clockwise
        coords = shapely.get_coordinates(geom)
        assert np.allclose(coords, np.round(coords, 7), rtol=0, atol=1e-12)  # ≤ 7 decimals
        assert box.buffer(1e-7).covers(geom)  # clipped to the service area


def test_polygon_is_the_union_of_the_candidates_cells_inside_the_service_area(body, web_store, web_settings):
    ref = find_candidates(web_store, web_settings).table.set_index("candidate_id")
    for f in body["features"]:
        cells = np.array([int(h, 16) for h in ref.loc[f["id"], "cell_ids"].split(",")], dtype=np.uint64)
        union = shapely.intersection(shapely.union_all(grid.cells_to_polygons(cells)), shapely.box(*BBOX))
        got = shapely.geometry.shape(f["geometry"])
        assert shapely.hausdorff_distance(got, union) < 1e-6  # the same shape, up to 7-decimal rounding
        assert got.symmetric_difference(union).area < 1e-4 * union.area


def test_filters_and_parameters_change_the_run(client, body):
    park = client.get("/api/projects?category=PARK").json
    assert park["features"] and {f["properties"]["category"] for f in park["features"]} == {"PARK"}
    assert park["features"][0]["id"] == body["features"][0]["id"]
    assert park["summary"]["categories"] == 1
    none = client.get("/api/projects?since=2020-01-01&until=2020-02-01").json
    assert none["features"] == [] and none["summary"]["candidates"] == 0 and none["summary"]["requests"] == 0
    big = client.get("/api/projects?min_cells=10").json
    assert big["summary"]["min_cells"] == 10 and all(f["properties"]["cells"] >= 10 for f in big["features"])
    assert 0 < len(big["features"]) < len(body["features"])
    wide = client.get("/api/projects?k=2&gap=1").json
    assert wide["summary"]["k"] == 2 and wide["summary"]["gap"] == 1
    square = shapely.box(HOT[0] - 0.004, HOT[1] - 0.004, HOT[0] + 0.004, HOT[1] + 0.004)
    zone = client.post("/api/zones", json={"name": "热点", "geometry": shapely.geometry.mapping(square)}).json
    inside = client.get(f"/api/projects?zone={zone['id']}").json
    assert inside["features"] and inside["features"][0]["properties"]["category"] == "PARK"
    assert all(square.buffer(0.002).covers(shapely.geometry.shape(f["geometry"])) for f in inside["features"])
    assert inside["summary"]["study_cells"] < body["summary"]["study_cells"]
    spring = client.get("/api/projects?since=2026-05-01&type=投诉,求助&status=new,assigned").json
    assert spring["summary"]["since"].startswith("2026-05-01") and spring["summary"]["requests"] < 601


@pytest.mark.parametrize(("query", "field"), [
    ("k=0", "k"), ("k=4", "k"), ("k=one", "k"), ("gap=2", "gap"), ("gap=-1", "gap"), ("min_cells=0", "min_cells"),
    ("min_cells=2.5", "min_cells"), ("category=NOPE", "category"), ("type=吐槽", "type"), ("status=done", "status"),
    ("grid=123", "grid"), ("since=yesterday-ish", "since"), ("since=2026-03-01&until=2026-02-01", "since"),
    ("zone=999", "zone"),
])
def test_bad_parameters_are_400_naming_the_parameter(client, query, field):
    r = client.get(f"/api/projects?{query}")
    assert r.status_code == 400
    assert r.json["ok"] is False and r.json["field"] == field
    assert field in r.json["error"]


def test_revalidation_answers_304_and_the_run_is_remembered_per_data_version(client, app, body):
    again = client.get("/api/projects")
    etag = again.headers["ETag"]
    assert client.get("/api/projects", headers={"If-None-Match": etag}).status_code == 304
    memo = app.extensions["gridgis.memo"]["projects"][0]
    assert len(memo) == 1  # two full answers, one computation
    # a saved zone changes the data version: the ETag changes and the old answer is not served
    f = body["features"][0]
    assert client.post("/api/zones", json={**f["properties"]["zone"], "geometry": f["geometry"]}).status_code == 201
    assert client.get("/api/projects", headers={"If-None-Match": etag}).status_code == 200


@pytest.mark.parametrize(("rank", "priority"), [(1, 5), (2, 5), (3, 4), (4, 4), (5, 3), (6, 3), (7, 2), (8, 2),
                                                (9, 1), (30, 1)])
def test_zone_priority_from_rank(rank, priority):
    assert zone_priority(rank) == priority


def test_every_candidate_can_be_saved_as_the_zone_it_proposes(client, body):
    for f in body["features"]:
        p = f["properties"]
        z = p["zone"]
        top = "、".join(p["keywords"][:3])
        assert z["name"] == f"{p['rank']}. {p['category_zh']}" + (f" · {top}" if top else "")
        assert z["category"] == p["category"] and z["priority"] == zone_priority(p["rank"])
        assert z["notes"].startswith(f"项目候选 #{p['rank']}（{p['id']}）：得分 {p['score']:.2f}")
        r = client.post("/api/zones", json={**z, "geometry": f["geometry"]})
        assert r.status_code == 201, (f["id"], r.json)
        saved = r.json
        assert saved["properties"]["name"] == z["name"] and saved["properties"]["priority"] == z["priority"]
        a, b = shapely.geometry.shape(saved["geometry"]), shapely.geometry.shape(f["geometry"])
        assert a.symmetric_difference(b).area < 1e-10
    assert len(client.get("/api/zones").json["features"]) == len(body["features"])


def test_english_notes_on_request(client):
    en = client.get("/api/projects?lang=en").json["features"][0]["properties"]["zone"]
    assert en["notes"].startswith("Project candidate #1 (PARK-") and "trend: " in en["notes"]
    assert en["name"].startswith("1. 停车与交通")  # the zone name stays Chinese (the record's language)


# ------------------------------------------------------------------------------------------- privacy
CARE_AT = (104.0450, 30.6450)  # (lng, lat), away from the parking hot spot
PEOPLE = [("王小明", "13912345678"), ("欧阳建国", "15800001111"), ("李红", "02885123456"), ("赵丽华", "18628001234")]
TEMPLATES = [
    "{name}反映独居老人吃饭难，希望社区开办老年食堂，联系电话{phone}",
    "本人{name}，家中老人行动不便，请求上门助餐服务，电话 {phone}",
    "助餐点太远了，{name}建议在小区里设日间照料中心（{phone}）",
    "请联系{name} {phone}：楼里没有无障碍坡道，轮椅出不了门",
    "老年人体检和社区医疗排队太久，反映人{name}，手机{phone}",
    "{name}（身份证 51010719500101123X）申请低保和适老化改造，回电{phone}",
]
ID_CARD = "51010719500101123X"


def _phone_forms(phone: str) -> list[str]:
    if phone.startswith("0"):
        return [phone, f"{phone[:3]}-{phone[3:]}"]
    return [phone, f"{phone[:3]} {phone[3:7]} {phone[7:]}", f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}",
            f"86{phone}"]


def cluster_rows(at: tuple[float, float], category: str, texts: list[str], people: list[tuple[str, str]],
                 prefix: str, seed: int = 11) -> pd.DataFrame:
    """Requests of one category packed within ~40 m of ``at`` (lng, lat), Jan–Jun 2026, as the store holds them."""
    rng = np.random.default_rng(seed)
    n = len(texts)
    lng = at[0] + rng.normal(0, 0.0004, n)
    lat = at[1] + rng.normal(0, 0.0004, n)
    created = T0 + pd.to_timedelta(rng.uniform(0, 181, n), unit="D")
    cells = grid.latlng_to_cells(lat, lng, 10)
    return pd.DataFrame({
        "id": [f"{prefix}:{i}" for i in range(n)], "source": prefix, "source_id": [str(i) for i in range(n)],
        "created_at": np.asarray((created - EPOCH) // pd.Timedelta("1s"), dtype=np.int64),
        "text": texts, "address": "锦华路9号", "category": category, "category_rule": "test",
        "source_category": None, "request_type": "求助", "status": "new", "lng": lng, "lat": lat,
        "source_crs": "wgs84", "orig_x": lng, "orig_y": lat, "geocode_level": "source", "geocode_score": None,
        "grid_code": None, "cell": cells.astype(np.int64), "cell_9": grid.cells_to_parent(cells, 9).astype(np.int64),
        "cell_8": grid.cells_to_parent(cells, 8).astype(np.int64),
        "cell_7": grid.cells_to_parent(cells, 7).astype(np.int64), "duplicate_of": None,
        "reporter_name": [p[0] for p in people], "reporter_phone": [p[1] for p in people], "extra": None,
        "content_hash": [f"{prefix}{i}" for i in range(n)],
    })


def add_rows(store, rows: pd.DataFrame) -> None:
    batch = store.insert_batch(f"{rows['source'].iloc[0]}.csv", None, str(rows["source"].iloc[0]), {})
    store.upsert_requests(batch, rows)
    store.finish_batch(batch, {"read": len(rows), "stored": len(rows)})


def _care_rows(n: int = 60) -> pd.DataFrame:
    who = [PEOPLE[i % len(PEOPLE)] for i in range(n)]
    texts = []
    for i, (name, phone) in enumerate(who):
        forms = _phone_forms(phone)
        texts.append(TEMPLATES[i % len(TEMPLATES)].format(name=name, phone=forms[(i // 6) % len(forms)])
                     + f"（第{i}次）")
    return cluster_rows(CARE_AT, "CARE", texts, who, "p")


def test_no_reporter_name_phone_or_id_number_leaves_the_server(client, web_store):
    add_rows(web_store, _care_rows())
    r = client.get("/api/projects")
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    care = [f for f in r.json["features"] if f["properties"]["category"] == "CARE" and
            shapely.geometry.shape(f["geometry"]).contains(shapely.Point(*CARE_AT))]
    assert care, "the planted elderly-care cluster must be a candidate"
    texts = care[0]["properties"]["texts"]
    assert len(texts) == 3 and all("第" in t for t in texts)  # the texts that carry names and numbers
    assert any("*" in t for t in texts)  # … were masked, not dropped
    people = web_store.requests_frame(["reporter_name", "reporter_phone"]).drop_duplicates()
    assert len(people) == len(PEOPLE) + 1  # ours and the fixture's 张三丰
    for name, phone in people.itertuples(index=False):
        assert name not in text, name
        digits = re.sub(r"\D", "", phone)
        for f in r.json["features"]:
            for t in f["properties"]["texts"] + [f["properties"]["zone"]["notes"]]:
                assert digits not in re.sub(r"\D", "", t), (phone, t)
    assert ID_CARD[6:14] not in text and ID_CARD[:12] not in text
    assert json.dumps(r.json, ensure_ascii=False).count("****") >= 1


def test_a_candidate_at_the_edge_of_the_service_area_is_clipped_so_it_can_be_a_zone(client, web_store,
                                                                                     web_settings):
    edge = (BBOX[0] + 0.0003, 30.640)  # hexagons whose centres are inside reach ~80 m beyond the west edge
    n = 40
    add_rows(web_store, cluster_rows(edge, "FAC", [f"路灯不亮 {i}" for i in range(n)], [("", "")] * n, "e"))
    ref = find_candidates(web_store, web_settings, Filters(categories=("FAC",))).table
    cells = [np.array([int(h, 16) for h in ids.split(",")], dtype=np.uint64) for ids in ref["cell_ids"]]
    unions = [shapely.union_all(grid.cells_to_polygons(c)) for c in cells]
    at_edge = [i for i, u in enumerate(unions) if u.contains(shapely.Point(*edge))]
    assert at_edge and not shapely.box(*BBOX).covers(unions[at_edge[0]])  # the raw cells do stick out
    feats = {f["id"]: f for f in client.get("/api/projects?category=FAC").json["features"]}
    f = feats[ref["candidate_id"].iloc[at_edge[0]]]
    geom = shapely.geometry.shape(f["geometry"])
    assert shapely.box(*BBOX).buffer(1e-7).covers(geom) and geom.contains(shapely.Point(*edge))
    r = client.post("/api/zones", json={**f["properties"]["zone"], "geometry": f["geometry"]})
    assert r.status_code == 201, r.json
