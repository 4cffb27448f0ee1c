"""/open311/v2 through the Flask client on a copy of the demo database: documents, POST round trip into the
map, the spec's errors, tokens (hashed, scoped, revocable, expiring), audit rows and no personal data out."""

from __future__ import annotations

import json
import time
from xml.etree import ElementTree as ET

import pytest

from gridgis import grid
from gridgis.accounts import create_user
from gridgis.privacy import mask_name
from gridgis.tokens import create_token, revoke_token
from webmap import create_app
from webmap.access import PUBLIC, rule
from webmap.tokens import require_scope

from ..test_open311 import copy_demo
from .conftest import PASSWORD, log_in

BASE = "/open311/v2"
POINT = (104.0581, 30.6402)  # lng, lat inside the demo community
LAMP = {"service_code": "FAC", "description": "小区门口路灯不亮，我是王小明，电话13912345678",
        "lat": str(POINT[1]), "long": str(POINT[0]), "first_name": "小明", "last_name": "王",
        "phone": "13912345678", "email": "wxm@example.com", "attribute[request_type]": "投诉"}


@pytest.fixture
def o311(demo_settings, demo_reports, tmp_path):
    settings, store = copy_demo(demo_settings, tmp_path)
    app = create_app(settings.with_overrides(base_map="blank"), store)
    yield app, store
    store.close()


@pytest.fixture
def client(o311):
    return o311[0].test_client()


@pytest.fixture
def store(o311):
    return o311[1]


@pytest.fixture
def submit_key(store):
    return create_token(store, "wechat-app", ["open311_submit"])[0]


@pytest.fixture
def reader(store):
    """Headers of a machine client that may pull masked requests (Open311 GETs need a token or a session)."""
    return {"Authorization": f"Bearer {create_token(store, 'city-app', ['requests_masked'])[0]}"}


@pytest.fixture
def staff(o311):
    """A secretary's session on the same app, for the map's own API."""
    app, store = o311
    create_user(store, "sec", "secretary", password=PASSWORD)
    return log_in(app, "sec")


def _errors(resp, fmt="json"):
    if fmt == "xml":
        root = ET.fromstring(resp.data)
        assert root.tag == "errors"
        return [{"code": int(e.find("code").text), "description": e.find("description").text} for e in root]
    return resp.json


# -- documents --------------------------------------------------------------------------------------------

def test_discovery_services_and_definition_in_json_and_xml(client):
    d = client.get(f"{BASE}/discovery.json")
    assert d.status_code == 200 and d.mimetype == "application/json"
    assert d.json["endpoints"][0]["url"] == "http://localhost/open311/v2"
    x = client.get(f"{BASE}/discovery.xml")
    assert x.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>') and x.content_type.endswith("charset=utf-8")
    assert x.mimetype == "text/xml" and ET.fromstring(x.data).find("endpoints/endpoint/url").text.endswith("/v2")
    svc = client.get(f"{BASE}/services.json").json
    assert [s["service_code"] for s in svc][:3] == ["SAFE", "FAC", "PROP"]
    root = ET.fromstring(client.get(f"{BASE}/services.xml").data)
    assert [e.find("service_code").text for e in root.findall("service")] == [s["service_code"] for s in svc]
    definition = client.get(f"{BASE}/services/FAC.json").json
    assert definition["attributes"][0]["code"] == "request_type"
    root = ET.fromstring(client.get(f"{BASE}/services/FAC.xml").data)
    assert root.tag == "service_definition" and root.find("attributes/attribute/datatype").text == "singlevaluelist"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_service_path_and_format(client, fmt):
    r = client.get(f"{BASE}/services/NOPE.{fmt}")
    assert r.status_code == 404 and "NOPE" in _errors(r, fmt)[0]["description"] and _errors(r, fmt)[0]["code"] == 404
    r = client.get(f"{BASE}/whatever.{fmt}")
    assert r.status_code == 404 and _errors(r, fmt)[0]["code"] == 404
    r = client.put(f"{BASE}/requests.{fmt}")  # the spec: 400 for every error but 403 and 404
    assert r.status_code == 400 and _errors(r, fmt)[0]["code"] == 400 and "PUT" in _errors(r, fmt)[0]["description"]
    r = client.get(f"{BASE}/services.csv")
    assert r.status_code == 400 and "format" in r.json[0]["description"]


# -- POST -------------------------------------------------------------------------------------------------

def test_a_post_round_trips_into_the_map(client, store, submit_key, staff, reader):
    cell = format(int(grid.latlng_to_cells([POINT[1]], [POINT[0]], 10)[0]), "x")

    def cell_count() -> int:
        cells = staff.get("/api/cells?res=10").json["cells"]
        return next((c["n"] for c in cells if c["h3"] == cell), 0)

    before, n_before = cell_count(), store.count_requests()
    r = client.post(f"{BASE}/requests.json", data={**LAMP, "api_key": submit_key})
    assert r.status_code == 200, r.data
    rid = r.json[0]["service_request_id"]
    assert rid.startswith("open311:") and "service_notice" in r.json[0]
    assert store.count_requests() == n_before + 1
    newest = staff.get("/api/requests?limit=1").json["requests"][0]
    assert newest["id"] == rid and newest["category"] == "FAC" and newest["source"] == "open311"
    assert cell_count() == before + 1
    one = client.get(f"{BASE}/requests/{rid}.json", headers=reader).json[0]
    assert one["status"] == "open" and one["service_code"] == "FAC" and one["requested_datetime"].endswith("+08:00")
    key = {"api_key": submit_key}  # the submitting client may look its token up
    assert client.get(f"{BASE}/tokens/{rid}.json", query_string=key).json == [{"service_request_id": rid, "token": rid}]
    assert client.get(f"{BASE}/tokens/nope.json", query_string=key).status_code == 404
    # XML answer with the spec's element names; a Bearer header works as well as api_key
    x = client.post(f"{BASE}/requests.xml", headers={"Authorization": f"Bearer {submit_key}"},
                    data={**LAMP, "description": "楼道灯也坏了", "address_string": "锦城花园3栋"})
    assert x.status_code == 200 and x.mimetype == "text/xml"
    assert ET.fromstring(x.data).find("request/service_request_id").text.startswith("open311:")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_without_or_with_a_bad_api_key_is_403(client, store, fmt):
    n = store.count_requests()
    r = client.post(f"{BASE}/requests.{fmt}", data=LAMP)
    err = _errors(r, fmt)
    assert r.status_code == 403 and err[0]["code"] == 403 and "api_key" in err[0]["description"]
    r = client.post(f"{BASE}/requests.{fmt}", data={**LAMP, "api_key": "ggt_not-a-token"})
    assert r.status_code == 403 and "not valid" in _errors(r, fmt)[0]["description"]
    assert store.count_requests() == n


def test_wrong_scope_revoked_and_expired_keys_are_refused(client, store):
    n = store.count_requests()
    agg = create_token(store, "city-gis", ["aggregates"])[0]
    r = client.post(f"{BASE}/requests.json", data={**LAMP, "api_key": agg})
    assert r.status_code == 403 and "open311_submit" in r.json[0]["description"]
    gone = create_token(store, "old-app", ["open311_submit"])[0]
    assert client.post(f"{BASE}/requests.json", data={**LAMP, "api_key": gone}).status_code == 200
    revoke_token(store, "old-app")
    r = client.post(f"{BASE}/requests.json", data={**LAMP, "description": "又坏了", "api_key": gone})
    assert r.status_code == 403 and "revoked" in r.json[0]["description"]
    stale = create_token(store, "trial", ["open311_submit"], expires_days=1, now=int(time.time()) - 2 * 86_400)[0]
    r = client.post(f"{BASE}/requests.json", data={**LAMP, "description": "还是坏的", "api_key": stale})
    assert r.status_code == 403 and "expired" in r.json[0]["description"]
    assert store.count_requests() == n + 1


@pytest.mark.parametrize(("change", "status", "named"), [
    ({"lat": None, "long": None}, 400, "address_string"),
    ({"service_code": None}, 400, "service_code"),
    ({"service_code": "NOPE"}, 404, "service_code"),
    ({"lat": "30.9"}, 400, "long"),
    ({"description": None}, 400, "description"),
    ({"attribute[request_type]": "抱怨"}, 400, "attribute[request_type]"),
])
def test_bad_posts_get_the_spec_status_and_store_nothing(client, store, submit_key, change, status, named):
    data = {k: v for k, v in {**LAMP, **change, "api_key": submit_key}.items() if v is not None}
    before = (store.count_requests(), len(store.batches()))
    r = client.post(f"{BASE}/requests.json", data=data)
    assert r.status_code == status and r.json[0]["code"] == status
    assert named in r.json[0]["description"]
    assert (store.count_requests(), len(store.batches())) == before


# -- GET requests -----------------------------------------------------------------------------------------

OCT = "start_date=2026-10-01T00:00:00%2B08:00&end_date=2026-10-31T23:59:59%2B08:00"


def test_get_requests_filters_and_errors(client, reader):
    docs = client.get(f"{BASE}/requests.json?{OCT}", headers=reader).json
    assert len(docs) > 100 and all(d["requested_datetime"].startswith("2026-10") for d in docs)
    park = client.get(f"{BASE}/requests.json?{OCT}&service_code=PARK&status=open", headers=reader).json
    assert park and {(d["service_code"], d["status"]) for d in park} == {("PARK", "open")}
    root = ET.fromstring(client.get(f"{BASE}/requests.xml?{OCT}&service_code=PARK&status=open", headers=reader).data)
    assert root.tag == "service_requests" and len(root.findall("request")) == len(park)
    one = docs[0]["service_request_id"]
    assert client.get(f"{BASE}/requests/{one}.xml", headers=reader).status_code == 200
    r = client.get(f"{BASE}/requests.json?start_date=2026-01-01&end_date=2026-10-01", headers=reader)
    assert r.status_code == 400 and "90" in r.json[0]["description"]
    r = client.get(f"{BASE}/requests.json?status=pending", headers=reader)
    assert r.status_code == 400 and "status" in r.json[0]["description"]
    r = client.get(f"{BASE}/requests/12345:nope.json", headers=reader)
    assert r.status_code == 404 and r.json[0]["code"] == 404
    # personal data: reading needs a token (or a session), unlike the spec's open default
    r = client.get(f"{BASE}/requests.json?{OCT}")
    assert r.status_code == 403 and r.json[0]["code"] == 403 and "api_key" in r.json[0]["description"]
    r = client.get(f"{BASE}/requests.json?api_key=ggt_wrong")  # a key on a GET must be a valid one
    assert r.status_code == 403


def test_no_reporter_data_leaves_through_any_get(client, store, submit_key, reader):
    rid = client.post(f"{BASE}/requests.json", data={**LAMP, "api_key": submit_key}).json[0]["service_request_id"]
    bodies = [client.get(f"{BASE}/requests.{f}?{OCT}", headers=reader).get_data(as_text=True) for f in ("json", "xml")]
    bodies += [client.get(f"{BASE}/requests/{rid}.{f}", headers=reader).get_data(as_text=True) for f in ("json", "xml")]
    bodies += [client.get(f"{BASE}/requests.json", headers=reader).get_data(as_text=True)]
    text = "\n".join(bodies)
    assert rid in text and mask_name("王小明") in text  # the submitted request is there, its reporter masked
    for secret in ("王小明", "13912345678", "wxm@example.com", "reporter_name", "reporter_phone"):
        assert secret not in text
    phones = store.requests_frame(["reporter_phone"])["reporter_phone"].dropna().str.replace(r"\D", "", regex=True)
    digits = text.replace("-", "")
    assert not [p for p in phones.unique() if len(p) >= 7 and p in digits]


def test_every_pull_and_submission_is_audited_without_the_key(client, store, submit_key, reader):
    client.get(f"{BASE}/requests.json?{OCT}&service_code=ENV", headers=reader)
    rid = client.post(f"{BASE}/requests.json", data={**LAMP, "api_key": submit_key}).json[0]["service_request_id"]
    client.get(f"{BASE}/tokens/{rid}.json?api_key={submit_key}")
    client.get(f"{BASE}/services.json")  # a description of the interface, not data: not audited
    log = store.audit_frame()
    log = log[log["what"].str.startswith("open311.")].reset_index(drop=True)  # only this test's pulls
    assert list(log["what"]) == ["open311.token", "open311.submit", "open311.requests"]
    assert list(log["who"]) == ["wechat-app", "wechat-app", "city-app"]
    pull = json.loads(log["filters"].iloc[2])
    assert pull["service_code"] == "ENV" and pull["start_date"].startswith("2026-10-01")
    assert int(log["row_count"].iloc[2]) == len(client.get(f"{BASE}/requests.json?{OCT}&service_code=ENV",
                                                           headers=reader).json)
    assert json.loads(log["filters"].iloc[1]) == {"service_code": "FAC", "service_request_id": rid}
    assert submit_key not in " ".join(log["filters"])


# -- the scope guard on /api-style routes (JSON error shape, 401 vs 403) -----------------------------------

def test_require_scope_on_an_api_route(o311, store):
    app, _ = o311
    app.add_url_rule("/api/_scoped", "scoped", rule(PUBLIC)(require_scope("aggregates")(lambda: {"ok": True})))
    c = app.test_client()
    r = c.get("/api/_scoped")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert r.json["ok"] is False and r.json["field"] == "Authorization"
    r = c.get("/api/_scoped", headers={"Authorization": "Bearer ggt_nope"})
    assert r.status_code == 401 and "invalid_token" in r.headers["WWW-Authenticate"]
    submit = create_token(store, "poster", ["open311_submit"])[0]
    r = c.get("/api/_scoped", headers={"Authorization": f"Bearer {submit}"})
    assert r.status_code == 403 and r.json["code"] == "insufficient_scope"
    masked = create_token(store, "analyst", ["requests_masked"])[0]
    assert c.get("/api/_scoped", headers={"Authorization": f"Bearer {masked}"}).json == {"ok": True}
    assert c.get(f"/api/_scoped?api_key={masked}").status_code == 401  # api_key is Open311's, not ours
