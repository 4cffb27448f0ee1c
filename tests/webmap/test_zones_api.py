"""/api/zones: create, read, edit (PUT/PATCH), soft delete with history; invalid input is refused, nothing saved."""

from __future__ import annotations

import pytest

from gridgis.zones import MAX_AREA_KM2


def square(x0=104.055, y0=30.630, d=0.01) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + d, y0], [x0 + d, y0 + d], [x0, y0 + d], [x0, y0]]]}


def create(client, **over) -> dict:
    body = {"name": "停车整治区", "category": "PARK", "priority": 4, "notes": "晚高峰", "geometry": square(), **over}
    r = client.post("/api/zones", json=body)
    assert r.status_code == 201, r.json
    return r.json


def counts(store) -> tuple[int, int]:
    return len(store.zones_frame(include_deleted=True)), sum(
        len(store.zone_history_frame(z)) for z in store.zones_frame(include_deleted=True)["id"])


def test_create_then_list_and_get(client):
    feat = create(client)
    p = feat["properties"]
    assert feat["type"] == "Feature" and p["name"] == "停车整治区" and p["priority"] == 4 and p["version"] == 1
    assert p["area_km2"] == pytest.approx(1.063, rel=1e-2)
    assert p["created_at"].endswith("+08:00")
    r = client.get("/api/zones")
    assert r.status_code == 200 and [f["id"] for f in r.json["features"]] == [p["id"]]
    one = client.get(f"/api/zones/{p['id']}")
    assert one.json["geometry"] == feat["geometry"]
    assert client.post("/api/zones", json={"name": "x", "geometry": square()}).headers["Location"].endswith("/2")


def test_put_replaces_and_patch_changes_some_fields_with_version_check(client):
    zid = create(client)["id"]
    r = client.patch(f"/api/zones/{zid}", json={"priority": 5, "version": 1})
    assert r.status_code == 200 and r.json["properties"]["priority"] == 5 and r.json["properties"]["version"] == 2
    assert r.json["properties"]["notes"] == "晚高峰"  # untouched by PATCH
    stale = client.patch(f"/api/zones/{zid}", json={"priority": 1, "version": 1})
    assert stale.status_code == 400 and stale.json["field"] == "version"
    r = client.put(f"/api/zones/{zid}", json={"name": "新名称", "geometry": square(104.06, 30.635, 0.005)})
    assert r.status_code == 200
    p = r.json["properties"]
    assert (p["name"], p["category"], p["priority"], p["notes"], p["version"]) == ("新名称", None, 3, None, 3)
    missing = client.put(f"/api/zones/{zid}", json={"name": "只有名字"})
    assert missing.status_code == 400 and missing.json["field"] == "geometry"


def test_delete_is_soft_and_keeps_history(client, web_store):
    zid = create(client)["id"]
    client.patch(f"/api/zones/{zid}", json={"notes": "改"})
    r = client.delete(f"/api/zones/{zid}")
    assert r.status_code == 200 and r.json["ok"] is True and r.json["deleted_at"]
    assert client.get(f"/api/zones/{zid}").status_code == 404
    assert client.get("/api/zones").json["features"] == []
    assert client.delete(f"/api/zones/{zid}").status_code == 404
    assert web_store.get_zone(zid, include_deleted=True)["deleted_at"] is not None
    hist = client.get(f"/api/zones/{zid}/history").json["history"]
    assert [h["action"] for h in hist] == ["create", "update", "delete"]
    assert [h["version"] for h in hist] == [1, 2, 3]
    assert hist[0]["zone"]["properties"]["notes"] == "晚高峰" and hist[1]["zone"]["properties"]["notes"] == "改"


SELF_CROSSING = {"type": "Polygon", "coordinates": [[[104.05, 30.63], [104.06, 30.64], [104.06, 30.63],
                                                     [104.05, 30.64], [104.05, 30.63]]]}


@pytest.mark.parametrize(("body", "field", "needle"), [
    ({"name": "x", "geometry": SELF_CROSSING}, "geometry", "Self-intersection"),
    ({"name": "x", "geometry": {"type": "Polygon", "coordinates": []}}, "geometry", "empty"),
    ({"name": "x", "geometry": square(104.085, 30.655)}, "geometry", "outside the service area"),
    ({"name": "x", "geometry": {"type": "LineString", "coordinates": [[104.05, 30.63], [104.06, 30.64]]}},
     "geometry", "Polygon"),
    ({"name": "", "geometry": square()}, "name", "name"),
    ({"name": "x", "priority": 9, "geometry": square()}, "priority", "1 to 5"),
    ({"name": "x", "category": "NOPE", "geometry": square()}, "category", "NOPE"),
    ({"name": "x", "colour": "red", "geometry": square()}, "colour", "unknown field"),
])
def test_invalid_zones_are_400_with_the_reason_and_nothing_is_saved(client, web_store, body, field, needle):
    before = counts(web_store)
    r = client.post("/api/zones", json=body)
    assert r.status_code == 400
    assert r.json["ok"] is False and r.json["code"] == "invalid_input" and r.json["field"] == field
    assert needle in r.json["error"]
    assert counts(web_store) == before


def test_too_large_zone_is_refused(client, tmp_path):
    from .conftest import fresh_client, make_settings

    # a service area big enough that only the size rule can refuse the zone
    big = fresh_client(make_settings(tmp_path / "big.sqlite3", service_area_bbox=(103.5, 30.0, 104.5, 31.0)))
    r = big.post("/api/zones", json={"name": "全区", "geometry": square(103.9, 30.5, 0.1)})
    assert r.status_code == 400 and r.json["field"] == "geometry"
    assert f"{MAX_AREA_KM2:g} km²" in r.json["error"]


def test_bad_bodies_and_unknown_ids(client):
    r = client.post("/api/zones", data="not json", content_type="application/json")
    assert r.status_code == 400 and r.json["field"] == "body"
    r = client.post("/api/zones", data="name=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and r.json["field"] == "body"
    assert client.get("/api/zones/999").status_code == 404
    r = client.patch("/api/zones/999", json={"priority": 2})
    assert r.status_code == 404 and r.json["code"] == "not_found"
    assert client.put("/api/zones/999", json={"name": "x", "geometry": square()}).status_code == 404
    assert client.get("/api/zones/999/history").status_code == 404
    assert client.get("/api/zones/abc").status_code == 404


def test_etag_of_the_zone_list_changes_after_an_edit(client):
    first = client.get("/api/zones")
    etag = first.headers["ETag"]
    assert client.get("/api/zones", headers={"If-None-Match": etag}).status_code == 304
    create(client)
    again = client.get("/api/zones", headers={"If-None-Match": etag})
    assert again.status_code == 200 and len(again.json["features"]) == 1 and again.headers["ETag"] != etag
