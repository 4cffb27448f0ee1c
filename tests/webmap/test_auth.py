"""Logging in and out, sessions, CSRF, throttling, tokens and grid scoping through the Flask client.

Bad input answers with the right status and a message that reveals nothing, and changes nothing.
"""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select

from gridgis import accounts, audit, tokens
from gridgis.storage.schema import zones as zones_t
from webmap import access, create_app

from .conftest import GRID_A, GRID_B, PASSWORD, AuthClient, log_in, make_settings

ZONE = {"name": "测试区", "priority": 3,
        "geometry": {"type": "Polygon", "coordinates": [[[104.05, 30.63], [104.055, 30.63], [104.055, 30.635],
                                                         [104.05, 30.635], [104.05, 30.63]]]}}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def n_zones(store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(zones_t)).scalar())


def form_login(c, username: str, password: str, next_: str = "/", **kw):
    """A real login: the form's CSRF token from GET /login, then the form POST."""
    token = _CSRF.search(c.get("/login", **kw).get_data(as_text=True)).group(1)
    return c.post("/login", data={"username": username, "password": password, "next": next_,
                                  "csrf_token": token}, **kw)


def request_in(store, grid_code: str) -> str:
    df = store.requests_frame(["id", "grid_code"])
    return df.loc[df["grid_code"] == grid_code, "id"].iloc[0]


# -- logging in and out ---------------------------------------------------------------------------------------

def test_a_page_sends_anonymous_users_to_the_login_form_and_back(anon):
    r = anon.get("/?lang=en")
    assert r.status_code == 302 and r.headers["Location"] == "/login?next=/%3Flang%3Den"
    page = anon.get(r.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="password"' in html and 'value="/?lang=en"' in html
    assert '<meta name="viewport"' in html and "登录 / Log in" in html
    r = form_login(anon, "sec", PASSWORD, "/?lang=en")
    assert r.status_code == 303 and r.headers["Location"] == "/?lang=en"
    assert anon.get("/?lang=en").status_code == 200
    me = anon.get("/api/me").json["me"]
    assert me["name"] == "sec" and me["role"] == "secretary" and "zones:write" in me["permissions"]


def test_the_session_cookie_is_httponly_lax_and_secure_on_https(app, web_store):
    r = form_login(app.test_client(), "viewer", PASSWORD)
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("gridgis_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert PASSWORD not in cookie and "Expires=" in cookie
    secure = AuthClient(app, app.response_class, use_cookies=True)
    # on HTTPS Flask-WTF also wants a same-site Referer (as browsers send it)
    r = form_login(secure, "viewer", PASSWORD, base_url="https://map.example.cn",
                   headers={"Referer": "https://map.example.cn/login"})
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("gridgis_session="))
    assert "Secure" in cookie


def test_wrong_password_is_401_with_one_message_and_no_session(anon, web_store):
    before = web_store.user_by_name("sec")
    for name, pw in (("sec", "not-the-password"), ("nobody", PASSWORD)):
        r = form_login(anon, name, pw)
        assert r.status_code == 401 and "用户名或密码错误 / wrong user name or password" in r.get_data(as_text=True)
        assert anon.get("/api/me").json["me"]["kind"] == "anonymous"
    after = web_store.user_by_name("sec")
    assert (after["last_login_at"], after["password_hash"]) == (before["last_login_at"], before["password_hash"])
    r = anon.post("/login", json={"username": "sec", "password": "nope-nope-nope"},
                  headers={"X-CSRFToken": anon.get("/api/me").json["me"]["csrf_token"]})
    assert r.status_code == 401 and r.json["code"] == "login_failed" and r.json["ok"] is False


def test_a_login_without_the_csrf_token_is_refused(anon):
    r = anon.post("/login", data={"username": "sec", "password": PASSWORD})
    assert r.status_code == 403 and r.json["code"] == "csrf_failed"
    assert "CSRF 令牌缺失或无效 / missing or invalid CSRF token" == r.json["error"]
    assert anon.get("/api/me").json["me"]["kind"] == "anonymous"


@pytest.mark.parametrize("target", ["//evil.example.com/x", "https://evil.example.com/", "/\\evil.example.com",
                                    "javascript:alert(1)", "evil.example.com", "/%0d%0aSet-Cookie:x=1" + "\r\n"])
def test_login_never_redirects_off_the_site(app, target):
    r = form_login(app.test_client(), "sec", PASSWORD, target)
    assert r.status_code == 303
    location = r.headers["Location"]
    assert location == "/" or (location.startswith("/") and not location.startswith("//")), location
    assert "evil" not in location or location.startswith("/%")


def test_too_many_failures_get_429_with_retry_after(anon, web_store):
    for _ in range(accounts.MAX_USER_FAILURES):
        assert form_login(anon, "gw", "wrong-password-1").status_code == 401
    r = form_login(anon, "gw", PASSWORD)  # the right password is not even checked now
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= accounts.WINDOW_S
    assert "too many failed logins" in r.get_data(as_text=True)
    assert anon.get("/api/me").json["me"]["kind"] == "anonymous"


def test_logout_needs_the_csrf_token_and_ends_the_session(client):
    r = client.post("/logout", headers={"X-CSRFToken": "forged"})
    assert r.status_code == 403 and client.get("/api/me").json["me"]["name"] == "sec"
    r = client.post("/logout")  # the client sends its real token
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    assert client.get("/api/me").json["me"]["kind"] == "anonymous"
    assert client.get("/api/summary").status_code == 401


# -- sessions that no longer hold -------------------------------------------------------------------------------

def test_an_expired_session_is_401_and_nothing_changes(app, web_store):
    c = log_in(app, "sec")
    with c.session_transaction() as sess:
        sess["iat"] = int(time.time()) - int(12.5 * 3600)  # session_hours = 12
    before = n_zones(web_store)
    r = c.post("/api/zones", json=ZONE)
    assert r.status_code == 401 and r.json["error"] == "会话已过期，请重新登录 / session expired, log in again"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert n_zones(web_store) == before
    c = log_in(app, "sec")
    with c.session_transaction() as sess:
        sess["iat"] = int(time.time()) - 13 * 3600
    r = c.get("/")
    assert r.status_code == 302 and "expired=1" in r.headers["Location"]


@pytest.mark.parametrize("action", ["disable", "reset"])
def test_disable_or_password_reset_ends_open_sessions(app, web_store, action):
    c = log_in(app, "sec")
    assert c.get("/api/summary").status_code == 200
    if action == "disable":
        accounts.disable_user(web_store, "sec")
    else:
        accounts.reset_password(web_store, "sec")
    before = n_zones(web_store)
    r = c.post("/api/zones", json=ZONE)
    assert r.status_code == 401 and "session expired" in r.json["error"]
    assert c.get("/api/summary").status_code == 401 and n_zones(web_store) == before


def test_the_secret_key_is_shared_by_every_app_on_the_database(app, web_settings, web_store):
    other = create_app(web_settings, web_store)  # a second server process on the same database
    assert other.config["SECRET_KEY"] == app.config["SECRET_KEY"] and len(app.config["SECRET_KEY"]) >= 32
    c = log_in(app, "viewer")
    cookie = c.get_cookie("gridgis_session").value
    c2 = other.test_client()
    c2.set_cookie("gridgis_session", cookie)
    assert c2.get("/api/me").json["me"]["name"] == "viewer"


# -- CSRF and tokens ---------------------------------------------------------------------------------------------

def test_a_session_post_without_the_csrf_token_is_refused_and_changes_nothing(client, web_store):
    before = n_zones(web_store)
    for headers in ({"X-CSRFToken": ""}, {"X-CSRFToken": "forged-token"}):
        r = client.post("/api/zones", json=ZONE, headers=headers)
        assert r.status_code == 403 and r.json["code"] == "csrf_failed" and r.json["field"] == "X-CSRFToken"
    zid = client.post("/api/zones", json=ZONE).json["id"]  # with the session's token
    assert n_zones(web_store) == before + 1
    r = client.delete(f"/api/zones/{zid}", headers={"X-CSRFToken": "forged-token"})
    assert r.status_code == 403 and client.get(f"/api/zones/{zid}").status_code == 200


def test_bearer_tokens_need_no_csrf_token_and_a_revoked_one_is_401(anon, web_store):
    secret, _ = tokens.create_token(web_store, "ops", ["admin"])
    auth = {"Authorization": f"Bearer {secret}"}
    assert anon.post("/api/zones", json=ZONE, headers=auth).status_code == 201
    tokens.revoke_token(web_store, "ops")
    before = n_zones(web_store)
    r = anon.post("/api/zones", json=ZONE, headers=auth)
    assert r.status_code == 401 and r.json["code"] == "not_authenticated" and "revoked" in r.json["error"]
    assert anon.get("/api/summary", headers=auth).status_code == 401 and n_zones(web_store) == before
    r = anon.get("/api/summary", headers={"Authorization": "Bearer ggt_made-up"})
    assert r.status_code == 401 and r.json["field"] == "Authorization"


# -- who sees what --------------------------------------------------------------------------------------------

def test_a_grid_worker_sees_own_grid_rows_and_another_grids_request_is_a_404(login_as, web_store):
    gw = login_as("gw")
    rows = gw.get("/api/requests?limit=1000").json["requests"]
    assert rows and {r["grid_code"] for r in rows} == {GRID_A[0]}
    pts = gw.get("/api/points?bbox=104.03,30.61,104.09,30.66&limit=10000").json["points"]
    assert pts and len(pts) == len(rows)
    mine, theirs = request_in(web_store, GRID_A[0]), request_in(web_store, GRID_B[0])
    assert gw.get(f"/api/requests/{mine}").status_code == 200
    other, missing = gw.get(f"/api/requests/{theirs}"), gw.get("/api/requests/t:nope")
    assert other.status_code == missing.status_code == 404
    assert {**other.json, "error": other.json["error"].replace(theirs, "ID")} == \
        {**missing.json, "error": missing.json["error"].replace("t:nope", "ID")}
    # and aggregates everywhere, unsuppressed (grid workers are staff)
    assert gw.get("/api/cells?res=9").json["count"] == login_as("sec").get("/api/cells?res=9").json["count"]


def test_viewers_get_aggregates_only_small_cells_left_out(login_as, web_settings):
    viewer, sec = login_as("viewer"), login_as("sec")
    for path in ("/api/requests", "/api/requests/t:0", "/api/points?bbox=104.05,30.63,104.06,30.64",
                 "/api/batches", "/api/export/requests.csv"):
        r = viewer.get(path)
        assert r.status_code == 403 and r.json["error"] == access.NO_PERMISSION, path
    k = web_settings.export_min_count_k
    full = sec.get("/api/cells?res=10").json
    seen = viewer.get("/api/cells?res=10").json
    assert {c["h3"] for c in seen["cells"]} == {c["h3"] for c in full["cells"] if c["n"] >= k}
    assert seen["suppressed"] == sum(c["n"] < k for c in full["cells"]) > 0
    small = next(c["h3"] for c in full["cells"] if c["n"] < k)
    cell = viewer.get(f"/api/cells/{small}").json
    assert cell["n"] is None and cell["suppressed"] is True
    assert sec.get(f"/api/cells/{small}").json["n"] >= 1
    html = viewer.get("/overview").get_data(as_text=True)
    assert "test.csv" not in html and "test.csv" in sec.get("/overview").get_data(as_text=True)


def test_an_etag_is_never_shared_between_callers(login_as):
    sec, gw = login_as("sec"), login_as("gw")
    etag = sec.get("/api/requests?limit=5").headers["ETag"]
    assert sec.get("/api/requests?limit=5", headers={"If-None-Match": etag}).status_code == 304
    assert gw.get("/api/requests?limit=5", headers={"If-None-Match": etag}).status_code == 200


def test_public_aggregates_open_the_map_but_not_the_rows(web_settings, web_store):
    wall = create_app(web_settings.with_overrides(public_aggregates=True), web_store).test_client()
    assert wall.get("/").status_code == 200 and wall.get("/api/cells?res=9").status_code == 200
    assert wall.get("/api/requests").status_code == 401 and wall.get("/api/export/cells.csv").status_code == 401
    assert wall.post("/api/zones", json=ZONE).status_code == 401


def test_exports_and_open311_pulls_are_audited_by_user_name(client, web_store):
    assert client.get("/api/export/zones.geojson").status_code == 200
    assert audit.records(web_store, what="export.zones", limit=1).iloc[0]["who"] == "sec"
    assert client.get("/open311/v2/requests.json").status_code == 200
    assert audit.records(web_store, what="open311.requests", limit=1).iloc[0]["who"] == "sec"


def test_a_route_without_a_rule_cannot_ship(app):
    app.add_url_rule("/api/_unruled", "unruled", lambda: {"ok": True})
    with pytest.raises(RuntimeError, match="unruled"):
        access.check_rules(app)
    # and if one slipped in after start-up, it is refused rather than served
    assert log_in(app, "admin").get("/api/_unruled").status_code == 403


def test_the_map_page_carries_the_csrf_token_and_the_user(login_as):
    html = login_as("gw").get("/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', html).group(1)
    assert token and '"name": "gw"' in html and '"role": "grid_worker"' in html
    assert "zones:write" not in html and '"logout_url": "/logout"' in html


def test_settings_name_the_field_when_wrong(tmp_path):
    from gridgis.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        make_settings(tmp_path / "x.sqlite3", session_cookie_secure="sometimes")
    assert err.value.field == "session_cookie_secure"
    with pytest.raises(ConfigError) as err:
        make_settings(tmp_path / "x.sqlite3", session_hours=0)
    assert err.value.field == "session_hours"
