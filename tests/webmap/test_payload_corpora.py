"""Attack payloads against every parameter of every route (issue 6, part 4): the CI form.

tests/webmap/corpora/attack_payloads.json holds XSS, SQL injection, path traversal, oversized values,
odd JSON values, raw bytes and malformed bodies. :mod:`tests.webmap.corpora.harness` turns the app's
URL map into targets (path parameters, the query parameters each route reads, the Authorization
header, JSON and form fields) and checks every answer: no 5xx; a 4xx in the error shape of its part
of the site, a 400 naming the parameter; no payload echoed raw in HTML, no off-site redirect; no SQL
error text, stack trace, secret or (to anonymous callers) reporter data in a body; and nothing in the
database changed by a refused request.

Here each parameter gets a deterministic sample: six payloads, one of each family, shared out between
an admin session with the CSRF header (3), an admin-scope API token (1) and an anonymous caller (2);
the Authorization header is attacked as anonymous only (a session or token would win over it), and
the three slow routes (login hashes a password, Open311 stores a request, candidates take ~1 s) get
one payload per caller. The whole product runs in ``bench/attack.py``. Malformed bodies and uploads
over MAX_CONTENT_LENGTH go to every route with a body. Each server error the corpora (or schemathesis)
found has a regression test in test_inputs.py, which runs on PostgreSQL too (several were PostgreSQL's).
"""

from __future__ import annotations

import pytest

from .conftest import GRID_A, AuthClient, log_in
from .corpora import harness as H

pytestmark = pytest.mark.sqlite_only  # the web layer itself: once, on SQLite

CORPUS = H.load_corpus()
# caller → how many of the six families each parameter gets from it (together: every family once)
SHARES = {"admin": 3, "admin_token": 1, "anonymous": 2}
SLOW = {"POST /login": 1, "POST /open311/v2/requests.<fmt>": 1, "GET /api/projects": 1}  # per caller at most


def families_for(caller: str, key: str) -> tuple[str, ...]:
    """The families ``caller`` sends to parameter ``key``: a rotation that starts at a place fixed by the key."""
    order = H.FAMILIES
    start = sum(key.encode()) % len(order)
    offset = {"admin": 0, "admin_token": SHARES["admin"], "anonymous": SHARES["admin"] + SHARES["admin_token"]}
    n = SHARES[caller]
    return tuple(order[(start + offset[caller] + i) % len(order)] for i in range(n))


@pytest.fixture
def attack(app, web_store):
    world = H.make_world(app, web_store, GRID_A[0])
    clients = H.make_clients(app, AuthClient, log_in)
    return H.Attack(app, web_store, world, clients, secrets=(app.config["SECRET_KEY"], world.admin_token))


def _report(attack: H.Attack) -> str:
    return f"{attack.summary()}\n" + "\n".join(str(f) for f in attack.findings[:40])


def test_corpus_has_every_family():
    assert all(len(CORPUS.payloads[f]) >= 8 for f in H.FAMILIES)
    assert len(CORPUS.bodies) >= 30
    kinds = {p.kind for p in CORPUS.all()}
    assert kinds == {"str", "bytes", "json", "nest"}
    assert max(len(p.text()) for p in CORPUS.payloads["oversized"]) >= 1_000_000


def test_the_checks_catch_what_they_look_for(app, web_store):
    """The harness is not vacuous: each check fires on an answer that has the fault."""
    def answer(body: str, status: int = 400, media: str = "text/html"):
        return app.response_class(body, status=status, mimetype=media)

    assert H.html_problem(answer("<p><script>alert(1)</script></p>"), "<script>alert(1)</script>", "")
    assert H.html_problem(answer('<a href="javascript:alert(1)">x</a>'), "javascript:alert(1)", "")
    assert not H.html_problem(answer("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"), "<script>alert(1)</script>", "")
    assert H.redirect_problem(app.response_class(status=303, headers={"Location": "//evil.example/"}))
    leaks = H.leak_problems(answer('Traceback (most recent call last):\n  File "x.py", line 1\nsqlite3.Operational'
                                   "Error: near \"x\": syntax error 张三丰"), "x", (), pii=True)
    assert {"stack trace", "SQL error", "reporter data 张三丰"} <= set(leaks)
    assert H.error_shape_problem(answer("<h1>400</h1>"), "/api/cells")
    assert H.error_shape_problem(answer('{"error": "x"}', media="application/json"), "/ogc/collections")
    assert not H.error_shape_problem(answer('{"ok": false, "status": 400, "code": "c", "error": "e", "field": "res"}',
                                            media="application/json"), "/api/cells")
    wrong = answer('{"ok": false, "status": 400, "code": "c", "error": "bad", "field": "bbox"}',
                   media="application/json")
    assert not H.names_parameter(wrong, H.Param("res", "query"))
    before = H.state_digest(web_store)
    web_store.insert_zone(H._zone_record(app, "改变"))
    assert H.state_digest(web_store) != before


def test_every_route_and_parameter_is_a_target(app, attack):
    targets = H.build_targets(app, attack.world)
    assert H.uncovered(app, targets) == []
    by_key = {t.key: t for t in targets}
    # the /api query parameters and body fields come from the OpenAPI document: spot-check a few
    names = {(p.where, p.name) for p in by_key["GET /api/cells"].params}
    assert {("query", "res"), ("query", "bbox"), ("query", "zone"), ("header", "Authorization")} <= names
    assert ("json", "geometry") in {(p.where, p.name) for p in by_key["POST /api/zones"].params}
    assert ("path", "name") in {(p.where, p.name) for p in by_key["GET /api/export/<name>"].params}
    ogc = by_key["GET /ogc/collections/<cid>/items [requests]"]
    assert {("query", "datetime"), ("query", "category")} <= {(p.where, p.name) for p in ogc.params}
    assert ("form", "description") in {(p.where, p.name) for p in by_key["POST /open311/v2/requests.<fmt>"].params}
    # every family reaches every parameter once over the three callers
    assert sorted(f for c in SHARES for f in families_for(c, "x")) == sorted(H.FAMILIES)


@pytest.mark.parametrize("caller", list(SHARES))
def test_payloads_in_every_parameter(app, attack, caller):
    for t in H.build_targets(app, attack.world):
        for param in t.params_for(caller):
            key = f"{t.key}|{param.where}:{param.name}"
            payloads = [CORPUS.sample(f"{caller}|{key}", 1, (fam,))[0] for fam in families_for(caller, key)]
            attack.run(caller, t, param, payloads[: SLOW.get(t.key, len(payloads))])
    assert attack.sent[caller] > 300
    assert not attack.findings, _report(attack)


# werkzeug leaves the spooled file of a truncated multipart upload to the garbage collector
@pytest.mark.filterwarnings("ignore:Exception ignored in. <function SpooledTemporaryFile.__del__"
                            ":pytest.PytestUnraisableExceptionWarning")
def test_malformed_bodies(app, attack):
    """Truncated JSON, wrong types, duplicated keys, NaN, non-UTF-8 bytes, wrong content types, deep nesting:
    a 4xx in the route's error shape (or a normal answer where the body is ignored), the database as it was."""
    for t in H.build_targets(app, attack.world):
        if t.body is None:
            continue
        for caller in ("admin",):  # (Open311's POST takes the admin's token: sessions are refused there)
            before = H.state_digest(attack.store)
            for body in CORPUS.bodies:
                resp = attack.send_raw(caller, t, body.data, body.content_type)
                attack.check(caller, t, H.Param("body", "body"), body, resp, (0, ""))
                after = H.state_digest(attack.store)
                if resp.status_code >= 400 and after != before:
                    attack.record("state_change", caller, t, "body", body.label, resp, "a refused body changed it")
                before = after
    assert not attack.findings, _report(attack)


@pytest.mark.parametrize("media", ["application/json", "application/x-www-form-urlencoded"])
def test_uploads_over_the_limit_get_413(app, attack, media):
    """A body over MAX_CONTENT_LENGTH is refused with 413 in the error shape before anything reads it,
    on every route with a body and on a GET alike, from any caller."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    data = b'{"name": "' + b"A" * limit + b'"}' if media == "application/json" else b"name=" + b"A" * (limit + 1)
    targets = [t for t in H.build_targets(app, attack.world) if t.body is not None or t.key == "GET /api/cells"]
    before = H.state_digest(attack.store)
    for t in targets:
        for caller in H.CALLERS:
            resp = attack.send_raw(caller, t, data, media)
            assert resp.status_code == 413, (caller, t.key, resp.status_code, resp.get_data()[:200])
            path = H.request_kwargs(t)["path"]
            assert H.error_shape_problem(resp, path) is None, (caller, t.key, resp.get_data()[:200])
    assert H.state_digest(attack.store) == before
