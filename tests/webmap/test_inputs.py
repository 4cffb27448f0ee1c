"""webmap/inputs.py and the other fixes for what the attack corpora and schemathesis found: each server
error (or hang) they caused, as a regression test on SQLite and PostgreSQL (NUL characters and ids past
2**31 - 1 failed on PostgreSQL only). The corpora themselves are in test_payload_corpora.py.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from gridgis import tokens
from gridgis.privacy import truncate_addresses

from .corpora import harness as H


def test_overlong_h3_id_is_a_400(client):
    """5000 hex digits overflowed inside h3 (OverflowError, 500)."""
    resp = client.get("/api/cells/" + "1" * 5000)
    assert resp.status_code == 400 and resp.json["field"] == "h3"


@pytest.mark.parametrize("value", [float("inf"), "-Infinity", 10**400, "1e400"])
def test_infinite_or_huge_priority_is_a_400(client, value):
    """int(float(±inf)) and float(10**400) raise OverflowError: a 500 on POST/PUT/PATCH /api/zones."""
    resp = client.post("/api/zones", data=json.dumps({**H.zone_body(), "priority": value}),
                       content_type="application/json")
    assert resp.status_code == 400 and resp.json["field"] == "priority"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_zone_id_past_32_bits_is_a_404(client, method):
    """Ids are INTEGER columns (32 bits on PostgreSQL; SQLite's driver stops at 2**63): a larger id in the
    path was a 500 (a 503 "database unavailable" on PostgreSQL)."""
    for zone_id in (2**31, 2**63, 10**30):
        resp = client.open(f"/api/zones/{zone_id}", method=method, json={"priority": 2})
        assert resp.status_code == 404 and resp.json["field"] == "zone_id", (zone_id, resp.json)
    assert client.open(f"/api/zones/{2**31 - 1}", method=method, json={"priority": 2}).status_code == 404


def test_huge_ids_in_query_and_body_are_400s(client):
    """zone=2**31 (a filter) and a zone's version past 32 bits went to the database as they were."""
    resp = client.get(f"/api/requests?zone={2**31}")
    assert resp.status_code == 400 and resp.json["field"] == "zone"
    zone = client.post("/api/zones", json=H.zone_body()).json
    resp = client.patch(f"/api/zones/{zone['id']}", json={"priority": 2, "version": 2**31})
    assert resp.status_code == 400 and resp.json["field"] == "version"
    assert client.get(f"/api/zones/{zone['id']}").json["properties"]["priority"] == 3


def test_ogc_offset_past_the_driver_is_a_400(app, client):
    """offset=10**23 on the requests collection overflowed the database driver (500)."""
    resp = client.get("/ogc/collections/requests/items?offset=99999999999999999999999")
    assert resp.status_code == 400 and resp.json["field"] == "offset"
    assert client.get("/ogc/collections/requests/items?limit=99999999999999999999999").status_code == 200


@pytest.mark.parametrize("url", ["/api/projects?since=%EF%BC%91%EF%BC%92%EF%BC%93", "/api/hotspots?method=trend"
                                 "&until=9999-12-31", "/ogc/collections/projects/items?datetime=1900-01-01/.."])
def test_filter_times_far_from_the_data_are_400s(client, url):
    """Trends count every month between a filter's ends: since=１２３ (year 123) kept one request busy for
    minutes. Times before 2000 or more than a year ahead are refused naming the parameter."""
    resp = client.get(url)
    assert resp.status_code == 400, resp.get_data()[:300]
    assert resp.json["field"] in ("since", "until", "datetime")


@pytest.mark.parametrize("raw", [b'"\\ud800"', b'"\xed\xa0\x80"', b'"a\\u0000b"'])
def test_lone_surrogate_or_nul_in_json_is_a_400(client, web_store, raw):
    """A lone surrogate cannot be encoded for the database (UnicodeEncodeError, 500); PostgreSQL refuses
    NUL in text. Both are refused naming the JSON field, before anything is stored."""
    body = H._json_body(H.zone_body(), "name", H.Payload("values", 0, "bytes", raw[1:-1]))
    before = H.state_digest(web_store)
    resp = client.post("/api/zones", data=body, content_type="application/json")
    assert resp.status_code == 400 and resp.json["field"] == "name", resp.json
    assert H.state_digest(web_store) == before


def test_nul_in_query_or_path_is_a_400(client):
    """PostgreSQL refuses NUL in a bound text parameter (a 500 there)."""
    resp = client.get("/api/requests", query_string="category=PARK%00")
    assert resp.status_code == 400 and resp.json["field"] == "category"
    resp = client.get("/api/requests/t%3A1%00")
    assert resp.status_code == 400 and resp.json["field"] == "request_id"


def test_deeply_nested_json_is_a_400(app, anon):
    """json.loads raises RecursionError (not ValueError) past ~1000 levels: a 500 on POST /login."""
    anon_token = anon.get("/api/me").json["me"]["csrf_token"]
    resp = anon.post("/login", data=b'{"username": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                     content_type="application/json", headers={"X-CSRFToken": anon_token})
    assert resp.status_code == 400 and resp.json["field"] == "body"


@pytest.mark.timeout(120)
def test_long_open311_address_is_refused_and_addresses_are_cut_fast(app, web_store):
    """An Open311 POST stored a 1 M-character address_string, and cutting addresses for the OGC API
    backtracked quadratically on it: every requests page holding it hung (bench/attack.py found it)."""
    secret, _ = tokens.create_token(web_store, "long-fields", ["admin"])
    before = H.state_digest(web_store)
    resp = app.test_client().post("/open311/v2/requests.json", headers={"Authorization": f"Bearer {secret}"},
                                  data={"service_code": "FAC", "lat": "30.635", "long": "104.06",
                                        "address_string": "A" * 1_000_000})
    assert resp.status_code == 400 and "address_string" in resp.json[0]["description"]
    assert H.state_digest(web_store) == before
    out = truncate_addresses(pd.Series(["1" * 1_000_000, "A" * 1_000_000, "锦城花园5栋3单元501室"]))
    assert out.iloc[2] == "锦城花园5栋" and len(out.iloc[0]) <= 200 and len(out.iloc[1]) <= 200


def test_unmatched_api_urls_answer_json(anon):
    """/open311 and /ogc URLs no route matches (a newline in a path) got the HTML 404 page."""
    for path in ("/open311/v2/%0D%0Ax", "/ogc/%0Ax"):
        resp = anon.get(path)
        assert resp.status_code == 404 and resp.json["ok"] is False, path
