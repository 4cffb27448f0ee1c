"""POST /api/requests/<id>/status and GET /history on the real app: roles, grids, CSRF, errors, overdue fields,
and cached aggregates that follow a status change."""

from __future__ import annotations

import pytest

from gridgis import audit
from gridgis.tokens import create_token

from .conftest import GRID_A as _A
from .conftest import GRID_B as _B

GRID_A, GRID_B = _A[0], _B[0]  # the grid worker "gw" serves GRID_A


def pick(store, grid: str, status: str = "new") -> str:
    df = store.requests_frame(["id", "grid_code", "status"])
    return df[(df["grid_code"] == grid) & (df["status"] == status)]["id"].iloc[0]


def post(client, rid: str, body, **kw):
    return client.post(f"/api/requests/{rid}/status", json=body, **kw)


def test_secretary_moves_a_request_and_sees_its_history(client, web_store):  # client: the secretary "sec"
    rid = pick(web_store, GRID_B)
    r = post(client, rid, {"status": "assigned", "expected_status": "new"})
    assert r.status_code == 200, r.json
    body = r.json
    assert body["request"]["status"] == "assigned" and body["request"]["overdue"] is False
    assert body["request"]["due_at"] and body["request"]["status_changed_at"]
    assert (body["event"]["actor"], body["event"]["from_status"], body["event"]["to_status"]) == \
        ("sec", "new", "assigned")
    assert [a["value"] for a in body["allowed"]] == ["in_progress", "new", "invalid", "duplicate"]
    assert [a["note_required"] for a in body["allowed"]] == [False, True, True, True]
    # masked as in the lists the row replaces
    assert body["request"]["reporter_name"] != "张三丰" and body["request"]["reporter_phone"] == "138****5678"
    assert body["can_update"] is True
    h = client.get(f"/api/requests/{rid}/history").json
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in h["events"]] == [("new", "assigned", "sec")]
    assert h["status"] == "assigned" and h["events"][0]["at"].endswith("+08:00")
    assert client.get(f"/api/requests/{rid}").json["request"]["status"] == "assigned"
    log = audit.records(web_store, what="requests.status")
    assert log["who"].tolist() == ["sec"] and log.iloc[0]["filters"]["id"] == rid


def test_grid_worker_updates_own_grid_only_and_other_grids_look_missing(login_as, web_store):
    gw = login_as("gw")
    mine, other = pick(web_store, GRID_A), pick(web_store, GRID_B)
    r = post(gw, mine, {"status": "assigned"})
    assert r.status_code == 200, r.json
    r = post(gw, mine, {"status": "invalid", "note": "非本社区诉求"})
    assert r.status_code == 200 and r.json["event"]["note"] == "非本社区诉求"
    foreign = post(gw, other, {"status": "assigned"})
    missing = post(gw, "t:no-such", {"status": "assigned"})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json["error"].replace(other, "X") == missing.json["error"].replace("t:no-such", "X")
    assert gw.get(f"/api/requests/{other}/history").status_code == 404
    assert web_store.get_request(other)["status"] == "new"
    h = gw.get(f"/api/requests/{mine}/history").json
    assert [e["to_status"] for e in h["events"]] == ["assigned", "invalid"]
    assert [a["value"] for a in h["allowed"]] == ["new"]  # restore only


def test_viewer_403_anonymous_401_missing_csrf_403_and_nothing_changes(anon, login_as, web_store):
    rid = pick(web_store, GRID_A)
    r = post(anon, rid, {"status": "assigned"})
    assert r.status_code == 401 and r.json["ok"] is False
    assert anon.get(f"/api/requests/{rid}/history").status_code == 401
    viewer = login_as("viewer")
    r = post(viewer, rid, {"status": "assigned"})
    assert r.status_code == 403 and r.json["code"] == "permission_denied"
    assert viewer.get(f"/api/requests/{rid}/history").status_code == 403
    gw = login_as("gw")
    gw.csrf_token = None  # a page (or another site) posting without the session's token
    r = post(gw, rid, {"status": "assigned"})
    assert r.status_code == 403 and r.json["code"] == "csrf_failed"
    r = post(gw, rid, {"status": "assigned"}, headers={"X-CSRFToken": "not-the-token"})
    assert r.status_code == 403
    secret, _ = create_token(web_store, "gis", ["requests_masked"])  # machine clients never change statuses
    r = post(anon, rid, {"status": "assigned"}, headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 403
    assert web_store.get_request(rid)["status"] == "new" and web_store.request_events_frame().empty


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"status": "closed"}, 400, "invalid_input", "status"),
    ({"note": "x"}, 400, "invalid_input", "status"),
    ({"status": "assigned", "colour": "red"}, 400, "invalid_input", "colour"),
    (["assigned"], 400, "invalid_input", "body"),
    ({"status": "resolved"}, 409, "invalid_transition", "status"),
    ({"status": "new"}, 409, "invalid_transition", "status"),
    ({"status": "assigned", "expected_status": "in_progress"}, 409, "conflict", "expected_status"),
    ({"status": "duplicate"}, 400, "invalid_input", "note"),
    ({"status": "duplicate", "note": "长" * 501}, 400, "invalid_input", "note"),
])
def test_errors_have_the_json_shape_and_write_nothing(client, web_store, body, status, code, field):
    rid = pick(web_store, GRID_A)
    r = post(client, rid, body)
    assert r.status_code == status, r.json
    assert r.json["ok"] is False and r.json["code"] == code and r.json["field"] == field and r.json["error"]
    if code == "invalid_transition":
        assert r.json["allowed"] == ["assigned", "invalid", "duplicate"] and r.json["current"] == "new"
    assert web_store.get_request(rid)["status"] == "new" and web_store.request_events_frame().empty


def test_lists_carry_overdue_and_cached_aggregates_follow_a_status_change(client, web_store):
    rows = client.get("/api/requests?limit=50").json["requests"]
    assert all("overdue" in r and "due_at" in r for r in rows)
    # the test data are from the first half of 2026 and never touched: every open one is long overdue
    assert all(r["overdue"] for r in rows if r["status"] in ("new", "assigned", "in_progress", "resolved"))
    q = f"/api/stats?status=assigned&grid={GRID_A}"
    before = client.get(q)
    etag = before.headers["ETag"]
    assert client.get(q, headers={"If-None-Match": etag}).status_code == 304
    rid = pick(web_store, GRID_A)
    assert post(client, rid, {"status": "assigned"}).status_code == 200
    after = client.get(q, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.json["n"] == before.json["n"] + 1
    detail = client.get(f"/api/requests/{rid}").json["request"]
    assert detail["overdue"] is False and detail["status_changed_at"]
