"""The authorisation matrix: every route × method of the app against every role, both token kinds and anonymous.

:data:`EXPECTED` says who may call each route and what they then get; everyone else must be refused —
anonymous callers with 401 (a redirect to /login on pages, the spec's 403 on Open311), authenticated ones
with 403. A route missing from the table fails the test, so no route ships without a decision.
Route parameters are real ids from the fixture database (a request of grid A, where the grid worker
serves; a saved zone; a real cell); unsafe methods send bodies that fail validation, so the allowed
callers get a 400 and nothing changes (DELETE removes a zone made for that call).
"""

from __future__ import annotations

import re

import pytest

from gridgis import tokens
from webmap import access

from .conftest import GRID_A, log_in

pytestmark = pytest.mark.sqlite_only  # the web layer itself: once, on SQLite

ANON, VIEWER, GW, SEC, ADMIN = "anonymous", "viewer", "gw", "sec", "admin"
T_AGG, T_MASKED, T_SUBMIT = "token:aggregates", "token:requests_masked", "token:open311_submit"
CALLERS = (ANON, VIEWER, GW, SEC, ADMIN, T_AGG, T_MASKED, T_SUBMIT)
USERS = {VIEWER, GW, SEC, ADMIN}
ALL = set(CALLERS)
AGG = USERS | {T_AGG, T_MASKED}  # aggregates:read, zones:read, export:aggregates
ROWS = {GW, SEC, ADMIN, T_MASKED}  # requests:read
STATUS = {GW, SEC, ADMIN}  # requests:status
STAFF = {SEC, ADMIN}  # zones:write, imports:read
BULK = {SEC, ADMIN, T_MASKED}  # export:requests

# (method, rule) → (who may, what they get: a status, or caller → status)
EXPECTED: dict[tuple[str, str], tuple[set[str], int | dict[str, int]]] = {
    ("GET", "/static/<path:filename>"): (ALL, 200),
    ("GET", "/"): (USERS, 200),
    ("GET", "/overview"): (USERS, 200),
    ("GET", "/login"): (ALL, 200),
    ("POST", "/login"): (ALL - {T_AGG, T_MASKED, T_SUBMIT}, 401),  # a wrong password; tokens have no CSRF token
    ("POST", "/logout"): (ALL, 200),  # JSON asked, JSON answered (a form post gets 303 to /login)
    ("GET", "/api/me"): (ALL, 200),
    ("GET", "/api/openapi.json"): (ALL, 200),
    ("GET", "/api/summary"): (AGG, 200),
    ("GET", "/api/categories"): (AGG, 200),
    ("GET", "/api/grids"): (AGG, 200),
    ("GET", "/api/batches"): (STAFF, 200),
    ("GET", "/api/requests"): (ROWS, 200),
    ("GET", "/api/requests/<path:request_id>"): (ROWS, 200),
    ("GET", "/api/points"): (ROWS, 200),
    ("POST", "/api/requests/<path:request_id>/status"): (STATUS, 400),
    ("GET", "/api/requests/<path:request_id>/history"): (ROWS, 200),
    ("GET", "/api/cells"): (AGG, 200),
    ("GET", "/api/cells/<h3>"): (AGG, 200),
    ("GET", "/api/hotspots"): (AGG, 200),
    ("GET", "/api/stats"): (AGG, 200),
    ("GET", "/api/projects"): (AGG, 200),
    ("GET", "/api/zones"): (AGG, 200),
    ("POST", "/api/zones"): (STAFF, 400),
    ("GET", "/api/zones/<int:zone_id>"): (AGG, 200),
    ("PUT", "/api/zones/<int:zone_id>"): (STAFF, 400),
    ("PATCH", "/api/zones/<int:zone_id>"): (STAFF, 400),
    ("DELETE", "/api/zones/<int:zone_id>"): (STAFF, 200),
    ("GET", "/api/zones/<int:zone_id>/stats"): (AGG, 200),
    ("GET", "/api/zones/<int:zone_id>/history"): (AGG, 200),
    ("GET", "/api/export/<name>"): (AGG, 200),
    ("GET", "/ogc"): (ALL, 200),
    ("GET", "/ogc/"): (ALL, 200),
    ("GET", "/ogc/conformance"): (ALL, 200),
    ("GET", "/ogc/api"): (ALL, 200),
    ("GET", "/ogc/collections"): (ALL, 200),
    ("GET", "/ogc/collections/<cid>"): (ALL, 200),
    ("GET", "/ogc/collections/<cid>/items"): (AGG, 200),
    ("GET", "/ogc/collections/<cid>/items/<path:fid>"): (AGG, 200),
    ("GET", "/open311/v2/discovery.<fmt>"): (ALL, 200),
    ("GET", "/open311/v2/services.<fmt>"): (ALL, 200),
    ("GET", "/open311/v2/services/<path:name>"): (ALL, 200),
    ("GET", "/open311/v2/requests.<fmt>"): (BULK, 200),
    # no service_code: nothing is stored. An admin's session is refused too: submissions come with an api_key.
    ("POST", "/open311/v2/requests.<fmt>"): ({T_SUBMIT}, 400),
    ("GET", "/open311/v2/requests/<path:name>"): (BULK, 200),
    ("GET", "/open311/v2/tokens/<path:name>"): (BULK | {T_SUBMIT}, 200),
    **{(m, r): (ALL, 404 if m in ("GET", "POST") else 400)
       for r in ("/open311/v2/", "/open311/v2/<path:rest>") for m in ("GET", "POST", "PUT", "PATCH", "DELETE")},
}

# Paths of another grid's rows and of request rows in bulk, beyond the route table (same callers' rules).
EXTRA: list[tuple[str, str, set[str], int]] = [
    ("GET", "/ogc/collections/requests/items", BULK, 200),
    ("GET", "/api/export/requests.csv", BULK, 200),
]


def refused_status(who: str, path: str) -> int:
    if who != ANON:
        return 403
    if path.startswith("/open311"):
        return 403  # the spec answers a missing api_key with 403
    if path.startswith(("/api", "/ogc")):
        return 401
    return 302  # pages send the browser to /login


@pytest.fixture
def world(app, web_store):
    """Callers and real ids: a request of grid A, a saved zone, a cell with requests."""
    secrets = {T_AGG: ["aggregates"], T_MASKED: ["requests_masked"], T_SUBMIT: ["open311_submit"]}
    headers = {who: {"Authorization": f"Bearer {tokens.create_token(web_store, who.split(':')[1], s)[0]}"}
               for who, s in secrets.items()}
    sec = log_in(app, SEC)
    zone = {"name": "矩阵测试", "geometry": {"type": "Polygon", "coordinates": [[[104.05, 30.63], [104.055, 30.63],
                                                                              [104.055, 30.635], [104.05, 30.63]]]}}
    zone_id = sec.post("/api/zones", json=zone).json["id"]
    df = web_store.requests_frame(["id", "grid_code", "cell_9"])
    request_id = df.loc[df["grid_code"] == GRID_A[0], "id"].iloc[0]
    cell = format(int(df["cell_9"].iloc[0]), "x")

    def client(who: str):
        if who in USERS:
            return log_in(app, who), {}
        c = log_in.__globals__["AuthClient"](app, app.response_class, use_cookies=True)
        if who == ANON:  # the session's CSRF token without a login: refusals are about rights, not CSRF
            c.csrf_token = c.get("/api/me").json["me"]["csrf_token"]
            return c, {}
        return c, headers[who]

    values = {"filename": "gridgis.css", "request_id": request_id, "h3": cell, "zone_id": zone_id,
              "name": None, "cid": "grids", "fid": GRID_A[0], "fmt": "json", "rest": "nothing-here"}

    def url(method: str, rule: str) -> str:
        v = dict(values)
        if rule == "/api/export/<name>":
            v["name"] = "cells.csv"
        elif rule.startswith("/open311/v2/services/"):
            v["name"] = "FAC.json"
        elif rule.startswith("/open311/v2/"):
            v["name"] = f"{request_id}.json"
        if method == "DELETE" and "zone_id" in rule:
            v["zone_id"] = sec.post("/api/zones", json=zone).json["id"]  # one zone per deletion
        path = re.sub(r"<(?:[a-z]+:)?([a-z_0-9]+)>", lambda m: str(v[m.group(1)]), rule)
        query = {"/api/points": "?bbox=104.03,30.61,104.09,30.66", "/api/cells": "?res=9",
                 "/api/hotspots": "?res=9"}.get(rule, "")
        return path + query

    return client, url


def _call(client, headers, method: str, path: str, who: str):
    body = {"POST": {}, "PUT": {}, "PATCH": {"priority": 99}}.get(method)
    kwargs = {"headers": headers}
    if path == "/login":
        kwargs["json"] = {"username": f"nobody-{who}", "password": "not-a-password"}
    elif path.startswith("/open311/v2/requests") and method == "POST":
        kwargs["data"] = {"description": "缺少类别"}
    elif body is not None:
        kwargs["json"] = body
    return client.open(path, method=method, **kwargs)


def test_every_route_and_method_against_every_caller(app, world):
    client_for, url = world
    routes = sorted({(m, r.rule) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}})
    missing = [k for k in routes if k not in EXPECTED]
    assert not missing, f"routes without an expected row (decide who may call them): {missing}"
    stale = sorted(set(EXPECTED) - set(routes))
    assert not stale, f"rows for routes the app does not have: {stale}"
    wrong = []
    for method, rule in routes:
        allowed, ok = EXPECTED[(method, rule)]
        for who in CALLERS:
            c, headers = client_for(who)
            path = url(method, rule)
            r = _call(c, headers, method, path, who)
            r.close()  # streamed bodies (static files, exports) hold a file open
            want = (ok[who] if isinstance(ok, dict) else ok) if who in allowed else refused_status(who, path)
            if r.status_code != want:
                wrong.append(f"{method} {path} as {who}: {r.status_code}, expected {want}")
            elif who in USERS - allowed and r.is_json:  # "no permission", and nothing about the data
                doc = r.json[0] if isinstance(r.json, list) else r.json  # Open311 errors are a list
                message = doc.get("error") or doc.get("description")
                if message != access.NO_PERMISSION and not path.startswith("/open311"):  # Open311: api_key
                    wrong.append(f"{method} {path} as {who}: refused with {message!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("method", "path", "allowed", "ok"), EXTRA, ids=[e[1] for e in EXTRA])
def test_bulk_request_rows_need_the_export_permission(world, method, path, allowed, ok):
    client_for, _ = world
    for who in CALLERS:
        c, headers = client_for(who)
        r = c.open(path, method=method, headers=headers)
        r.close()
        assert r.status_code == (ok if who in allowed else refused_status(who, path)), (path, who)
