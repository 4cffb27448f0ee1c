"""/api lists, points and single requests: filters, masking, errors that name the parameter, conditional GET."""

from __future__ import annotations

import pytest

from gridgis import grid, tokens
from gridgis.privacy import mask_name

from .conftest import GRID_A, XSS, XSS_AT


def test_requests_are_paged_newest_first_and_masked(client):
    r = client.get("/api/requests?limit=5")
    body = r.json
    assert r.status_code == 200 and body["returned"] == 5 and body["more"] is True
    times = [q["created_at"] for q in body["requests"]]
    assert times == sorted(times, reverse=True) and times[0].endswith("+08:00")
    # lists mask contact details for everyone, the secretary included (minimisation)
    assert {q["reporter_name"] for q in body["requests"]} == {mask_name("张三丰")}
    assert {q["reporter_phone"] for q in body["requests"]} == {"138****5678"}
    nxt = client.get("/api/requests?limit=5&offset=5").json["requests"]
    assert not {q["id"] for q in nxt} & {q["id"] for q in body["requests"]}


def test_request_filters_combine(client):
    park = client.get("/api/requests?category=PARK&limit=1000").json["requests"]
    assert park and {q["category"] for q in park} == {"PARK"}
    both = client.get("/api/requests?category=PARK&type=投诉&status=new,assigned&limit=1000").json["requests"]
    assert 0 < len(both) < len(park)
    assert all(q["request_type"] == "投诉" and q["status"] in ("new", "assigned") for q in both)
    g = client.get(f"/api/requests?grid={GRID_A[0]}&limit=1000").json["requests"]
    assert {q["grid_code"] for q in g} == {GRID_A[0]}
    spring = client.get("/api/requests?since=2026-03-01&until=2026-04-01&limit=1000").json["requests"]
    assert spring and all("2026-03-" in q["created_at"] for q in spring)


def test_requests_in_one_cell_at_any_stored_resolution(client):
    lng, lat = XSS_AT
    fine = int(grid.latlng_to_cells([lat], [lng], 10)[0])
    for res in (10, 9, 8):
        cell = format(int(grid.cells_to_parent([fine], res)[0]), "x")
        rows = client.get(f"/api/requests?cell={cell}&limit=1000").json["requests"]
        assert XSS in {q["text"] for q in rows}
        got = grid.latlng_to_cells([q["lat"] for q in rows], [q["lng"] for q in rows], res)
        assert set(got.tolist()) == {int(cell, 16)}
    finer = format(int(grid.latlng_to_cells([lat], [lng], 11)[0]), "x")
    r = client.get(f"/api/requests?cell={finer}")
    assert r.status_code == 400 and r.json["field"] == "cell" and "not stored" in r.json["error"]


def test_requests_inside_a_zone(client):
    zone = {"type": "Polygon", "coordinates": [[[104.069, 30.644], [104.071, 30.644], [104.071, 30.646],
                                                [104.069, 30.646], [104.069, 30.644]]]}
    zid = client.post("/api/zones", json={"name": "z", "geometry": zone}).json["id"]
    rows = client.get(f"/api/requests?zone={zid}&limit=1000").json["requests"]
    assert XSS in [q["text"] for q in rows]
    assert all(104.069 <= q["lng"] <= 104.071 and 30.644 <= q["lat"] <= 30.646 for q in rows)
    page = client.get(f"/api/requests?zone={zid}&limit=1").json
    assert page["returned"] == 1 and page["more"] is (len(rows) > 1)


def test_points_in_a_bbox_are_compact(client):
    r = client.get("/api/points?bbox=104.069,30.644,104.071,30.646")
    assert r.status_code == 200
    pts = r.json["points"]
    assert pts and set(pts[0]) == {"id", "lng", "lat", "c"}
    assert "t:600" in {p["id"] for p in pts}
    assert client.get("/api/points").json["field"] == "bbox"


def test_one_request_by_id_at_the_callers_level_and_unknown_is_404(client, anon, web_store):
    r = client.get("/api/requests/t:600")
    assert r.status_code == 200 and r.json["request"]["text"] == XSS
    assert r.json["request"]["reporter_phone"] == "13812345678"  # staff with access see whom to call back
    secret, _ = tokens.create_token(web_store, "app", ["requests_masked"])
    r = anon.get("/api/requests/t:600", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200 and r.json["request"]["reporter_phone"] == "138****5678"  # machines: masked
    assert r.json["request"]["reporter_name"] == mask_name("张三丰")
    missing = client.get("/api/requests/t:nope")
    assert missing.status_code == 404 and missing.json["code"] == "not_found"


@pytest.mark.parametrize(("query", "field"), [
    ("limit=0", "limit"), ("limit=x", "limit"), ("offset=-1", "offset"),
    ("bbox=1,2,3", "bbox"), ("bbox=104.1,30.6,104.0,30.7", "bbox"), ("bbox=a,b,c,d", "bbox"),
    ("since=yesterday", "since"), ("until=2026-13-01", "until"), ("since=2026-05-01&until=2026-04-01", "since"),
    ("category=NOPE", "category"), ("type=吐槽", "type"), ("status=open", "status"), ("grid=123", "grid"),
    ("zone=999", "zone"), ("zone=x", "zone"), ("cell=zzz", "cell"), ("cell=8b4008d12a67fff", "cell"),
])
def test_bad_parameters_are_400_naming_the_parameter(client, query, field):
    r = client.get(f"/api/requests?{query}")
    assert r.status_code == 400, r.json
    assert r.json == {"ok": False, "status": 400, "code": "invalid_input", "error": r.json["error"], "field": field}
    assert field in r.json["error"]


def test_unknown_api_route_has_the_json_error_shape(client):
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.json["ok"] is False and r.json["status"] == 404
    r = client.delete("/api/summary")
    assert r.status_code == 405 and r.json["ok"] is False


def test_conditional_get_by_etag_and_last_modified(client):
    first = client.get("/api/requests?limit=3")
    etag, last = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.headers["Cache-Control"] == "private, no-cache"  # answers depend on the caller
    assert client.get("/api/requests?limit=3", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/api/requests?limit=3", headers={"If-Modified-Since": last}).status_code == 304
    other = client.get("/api/requests?limit=4", headers={"If-None-Match": etag})
    assert other.status_code == 200  # another URL is another resource
    old = client.get("/api/requests?limit=3", headers={"If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"})
    assert old.status_code == 200


def test_points_and_lists_in_a_bbox_miss_nothing(client):
    from .conftest import build_rows

    rows = build_rows()
    for bbox in [(104.0585, 30.6335, 104.0615, 30.6365), (104.05, 30.62, 104.07, 30.64)]:
        inside = ((rows["lng"] >= bbox[0]) & (rows["lng"] <= bbox[2]) & (rows["lat"] >= bbox[1])
                  & (rows["lat"] <= bbox[3]))
        q = ",".join(map(str, bbox))
        got = {p["id"] for p in client.get(f"/api/points?bbox={q}&limit=10000").json["points"]}
        assert got == set(rows.loc[inside, "id"])
        listed = {r["id"] for r in client.get(f"/api/requests?bbox={q}&limit=1000").json["requests"]}
        assert listed == set(rows.loc[inside, "id"])
